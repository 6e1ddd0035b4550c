"""Code actions: quick fixes for findings, fix-all, and den refactors.

A quick fix applies the structured edits a rule attached to its finding; the
edits may land in another file than the diagnostic (the kind's declaration,
say). Fix-all applies only fixes marked safe. Refactors are offered at a
route or a kind under the cursor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lsprotocol import types

from den_lsp.analysis.common import route_path
from den_lsp.analysis.findings import Finding, TextEdit
from den_lsp.facts.types import Effect
from den_lsp.features.diagnostics import to_diagnostic, to_range
from den_lsp.features.index import effect_at, index_for
from den_lsp.features.move import move_into_delivered_kind
from den_lsp.features.project import Project
from den_lsp.features.suppression import suppress_fix
from den_lsp.model.builtins import COMPOSE_KINDS
from den_lsp.model.model import Model

if TYPE_CHECKING:
    from den_lsp.server import DenLanguageServer

QUICKFIX = "quickfix"
FIX_ALL = "source.fixAll.den"
REFACTOR = "refactor.rewrite"

# Route fields that `deliver` can express (den-reference §3.4); a route with
# any other field keeps it only through the route shim, so it stays a route.
_DELIVER_FIELDS = {
    "fromClass": "from",
    "intoClass": "to",
    "path": "at",
    "intoPath": "at",
    "guard": "guard",
    "adaptArgs": "adaptArgs",
}


@dataclass(frozen=True)
class Action:
    title: str
    kind: str
    edits: tuple[TextEdit, ...]
    safe: bool
    finding: Finding | None = None


def actions_at(
    project: Project, rel: str, start: int, end: int, only: set[str] | None = None
) -> list[Action]:
    """Every action for the byte range ``start``-``end`` of ``rel``."""

    def wanted(kind: str) -> bool:
        return only is None or any(kind == o or kind.startswith(o + ".") for o in only)

    actions: list[Action] = []
    findings = project.findings().get(rel, [])
    if wanted(QUICKFIX):
        for finding in findings:
            if finding.span.start_byte <= end and start <= finding.span.end_byte:
                for fix in finding.fixes:
                    actions.append(
                        Action(fix.title, QUICKFIX, fix.edits, fix.safe, finding)
                    )
                suppress = _suppression(project, rel, finding)
                if suppress is not None:
                    actions.append(suppress)
    if wanted(FIX_ALL) and only is not None:
        edits = fix_all_edits(findings)
        if edits:
            actions.append(Action("Apply all safe den fixes", FIX_ALL, edits, True))
    if wanted(REFACTOR):
        index = index_for(project, rel)
        if index is not None:
            offered = {a.edits for a in actions}
            for action in _refactors(project, index.model, rel, start, end, index):
                if action.edits not in offered:
                    actions.append(action)
    return actions


# Findings a comment cannot silence: a syntax error is fixed, not suppressed,
# and an unused suppression is removed by its own fix.
_UNSUPPRESSIBLE = frozenset({"den/syntax", "den/unused-suppression"})


def _suppression(project: Project, rel: str, finding: Finding) -> Action | None:
    """"Suppress CODE on this line": a comment that silences one finding.

    It changes nothing den evaluates, yet it hides a finding, so it is never
    preferred and never part of fix-all (which applies only findings' fixes).
    """
    state = project.files.get(rel)
    if finding.code in _UNSUPPRESSIBLE or state is None or finding.span.path != rel:
        return None
    fix = suppress_fix(finding, state.source, state.index)
    return Action(fix.title, QUICKFIX, fix.edits, False, finding)


def fix_all_edits(findings: list[Finding]) -> tuple[TextEdit, ...]:
    """The safe fixes of ``findings``, leaving out any that would overlap."""
    chosen: list[TextEdit] = []
    for finding in findings:
        for fix in finding.fixes:
            if not fix.safe:
                continue
            if any(_overlaps(e, c) for e in fix.edits for c in chosen):
                continue
            chosen.extend(fix.edits)
            break
    return tuple(dict.fromkeys(chosen))


def _overlaps(a: TextEdit, b: TextEdit) -> bool:
    if a.span.path != b.span.path:
        return False
    if a.span.start_byte == b.span.start_byte:
        return True  # two insertions at one place would interleave
    return a.span.start_byte < b.span.end_byte and b.span.start_byte < a.span.end_byte


def _refactors(project, model: Model, rel: str, start: int, end: int, index):
    found = effect_at(model, rel, start)
    if found is not None and found[0].family == "route":
        yield from _route_refactors(model, found[0])
        move = move_into_delivered_kind(project, model, *found)
        if move is not None:
            yield Action(move.title, REFACTOR, move.edits, safe=False)
    occurrence = index.at(rel, start)
    if occurrence is not None and occurrence.category == "kind":
        kind = model.kinds.get(occurrence.name)
        if (
            kind is not None
            and kind.isolated is False
            and kind.name not in COMPOSE_KINDS
        ):
            site = next((s for s in kind.sites if s.insertion is not None), None)
            if site is not None:
                yield Action(
                    f"Mark kind `{kind.name}` isolated",
                    REFACTOR,
                    (
                        TextEdit(
                            site.insertion.span,
                            site.insertion.binding("isolated", "true"),
                        ),
                    ),
                    safe=False,
                )


def _route_refactors(model: Model, effect: Effect):
    point = effect.insertion
    profile = model.profile
    if point is None:
        return
    if (
        profile.decouple_field == "appendToParent"
        and effect.field("appendToParent") is None
    ):
        yield Action(
            "Add `appendToParent = true`",
            REFACTOR,
            (TextEdit(point.span, point.binding("appendToParent", "true")),),
            safe=False,
        )
    if (
        profile.decouple_field == "collectScopeId"
        and effect.field("collectScopeId") is None
    ):
        kind = _collection_kind(model, effect)
        if kind is not None:
            yield Action(
                "Add `collectScopeId`",
                REFACTOR,
                (TextEdit(point.span, point.binding("collectScopeId", f'"{kind}"')),),
                safe=False,
            )
    if profile.has_deliver:
        conversion = _to_deliver(effect)
        if conversion is not None:
            yield conversion


def _collection_kind(model: Model, effect: Effect) -> str | None:
    """The kind a design-profile route should name: the isolated child it
    delivers, or the isolated kind it fires in."""
    for route in model.routes:
        if route.effect is not effect:
            continue
        if model.is_isolated(route.fires_at) is True:
            return route.fires_at
        children = sorted(
            c for c in model.children(route.fires_at) if model.is_isolated(c)
        )
        if children:
            return children[0]
    return None


def _to_deliver(effect: Effect) -> Action | None:
    names = {f.name for f in effect.fields}
    if not names <= set(_DELIVER_FIELDS) | {"reinstantiate"}:
        return None
    if {"path", "intoPath"} <= names:
        return None
    edits = [TextEdit(effect.span, _deliver_head(effect))]
    for f in effect.fields:
        if f.name == "reinstantiate":
            continue
        renamed = _DELIVER_FIELDS[f.name]
        if renamed != f.name:
            edits.append(TextEdit(f.key_span, renamed))
    path = route_path(effect)
    reinstantiate = effect.field("reinstantiate")
    if reinstantiate is not None:
        if not isinstance(reinstantiate.value, bool):
            return None
        mode = (
            "verbatim" if reinstantiate.value else ("merge" if path == () else "nest")
        )
        span = reinstantiate.key_span
        whole = type(span)(
            span.path,
            span.start_byte,
            reinstantiate.value_span.end_byte,
            span.start_line,
            span.start_character,
            reinstantiate.value_span.end_line,
            reinstantiate.value_span.end_character,
        )
        edits.append(TextEdit(whole, f'mode = "{mode}"'))
    elif isinstance(path, tuple) and path and effect.insertion is not None:
        # `route` nests at a non-empty path; `deliver` merges unless told.
        edits.append(
            TextEdit(effect.insertion.span, effect.insertion.binding("mode", '"nest"'))
        )
    elif not isinstance(path, tuple):
        return None
    return Action("Convert `route` to `deliver`", REFACTOR, tuple(edits), safe=False)


def _deliver_head(effect: Effect) -> str:
    # The constructor as written may be an alias (`route` from an inherit);
    # `deliver` is not necessarily in scope under the same spelling, so the
    # full path through the `den` module argument is written.
    return "den.lib.policy.deliver"


def _kind(kind: str) -> types.CodeActionKind | str:
    try:
        return types.CodeActionKind(kind)
    except ValueError:  # den's own kinds are not in the protocol's enumeration
        return kind


def register(server: "DenLanguageServer") -> None:
    kinds = [
        types.CodeActionKind.QuickFix,
        types.CodeActionKind.RefactorRewrite,
        FIX_ALL,  # den's own kind under source.fixAll: a plain string
    ]

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=kinds, resolve_provider=False),
    )
    async def code_action(ls: "DenLanguageServer", params: types.CodeActionParams):
        only = set(params.context.only) if params.context.only else None
        sent = {
            (d.code, d.range.start.line, d.range.start.character): d
            for d in params.context.diagnostics
        }

        def answer(project: Project, rel: str):
            state = project.files.get(rel)
            if state is None:
                return []
            r = params.range
            start = state.index.offset(r.start.line, r.start.character)
            end = state.index.offset(r.end.line, r.end.character)
            uri_of = ls.uri_function(project)
            result = []
            for action in actions_at(project, rel, start, end, only):
                changes: dict[str, list[types.TextEdit]] = {}
                for edit in action.edits:
                    changes.setdefault(uri_of(edit.span.path), []).append(
                        types.TextEdit(
                            range=to_range(edit.span), new_text=edit.new_text
                        )
                    )
                diagnostics = None
                if action.finding is not None:
                    f = action.finding
                    key = (f.code, f.span.start_line, f.span.start_character)
                    diagnostics = [sent.get(key) or to_diagnostic(f, uri_of)]
                result.append(
                    types.CodeAction(
                        title=action.title,
                        kind=_kind(action.kind),
                        diagnostics=diagnostics,
                        is_preferred=action.safe if action.kind == QUICKFIX else None,
                        edit=types.WorkspaceEdit(changes=changes),
                        data={"safe": action.safe},
                    )
                )
            return result

        return await ls.query(params.text_document.uri, answer) or []
