"""Hover: a kind's effective scope, what a route does, where a policy fires.

Each hover is Markdown with the answer first, details after, and the
``file:line`` of the declarations it summarises.
"""

from __future__ import annotations

import weakref
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lsprotocol import types

from den_lsp.analysis.codes import CODES
from den_lsp.analysis.common import field_value, render_path, route_path, where
from den_lsp.facts.types import Effect, Policy
from den_lsp.features.diagnostics import to_range
from den_lsp.features.index import Occurrence, SymbolIndex, effect_at, index_for
from den_lsp.features.project import Project
from den_lsp.model.builtins import BUILTIN_KINDS, SYSTEM_CLASSES
from den_lsp.model.model import Model, RouteInstance
from den_lsp.syntax.span import Span

if TYPE_CHECKING:
    from den_lsp.server import DenLanguageServer

try:  # the rule documentation arrives with `den-lsp explain`
    from den_lsp.analysis.codes import explain_markdown
except ImportError:  # pragma: no cover - older registry without documentation

    def explain_markdown(code: str) -> str | None:
        return None


@dataclass(frozen=True)
class HoverText:
    markdown: str
    span: Span


def hover_at(project: Project, rel: str, line: int, character: int) -> HoverText | None:
    state = project.files.get(rel)
    if state is None:
        return None
    offset = state.index.offset(line, character)
    parts: list[str] = []
    span: Span | None = None

    index = index_for(project, rel)
    if index is not None:
        model = index.model
        occurrence = index.at(rel, offset)
        effect = effect_at(model, rel, offset)
        if occurrence is not None:
            parts.append(_symbol(model, occurrence, index))
            span = occurrence.span
        elif effect is not None:
            parts.append(_effect(model, *effect))
            span = effect[0].span

    for finding in project.findings().get(rel, []):
        if finding.span.start_byte <= offset <= finding.span.end_byte:
            parts.append(_finding(finding))
            span = span or finding.span
    if not parts or span is None:
        return None
    return HoverText("\n\n---\n\n".join(parts), span)


def _symbol(model: Model, occ: Occurrence, index: SymbolIndex) -> str:
    if occ.category == "kind":
        return kind_hover(model, occ.name)
    if occ.category == "policy":
        return policy_hover(model, occ.name)
    if occ.category == "class":
        return class_hover(model, occ.name)
    if occ.category == "aspect":
        return aspect_hover(model, occ.name, index)
    if occ.category == "host":
        return host_hover(model, occ.name, index)
    return f"**user `{occ.name}`**"


def _yes_no(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "cannot tell statically"}[value]


def _policy_label(model: Model, policy_id: str) -> str:
    policy = model.policies.get(policy_id)
    if policy is not None and policy.name:
        return f"`{policy.name}`"
    if policy is not None:
        return f"inline policy ({where(policy.span)})"
    return f"`{policy_id}`"


def kind_hover(model: Model, name: str) -> str:
    kind = model.kinds.get(name)
    marks = []
    if kind is not None and kind.is_entity:
        marks.append("entity")
    if kind is not None and kind.isolated:
        marks.append("isolated")
    title = f"**kind `{name}`**" + (f" — {', '.join(marks)}" if marks else "")
    lines = [title, "", f"`{' › '.join(model.parent_chain(name))}`", ""]
    if kind is None or not kind.declared:
        lines.append("Not declared in `den.schema` and not built in.")
        return "\n".join(lines)

    entity_from = [
        f"`isEntity = true` ({where(f.span)})" for f in kind.values("isEntity")
    ] or (["built in"] if kind.builtin else [])
    lines.append(
        f"- entity: {_yes_no(kind.is_entity)}"
        + (f" — {', '.join(entity_from)}" if entity_from else "")
    )
    isolated_from = [
        f"`isolated = {_literal(f.value)}` ({where(f.span)})"
        for f in kind.values("isolated")
    ]
    lines.append(
        f"- isolated: {_yes_no(kind.isolated)}"
        + (f" — {', '.join(isolated_from)}" if isolated_from else "")
    )

    creators = sorted(
        {
            f"`{e.source}` by {_policy_label(model, e.policy.policy_id)} "
            f"({where(e.effect.span)})"
            for e in model.resolve_edges
            if e.target == name
        }
    )
    if creators:
        lines.append("- created at: " + "; ".join(creators))
    fired = sorted(
        {
            f"{_policy_label(model, policy_id)} — {act.via}"
            + (f" ({where(act.span)})" if act.span else "")
            for policy_id, acts in model.activations.items()
            for act in acts
            if act.kind == name
        }
    )
    if fired:
        lines.append("- policies firing here:")
        lines.extend(f"  - {f}" for f in fired)
    collecting = [r for r in model.routes if r.collection_root == name]
    if collecting:
        lines.append("- routes collecting from it:")
        lines.extend(f"  - {_route_line(r)}" for r in collecting)
    lines.append(f"- its content lands: {_landing(model, name, collecting)}")
    lines.append(f"- class of its entities: {_entity_class(model, name, collecting)}")
    if kind.sites:
        lines.append("")
        lines.append("Declared at " + ", ".join(where(s.span) for s in kind.sites))
    return "\n".join(lines)


