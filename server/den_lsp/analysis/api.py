"""Removed and deprecated den API, by the active profile.

What a den generation removed or deprecated is data in the profile
(``removed_api``, ``deprecated_api``); a workspace that declares the name
itself (den's own source at the generation that had it) is left alone.
"""

from __future__ import annotations

from typing import Iterator

from den_lsp.analysis.aspects import aspect_label
from den_lsp.analysis.common import finding
from den_lsp.analysis.findings import Finding, Span
from den_lsp.model.aspects import first_key
from den_lsp.model.model import Model

GUEST_OS = "guest-os"
# These rules read no kind field and no kind (see ``aspects.KIND_FIELDS_READ``).
KIND_FIELDS_READ = frozenset()


def check(model: Model) -> Iterator[Finding]:
    removed = model.profile.removed_api - model.declared_api
    deprecated = model.profile.deprecated_api - model.declared_api
    seen: set[Span] = set()
    for use, span, detail in _uses(model):
        if span in seen:
            continue
        if use in removed:
            seen.add(span)
            yield finding("den/removed-api", span, _REMOVED[use](detail))
        elif use in deprecated:
            if use == "den.lib.take" and detail == "unused":
                continue  # take.unused is a plain helper; den does not warn
            seen.add(span)
            yield finding("den/deprecated-api", span, _DEPRECATED[use](detail))


def _uses(model: Model) -> Iterator[tuple[str, Span, str]]:
    reads_delivered = _reads_delivered_children(model)
    for use in model.api_uses:
        if use.api == "host.deliveredChildren" and reads_delivered:
            continue
        yield use.api, use.span, use.detail
    if GUEST_OS not in model.classes and not _collects_guest_os(model):
        yield from _guest_os(model)


def _reads_delivered_children(model: Model) -> bool:
    """Whether the workspace's own code reads a host's ``deliveredChildren``.

    A host accepts any attribute, so a policy of the workspace that reads
    ``host.deliveredChildren`` gives the attribute a meaning den no longer
    does: then setting it is not a mistake, and neither is reading it.
    """
    return any(
        ref.root != "den" and ref.path[:1] == ("deliveredChildren",)
        for ref in model.references
    )


def _collects_guest_os(model: Model) -> bool:
    """Whether some route or forward of the workspace collects class ``guest-os``.

    den still emits an unregistered class key, so a workspace route with
    ``fromClass = "guest-os"`` delivers that content: the class is then the
    workspace's own, not den's removed one.
    """
    effects = [e for p in model.policies.values() for e in p.effects]
    for effect in effects + model.loose_effects:
        for name in ("fromClass", "from"):
            f = effect.field(name)
            if f is not None and f.value == GUEST_OS:
                return True
    return any(f.from_class == GUEST_OS for f in model.forwards)


def _guest_os(model: Model) -> Iterator[tuple[str, Span, str]]:
    for key in model.aspect_keys:
        tree = ("ful",) if key.tree[0] == "ns" else key.tree
        if len(key.path) > first_key(tree) and key.path[-1] == GUEST_OS:
            yield GUEST_OS, key.span, aspect_label(key.tree, key.path[:-1])
    for policy in model.policies.values():
        for effect in policy.effects:
            for f in effect.fields:
                if f.value == GUEST_OS and f.name == "intoClass":
                    yield GUEST_OS, f.value_span, ""


def _guest_os_message(where: str) -> str:
    subject = f"`{GUEST_OS}` content on `{where}`" if where else f"Class `{GUEST_OS}`"
    return (
        f"{subject}: den no longer has the `{GUEST_OS}` class of its delivered-child "
        "design, so this is an unregistered class that nothing reads, and the "
        "guest gets none of it. Isolation replaced it: author the guest's content "
        "under `nixos`, mark the guest's kind `isolated = true`, and deliver it "
        "with a route that sets `appendToParent = true`."
    )


_REMOVED = {
    "den.stages": lambda _: (
        "`den.stages` was removed: den throws a migration error as soon as it is "
        "set. Write `den.stages.<kind>.includes` as `den.schema.<kind>.includes`."
    ),
    "den.deliveredChild": lambda _: (
        "`den.deliveredChild` was removed with den's delivered-child policy: the "
        'option no longer exists, so evaluation fails with "The option '
        '`den.deliveredChild` does not exist". Declare the guest as an isolated '
        "kind (`den.schema.<kind>.isolated = true`) that a host policy creates "
        "with `resolve.to.withIncludes`, delivered by a route with "
        "`appendToParent = true`."
    ),
    "host.deliveredChildren": lambda _: (
        "`deliveredChildren` is no longer read by den: a host accepts any "
        "attribute, so this is silently ignored and no guest is delivered. "
        "Resolve guests from your own host policy (`resolve.to.withIncludes` an "
        "isolated kind, with a delivery route that sets `appendToParent = true`)."
    ),
    GUEST_OS: _guest_os_message,
    "den.ctx.into": lambda name: (
        f"den's compatibility shim for `den.ctx` drops `into`, so this transition "
        f"out of `{name or 'the context'}` never runs. Write it as a policy that "
        'returns `resolve.to "<kind>" { ... }` and add it to '
        f"`den.schema.{name or '<kind>'}.includes`."
    ),
}

_DEPRECATED = {
    "den.ctx": lambda name: (
        f"`den.ctx` is deprecated: den turns `den.ctx.{name or '<name>'}` into "
        f"`den.schema.{name or '<name>'}.includes` and warns on every evaluation. "
        f"Write `den.schema.{name or '<name>'}.includes` instead."
    ),
    "den.lib.parametric": lambda member: (
        f"`den.lib.parametric{'.' + member if member else ''}` is deprecated and "
        "warns on every evaluation: den now passes a parametric function only the "
        "context it names. Use the aspect, or a function such as "
        "`{ host, ... }: { ... }`, directly."
    ),
    "den.lib.take": lambda member: (
        f"`den.lib.take{'.' + member if member else ''}` is deprecated and warns on "
        "every evaluation: den now passes a function only the context it names, "
        "and skips it where that context is missing. Use the function directly."
    ),
}
