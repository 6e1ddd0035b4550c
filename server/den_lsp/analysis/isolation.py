"""Isolation and delivery rules (den-reference §3.3, §3.11, §4 A).

den builds a host from its class's content over the host's scope subtree.
An isolated kind's scopes are skipped by that walk (and by every
``collectSubtree`` route rooted above them), so a delivered child reaches the
host only through a route whose collection root is the child and whose
result is appended outside it.
"""

from __future__ import annotations

from typing import Iterator

from den_lsp.analysis.common import (
    field_value,
    finding,
    insert_fix,
    is_true,
    render_path,
    route_path,
    where,
)
from den_lsp.analysis.findings import Finding
from den_lsp.facts.types import UNKNOWN, Effect
from den_lsp.model.builtins import COMPOSE_KINDS, SYSTEM_CLASSES, is_delivery_slot
from den_lsp.model.model import Kind, Model, RouteInstance, route_collects_subtree


def check(model: Model) -> Iterator[Finding]:
    yield from _isolation_leak(model)
    yield from _isolated_fields(model)
    yield from _delivery_dropped(model)
    yield from _delivery_self_collect(model)
    yield from _append_to_parent_outside(model)
    yield from _delivery_not_verbatim(model)


def _delivers_system(effect: Effect) -> bool:
    """A route or deliver that hands a system class's content to a path."""
    if effect.family == "route":
        source = field_value(effect, "fromClass")
    elif effect.family == "deliver":
        source = field_value(effect, "from")
    else:
        return False
    path = route_path(effect)
    return source in SYSTEM_CLASSES and isinstance(path, tuple) and len(path) > 0


def _under_host(model: Model, kind: str) -> str | None:
    """The host-side kind whose scopes create ``kind`` via resolve.to, if any."""
    for edge in model.resolve_edges:
        if edge.target != kind:
            continue
        if _host_side(model, edge.source):
            return edge.source
    return None


def _resolve_call(effect: Effect, kind: str) -> str:
    """How the user wrote the resolve that creates ``kind``, briefly."""
    if ".to" in effect.constructor:
        return f'resolve.to "{kind}"'
    return f"resolve {{ {kind} = ...; }}"


def policy_label(policy) -> str:
    return f"policy `{policy.name}`" if policy.name else "an inline policy"


def _host_side(model: Model, kind: str) -> bool:
    return kind == "host" or "host" in model.parent_chain(kind)


def _first_site(kind: Kind):
    for site in kind.sites:
        if site.insertion is not None:
            return site
    return kind.sites[0] if kind.sites else None


def _isolation_leak(model: Model) -> Iterator[Finding]:
    for kind in model.kinds.values():
        if kind.builtin or kind.name in COMPOSE_KINDS or not kind.sites:
            continue
        if kind.isolated is not False or kind.is_entity is False:
            continue
        creator = _under_host(model, kind.name)
        if creator is None:
            continue
        delivery = next(
            (
                r
                for r in model.routes
                if r.fires_at == kind.name and _delivers_system(r.effect)
            ),
            None,
        )
        if delivery is None:
            continue
        edge = next(e for e in model.resolve_edges if e.target == kind.name)
        site = _first_site(kind)
        source_class = field_value(delivery.effect, "fromClass") or field_value(
            delivery.effect, "from"
        )
        message = (
            f"Kind `{kind.name}` is created under `{creator}` scopes "
            f"(`{_resolve_call(edge.effect, kind.name)}` at {where(edge.effect.span)}) "
            "and delivered "
            f"to `{render_path(route_path(delivery.effect))}` by the route at "
            f"{where(delivery.effect.span)}, but it is not isolated. den also "
            f"collects its `{source_class}` content into the {creator}'s own "
            f"configuration, so guest-only options break the {creator}'s build "
            "(e.g. \"option 'microvm.guest' does not exist\"). "
            f"Add `isolated = true;` to `den.schema.{kind.name}`."
        )
        yield finding(
            "den/isolation-leak",
            site.span,
            message,
            *insert_fix(
                f"Mark kind `{kind.name}` isolated",
                site.insertion,
                "isolated",
                "true",
                safe=True,
            ),
        )