def _place(effect: Effect) -> str:
    """Where a route puts its result: a path in code, or the class root in words."""
    path = route_path(effect)
    if path == ():
        return "the class root"
    return f"`{render_path(path)}`"


def _route_line(route: RouteInstance) -> str:
    effect = route.effect
    source, into = _classes(effect)
    subtree = " and its subtree" if route.subtree else ""
    skipped = f", skipping isolated {', '.join(route.skipped)}" if route.skipped else ""
    return (
        f"`{source}` → `{into}` at {_place(effect)}: collects at "
        f"`{route.collection_root or '?'}`{subtree}{skipped}, appends at "
        f"{', '.join(f'`{t}`' for t in route.append_targets)} ({where(effect.span)})"
    )


def _classes(effect: Effect) -> tuple[str, str]:
    source = field_value(effect, "fromClass") or field_value(effect, "from")
    into = field_value(effect, "intoClass") or field_value(effect, "to")
    return (
        source if isinstance(source, str) else "?",
        into if isinstance(into, str) else "?",
    )


def _landing(model: Model, name: str, collecting: list[RouteInstance]) -> str:
    delivered = [
        f"`{render_path(route_path(r.effect))}` at "
        + ", ".join(f"`{t}`" for t in r.append_targets)
        for r in collecting
        if r.append_targets != (name,)
    ]
    isolated = model.is_isolated(name)
    if isolated is True:
        if delivered:
            return "only through " + "; ".join(delivered) + " (isolated)"
        return "nowhere outside its own scope: it is isolated and no route appends it to the parent"
    parents = sorted(model.parents(name))
    own = (
        f"in the {', '.join(f'`{p}`' for p in parents)} scope's own configuration "
        "(the parent's extraction collects it)"
        if parents and name not in ("host", "flake", "flake-system")
        else "in its own configuration"
    )
    return own + ("; also through " + "; ".join(delivered) if delivered else "")


def _entity_class(model: Model, name: str, collecting: list[RouteInstance]) -> str:
    if name == "host":
        return "`nixos` or `darwin` (from each host's `system`, unless it sets `class`)"
    if name in ("user", "home"):
        return "the user's `classes` (`homeManager`, `user`, ...)"
    classes = sorted(
        {
            c
            for r in collecting
            for c in (field_value(r.effect, "fromClass"), field_value(r.effect, "from"))
            if isinstance(c, str) and c in SYSTEM_CLASSES
        }
    )
    if classes:
        return (
            ", ".join(f"`{c}`" for c in classes) + " (what its delivery routes collect)"
        )
    if name in BUILTIN_KINDS:
        return "none: a routing scope"
    return "not known statically"


def _literal(value) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return f'"{value}"'
    return "<expression>"


def _effect(model: Model, effect: Effect, policy: Policy) -> str:
    if effect.family not in ("route", "deliver"):
        return _other_effect(model, effect, policy)
    source, into = _classes(effect)
    place = _place(effect)
    instances = [r for r in model.routes if r.effect is effect]
    lines = [f"**{effect.family}** `{source}` → `{into}` at {place}", ""]
    if not instances:
        lines.append(
            f"Its policy {_policy_label(model, policy.policy_id)} fires nowhere "
            "the model can see, so the route does nothing a build would notice."
        )
        return "\n".join(lines)
    for route in instances:
        root = route.collection_root or "a scope named by `collectScopeId`"
        subtree = " and every scope below it" if route.subtree else ""
        skipped = (
            f", skipping the isolated {', '.join(f'`{k}`' for k in route.skipped)}"
            " scopes and all below them"
            if route.skipped
            else ""
        )
        targets = ", ".join(f"`{t}`" for t in route.append_targets)
        verbatim = (
            " handed over unevaluated (`reinstantiate`)"
            if field_value(effect, "reinstantiate") is True
            or field_value(effect, "mode") == "verbatim"
            else ""
        )
        lines.append(
            f"- fired at `{route.fires_at}`: collects `{source}` at `{root}`{subtree}"
            f"{skipped}; appends at {targets} as `{into}` "
            + ("at the class root" if place == "the class root" else f"under {place}")
            + f"{verbatim}."
        )
    first = instances[0]
    lines.append("")
    lines.append(
        f"In a build: the `{source}` modules of each `{first.collection_root or '?'}` "
        f"scope become part of the {', '.join(first.append_targets)}'s `{into}` "
        f"configuration at {place}."
    )
    lines.append("")
    lines.append(
        f"Policy {_policy_label(model, policy.policy_id)} ({where(policy.span)})"
    )
    return "\n".join(lines)


