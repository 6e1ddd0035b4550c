"""Inlay hints: a resolved kind's isolation, and where a route moves content."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lsprotocol import types

from den_lsp.analysis.common import render_path, route_path
from den_lsp.features.index import index_for
from den_lsp.features.project import Project
from den_lsp.syntax.span import Span

if TYPE_CHECKING:
    from den_lsp.server import DenLanguageServer


@dataclass(frozen=True)
class Hint:
    span: Span  # the hint goes at its end
    label: str


def hints_in(project: Project, rel: str, start: int, end: int) -> list[Hint]:
    index = index_for(project, rel)
    if index is None:
        return []
    model = index.model
    hints: list[Hint] = []
    for policy in model.policies.values():
        for effect in policy.effects:
            span = effect.span
            if span.path != rel or not (start <= span.start_byte <= end):
                continue
            if effect.family == "resolve" and isinstance(effect.target_kind, str):
                isolated = model.is_isolated(effect.target_kind)
                if effect.target_span is not None and isolated is not None:
                    label = "isolated" if isolated else "not isolated"
                    hints.append(Hint(effect.target_span, label))
            elif effect.family in ("route", "deliver"):
                moves = sorted(
                    {
                        f"{r.collection_root or '?'}{' subtree' if r.subtree else ''} ⇒ "
                        f"{', '.join(r.append_targets)} · "
                        f"{render_path(route_path(effect))}"
                        for r in model.routes
                        if r.effect is effect
                    }
                )
                if moves:
                    hints.append(Hint(span, " | ".join(moves)))
    return sorted(hints, key=lambda h: (h.span.end_byte, h.label))


def register(server: "DenLanguageServer") -> None:
    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT)
    async def inlay_hint(ls: "DenLanguageServer", params: types.InlayHintParams):
        def answer(project: Project, rel: str):
            state = project.files.get(rel)
            if state is None:
                return []
            r = params.range
            start = state.index.offset(r.start.line, r.start.character)
            end = state.index.offset(r.end.line, r.end.character)
            return [
                types.InlayHint(
                    position=types.Position(
                        line=h.span.end_line, character=h.span.end_character
                    ),
                    label=h.label,
                    padding_left=True,
                    kind=types.InlayHintKind.Type,
                )
                for h in hints_in(project, rel, start, end)
            ]

        return await ls.query(params.text_document.uri, answer) or []
