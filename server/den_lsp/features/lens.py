"""Code lens on ``den.schema.<kind>``: its delivery routes and active policies."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lsprotocol import types

from den_lsp.features.diagnostics import to_range
from den_lsp.features.index import index_for
from den_lsp.features.project import Project
from den_lsp.syntax.span import Span

if TYPE_CHECKING:
    from den_lsp.server import DenLanguageServer

# A client-side command: editors show the locations in their references
# view (the VS Code extension and the Neovim plugin register it).
SHOW_REFERENCES = "den.showReferences"


@dataclass(frozen=True)
class Lens:
    span: Span
    title: str
    kind: str
    references: tuple[Span, ...]


def lenses_in(project: Project, rel: str) -> list[Lens]:
    index = index_for(project, rel)
    if index is None:
        return []
    model = index.model
    lenses = []
    for kind in model.kinds.values():
        for site in kind.sites:
            if site.span.path != rel:
                continue
            delivering = [
                r
                for r in model.routes
                if r.collection_root == kind.name and r.append_targets != (kind.name,)
            ]
            policies = sorted(
                {
                    pid
                    for pid, acts in model.activations.items()
                    for a in acts
                    if a.kind == kind.name
                }
            )
            title = (
                f"{len(delivering)} delivery route{'s' if len(delivering) != 1 else ''}"
                f" · {len(policies)} polic{'ies' if len(policies) != 1 else 'y'} active"
            )
            references = tuple(
                o.span for o in index.of("kind", kind.name) if not o.definition
            )
            lenses.append(Lens(site.span, title, kind.name, references))
    return lenses


def register(server: "DenLanguageServer") -> None:
    @server.feature(
        types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False)
    )
    async def code_lens(ls: "DenLanguageServer", params: types.CodeLensParams):
        uri = params.text_document.uri

        def answer(project: Project, rel: str):
            uri_of = ls.uri_function(project)
            return [
                types.CodeLens(
                    range=to_range(lens.span),
                    command=types.Command(
                        title=lens.title,
                        command=SHOW_REFERENCES,
                        arguments=[
                            uri,
                            {
                                "line": lens.span.start_line,
                                "character": lens.span.start_character,
                            },
                            [
                                {"uri": uri_of(s.path), "range": _range(s)}
                                for s in lens.references
                            ],
                        ],
                    ),
                )
                for lens in lenses_in(project, rel)
            ]

        return await ls.query(uri, answer) or []


def _range(span: Span) -> dict:
    return {
        "start": {"line": span.start_line, "character": span.start_character},
        "end": {"line": span.end_line, "character": span.end_character},
    }