def _other_effect(model: Model, effect: Effect, policy: Policy) -> str:
    lines = [f"**{effect.constructor}**"]
    if effect.family == "resolve" and isinstance(effect.target_kind, str):
        kind = model.kinds.get(effect.target_kind)
        isolated = kind.isolated if kind is not None else False
        lines.append("")
        lines.append(
            f"Creates a `{effect.target_kind}` scope (isolated: {_yes_no(isolated)}) "
            f"wherever {_policy_label(model, policy.policy_id)} fires: "
            + (
                ", ".join(f"`{k}`" for k in sorted(model.fires_at(policy.policy_id)))
                or "nowhere seen"
            )
            + "."
        )
    return "\n".join(lines)


def policy_hover(model: Model, policy_id: str) -> str:
    policy = model.policies.get(policy_id)
    lines = [f"**policy `{policy_id}`**", ""]
    kinds = sorted(model.fires_at(policy_id))
    lines.append(
        "Fires at: "
        + (", ".join(f"`{k}`" for k in kinds) if kinds else "nowhere the model can see")
        + (" (and possibly elsewhere)" if policy_id in model.fires_elsewhere else "")
    )
    if policy is None:
        lines.append("")
        lines.append("Defined by den or outside the workspace.")
        return "\n".join(lines)
    activations = model.activations.get(policy_id, [])
    if activations:
        lines.append("- activated by:")
        lines.extend(
            sorted(
                {
                    f"  - {a.via} of `{a.kind}`"
                    + (f" ({where(a.span)})" if a.span else "")
                    for a in activations
                }
            )
        )
    if policy.args:
        needed = ", ".join(f"`{a}`" for a in policy.required_args) or "nothing"
        lines.append(
            f"- needs in context: {needed}"
            + ("" if policy.open_args else " (closed argument set)")
        )
    if policy.effects:
        summary = ", ".join(
            f"`{e.constructor}`" + (" (maybe)" if e.maybe else "")
            for e in policy.effects
        )
        lines.append(f"- effects: {summary}")
    lines.append("")
    lines.append(f"Defined at {where(policy.span)}")
    return "\n".join(lines)


def class_hover(model: Model, name: str) -> str:
    decls = model.classes.get(name, [])
    lines = [f"**class `{name}`**", ""]
    if decls:
        lines.append("Declared at " + ", ".join(where(d.span) for d in decls))
    else:
        lines.append("Built into den." if name in model.classes else "Not declared.")
    authors = sorted(
        {".".join(a.path) for a in model.aspects for key, _ in a.keys if key == name}
    )
    if authors:
        lines.append("- authored by aspects: " + ", ".join(f"`{a}`" for a in authors))
    consumers = sorted(
        {
            f"`{_classes(r.effect)[0]}` → `{_classes(r.effect)[1]}` ({where(r.effect.span)})"
            for r in model.routes
            if name in _classes(r.effect)
        }
    )
    if consumers:
        lines.append("- routes: " + "; ".join(consumers))
    return "\n".join(lines)


def _aspect_places(model: Model, path: str, index: SymbolIndex | None) -> list[str]:
    """Where an aspect is defined: the line of its name in each definition.

    Without the index, the lines of the keys the definitions write.
    """
    spans = [o.span for o in index.of("aspect", path) if o.definition] if index else []
    if not spans:
        parts = tuple(path.split("."))
        spans = [a.span for a in _aspect_table(model).defs.get(parts, ())]
    ordered = sorted(spans, key=lambda s: (s.path, s.start_line))
    return list(dict.fromkeys(where(s) for s in ordered))