def _isolated_fields(model: Model) -> Iterator[Finding]:
    for kind in model.kinds.values():
        for f in kind.values("isolated"):
            if f.value is not True:
                continue
            if kind.name in COMPOSE_KINDS:
                yield finding(
                    "den/isolated-compose-kind",
                    f.span,
                    f"`{kind.name}` is a compose kind: home-manager, hjem and maid "
                    "forwards and the user/os routes append their output at its "
                    "scopes for the host to collect. Isolating it drops "
                    "`home-manager.users.*`, `users.users.*` and all user-scope "
                    f"system content from every host. Remove `isolated = true` "
                    f"from `den.schema.{kind.name}`.",
                )
            elif kind.is_entity is False:
                site = _first_site(kind)
                yield finding(
                    "den/isolated-not-entity",
                    f.span,
                    f"Kind `{kind.name}` is isolated but not an entity: it has no "
                    "`isEntity = true` and no module content, so den never walks "
                    f"the aspect of a `{kind.name}` record, and a plain "
                    f"`resolve {{ {kind.name} = ...; }}` only enriches the current "
                    "scope. Add `isEntity = true;` if its records are systems of "
                    "their own.",
                    *insert_fix(
                        f"Make kind `{kind.name}` an entity",
                        site.insertion if site else None,
                        "isEntity",
                        "true",
                        safe=False,
                    ),
                )


def _decoupled(effect: Effect) -> bool | None:
    """Whether a route moves its result out of the scope it fires in.

    Either spelling counts, whatever the profile: den as shipped reads
    ``appendToParent``, the design reads ``collectScopeId``, and the rules
    for unknown fields report the one the profile lacks.
    """
    unknown = False
    for name in ("appendToParent", "collectScopeId"):
        f = effect.field(name)
        if f is None:
            continue
        if f.value is UNKNOWN:
            unknown = True
        elif name == "collectScopeId" or f.value is True:
            return True
    return None if unknown else False


def _carried_out(model: Model, route: RouteInstance) -> bool:
    """Whether another route at the same kind takes this one's result out.

    A helper route inside an isolated scope (say homeManager modules into
    ``home-manager.sharedModules``) appends to that scope on purpose: the
    scope's own delivery route, which collects its ``intoClass`` and appends
    to the parent, carries the result out.
    """
    into = field_value(route.effect, "intoClass")
    for other in model.routes:
        if other.effect is route.effect or other.fires_at != route.fires_at:
            continue
        if field_value(other.effect, "fromClass") == into and _decoupled(other.effect):
            return True
    return False


def _delivery_dropped(model: Model) -> Iterator[Finding]:
    seen: set[int] = set()
    for route in model.routes:
        effect = route.effect
        if id(effect) in seen or effect.family != "route":
            continue
        if model.is_isolated(route.fires_at) is not True:
            continue
        if (
            route_collects_subtree(effect) is not True
            or _decoupled(effect) is not False
        ):
            continue
        if not _delivers_system(effect) or _carried_out(model, route):
            continue
        seen.add(id(effect))
        kind = route.fires_at
        parent = ", ".join(sorted(model.parents(kind))) or "parent"
        if model.profile.decouple_field == "appendToParent":
            fix = insert_fix(
                "Append this route's result to the parent scope",
                effect.insertion,
                "appendToParent",
                "true",
                safe=True,
            )
            change = "Add `appendToParent = true;` so the result lands at the parent."
        else:
            fix = insert_fix(
                f"Collect from the `{kind}` scope with `collectScopeId`",
                effect.insertion,
                "collectScopeId",
                f'"{kind}"',
                safe=False,
            )
            change = f'Name the collection scope with `collectScopeId = "{kind}";`.'
        yield finding(
            "den/delivery-dropped",
            effect.span,
            f"This route fires inside isolated kind `{kind}` ({policy_label(route.policy)}) "
            "and collects its subtree, but "
            f"appends the result to the `{kind}` scope itself. The `{parent}` "
            "extraction skips isolated scopes, so the delivered content is "
            f"silently dropped. {change}",
            *fix,
        )


def _delivery_self_collect(model: Model) -> Iterator[Finding]:
    seen: set[int] = set()
    for route in model.routes:
        effect = route.effect
        if id(effect) in seen or effect.family != "route" or route.fires_at != "host":
            continue
        if route_collects_subtree(effect) is not True:
            continue
        source = field_value(effect, "fromClass")
        into = field_value(effect, "intoClass")
        path = route_path(effect)
        if source not in SYSTEM_CLASSES or into != source:
            continue
        if not isinstance(path, tuple) or not is_delivery_slot(path):
            continue
        if effect.field("collectScopeId") is not None:
            continue
        seen.add(id(effect))
        if model.profile.decouple_field == "collectScopeId":
            change = "Name the child's scope with `collectScopeId`."
        else:
            change = (
                "Move the route into the child kind's includes (or a "
                "`resolve.to.withIncludes` list) with `appendToParent = true;`."
            )
        yield finding(
            "den/delivery-self-collect",
            effect.span,
            f"This route fires at host scope and collects the host's whole "
            f"`{source}` subtree into `{render_path(path)}`: the host's own "
            "configuration becomes the child's, and an isolated child's content "
            f"is skipped. {change}",
        )


def _append_to_parent_outside(model: Model) -> Iterator[Finding]:
    if model.profile.decouple_field != "appendToParent":
        return  # the field itself is reported as unknown in other profiles
    by_effect: dict[int, list[RouteInstance]] = {}
    for route in model.routes:
        if route.effect.family == "route":
            by_effect.setdefault(id(route.effect), []).append(route)
    for instances in by_effect.values():
        effect = instances[0].effect
        policy = instances[0].policy
        f = effect.field("appendToParent")
        if f is None or not is_true(f.value):
            continue
        if policy.policy_id in model.fires_elsewhere:
            continue
        kinds = sorted({r.fires_at for r in instances})
        if any(model.is_isolated(k) is not False for k in kinds):
            continue
        if any(_host_side(model, p) for k in kinds for p in model.parents(k)):
            # Appending at a host-side parent is read by that host's
            # extraction, isolated or not.
            continue
        yield finding(
            "den/append-to-parent-outside-isolation",
            f.key_span,
            f"`appendToParent` moves this route's result to the parent scope, but "
            f"its policy fires only at {', '.join(f'`{k}`' for k in kinds)}, which "
            "is not isolated: the result lands where no host extraction reads it "
            "(or at the scope itself when it has no parent). Remove "
            "`appendToParent`, or fire the policy inside an isolated kind.",
        )


def _delivery_not_verbatim(model: Model) -> Iterator[Finding]:
    verbatim = model.profile.verbatim_field
    if verbatim is None:
        return
    seen: set[int] = set()
    effects = [r.effect for r in model.routes] + [
        e for p in model.policies.values() for e in p.effects
    ]
    for effect in effects:
        if id(effect) in seen:
            continue
        seen.add(id(effect))
        path = route_path(effect)
        if not isinstance(path, tuple) or not is_delivery_slot(path):
            continue
        if effect.family == "route":
            value = field_value(effect, verbatim)
            if value is True or value is UNKNOWN:
                continue
            fixes = insert_fix(
                "Hand the modules over unevaluated (`reinstantiate = true`)",
                effect.insertion,
                verbatim,
                "true",
                safe=False,
            )
            change = f"Add `{verbatim} = true;`."
        elif effect.family == "deliver" and model.profile.has_deliver:
            mode = field_value(effect, "mode")
            if mode == "verbatim" or mode is UNKNOWN:
                continue
            if effect.field("mode") is None:
                fixes = insert_fix(
                    'Deliver verbatim (`mode = "verbatim"`)',
                    effect.insertion,
                    "mode",
                    '"verbatim"',
                    safe=False,
                )
            else:
                fixes = ()
            change = 'Use `mode = "verbatim";`.'
        else:
            continue
        span = next(
            (f.key_span for n in ("path", "intoPath", "at") if (f := effect.field(n))),
            effect.span,
        )
        yield finding(
            "den/delivery-not-verbatim",
            span,
            f"`{render_path(path)}` instantiates its payload again, but this "
            f"{effect.family} pre-evaluates the modules: the guest's base modules "
            "are missing during that evaluation and identical declarations from "
            f"several scopes collide. {change}",
            *fixes,
        )