class _AspectTable:
    """A model's aspect definitions and includes, by aspect path.

    Completion describes every aspect it offers; looking each one up in the
    lists of a model of thousands of aspects would cost as many passes.
    """

    def __init__(self, model: Model):
        self.model = weakref.ref(model)
        self.defs: dict[tuple[str, ...], list] = defaultdict(list)
        for aspect in model.aspects:
            self.defs[aspect.path].append(aspect)
        self.includes: dict[tuple, list] = defaultdict(list)
        for include in model.includes:
            if include.relation == "includes":
                self.includes[include.item.target].append(include)


_last_table: _AspectTable | None = None


def _aspect_table(model: Model) -> _AspectTable:
    global _last_table
    table = _last_table
    if table is None or table.model() is not model:
        table = _last_table = _AspectTable(model)
    return table


def aspect_hover(model: Model, path: str, index: SymbolIndex | None = None) -> str:
    parts = tuple(path.split("."))
    table = _aspect_table(model)
    defs = table.defs.get(parts, [])
    lines = [f"**aspect `den.aspects.{path}`**", ""]
    if defs:
        lines.append("Defined at " + ", ".join(_aspect_places(model, path, index)))
        keys = sorted(
            {k for a in defs for k, _ in a.keys if k not in ("includes", "excludes")}
        )
        if keys:
            lines.append("- keys: " + ", ".join(f"`{k}`" for k in keys))
    else:
        lines.append("Not defined in this workspace.")
    includers = sorted(
        {
            f"{_owner(i.owner)} ({where(i.item.span)})"
            for i in table.includes.get(("aspect", *parts), ())
        }
    )
    if includers:
        lines.append("- included by: " + "; ".join(includers))
    return "\n".join(lines)


def _owner(owner: tuple[str, ...]) -> str:
    """The includes list an include sits in, as the user wrote its owner."""
    if owner[0] == "schema":
        return f"`den.schema.{owner[1]}`"
    if owner[0] == "aspect":
        return f"`den.aspects.{'.'.join(owner[1:])}`"
    return "`den.default`"


def host_hover(model: Model, name: str, index: SymbolIndex | None = None) -> str:
    hosts = [h for h in model.hosts if h.name == name]
    lines = [f"**host `{name}`**", ""]
    for host in hosts:
        details = []
        if isinstance(host.system, str):
            details.append(f"system `{host.system}`")
        if isinstance(host.host_class, str):
            details.append(f"class `{host.host_class}`")
        if host.users:
            details.append("users " + ", ".join(f"`{u}`" for u in host.users))
        if host.into_attr == ():
            details.append("no flake output (`intoAttr = [ ]`)")
        lines.append(
            f"- {where(host.span)}" + (": " + ", ".join(details) if details else "")
        )
    if any(a.path == (name,) for a in model.aspects):
        lines.append(
            f"- aspect `den.aspects.{name}` at "
            + ", ".join(_aspect_places(model, name, index))
        )
    return "\n".join(lines)


def _finding(finding) -> str:
    code = CODES.get(finding.code)
    title = f"**{finding.code}** ({finding.severity.value})"
    parts = [title, "", finding.message]
    doc = explain_markdown(finding.code)
    if doc:
        parts += ["", doc]
    elif code is not None:
        parts += ["", f"_{code.summary}._"]
    return "\n".join(parts)


def register(server: "DenLanguageServer") -> None:
    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls: "DenLanguageServer", params: types.HoverParams):
        position = params.position
        found = await ls.query(
            params.text_document.uri,
            lambda project, rel: hover_at(
                project, rel, position.line, position.character
            ),
        )
        if found is None:
            return None
        formats = _content_formats(ls)
        contents: types.MarkupContent | str
        if types.MarkupKind.Markdown in formats:
            contents = types.MarkupContent(
                kind=types.MarkupKind.Markdown, value=found.markdown
            )
        elif formats:
            contents = types.MarkupContent(
                kind=types.MarkupKind.PlainText, value=plain_text(found.markdown)
            )
        else:
            # A client that names no format may predate MarkupContent: a
            # plain string is what every client shows.
            contents = plain_text(found.markdown)
        return types.Hover(contents=contents, range=to_range(found.span))


def _content_formats(ls: "DenLanguageServer") -> tuple[str, ...]:
    capabilities = ls.client_capabilities.text_document
    hover = capabilities.hover if capabilities is not None else None
    return tuple(hover.content_format or ()) if hover is not None else ()


def plain_text(markdown: str) -> str:
    """The hover for clients that cannot render Markdown."""
    return markdown.replace("**", "").replace("`", "").replace("\n---\n", "\n")
