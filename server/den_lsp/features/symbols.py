"""Document and workspace symbols: a configuration's den declarations by name.

The document outline lists what a file declares for den: kinds with their
fields, policies with their effects, aspects with their keys, classes, and
hosts with their users. Workspace symbols list every kind, policy, aspect,
class and host of every configuration in the workspace, matched fuzzily
against the query.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from lsprotocol import types
from rapidfuzz import fuzz, process, utils

from den_lsp.analysis.common import render_path, route_path
from den_lsp.facts.types import OPAQUE, UNKNOWN, Effect, Literal
from den_lsp.features.diagnostics import to_range
from den_lsp.features.index import SymbolIndex, Syntax, index_for, index_of
from den_lsp.features.project import Project
from den_lsp.syntax.span import Span

if TYPE_CHECKING:
    from den_lsp.server import DenLanguageServer

log = logging.getLogger(__name__)

# How the outline and the symbol search show each den construct.
SYMBOL_KINDS = {
    "kind": types.SymbolKind.Struct,
    "field": types.SymbolKind.Field,
    "policy": types.SymbolKind.Function,
    "effect": types.SymbolKind.Event,
    "aspect": types.SymbolKind.Module,
    "key": types.SymbolKind.Property,
    "class": types.SymbolKind.Class,
    "host": types.SymbolKind.Object,
    "user": types.SymbolKind.Variable,
    "home": types.SymbolKind.Object,
}
# What a client that does not list a symbol kind gets instead: the protocol's
# first eighteen kinds (File to Array) are the ones every client knows.
_FALLBACK_KINDS = {
    types.SymbolKind.Struct: types.SymbolKind.Class,
    types.SymbolKind.Event: types.SymbolKind.Function,
    types.SymbolKind.Object: types.SymbolKind.Namespace,
}
_BASE_KINDS = frozenset(range(1, 19))
# Where each category's names live, shown as the symbol's container.
CONTAINERS = {
    "kind": "den.schema",
    "policy": "den.policies",
    "aspect": "den.aspects",
    "class": "den.classes",
    "host": "den.hosts",
}
# A query scores 0-100 against a name (rapidfuzz's weighted ratio, case
# folded); below this the name is not offered.
MATCH_CUTOFF = 60
MAX_RESULTS = 200


@dataclass(frozen=True)
class Symbol:
    name: str
    kind: str  # a key of SYMBOL_KINDS
    detail: str | None
    range: Span
    selection: Span
    children: tuple[Symbol, ...] = ()


# -- the document outline ------------------------------------------------------------------


def document_symbols(project: Project, rel: str) -> list[Symbol]:
    """The den declarations of ``rel``, as an outline.

    Each definition is a piece of the outline where the file writes it; a
    piece written inside another (a policy inside a kind's ``includes``, a
    sub-aspect inside its aspect) is shown inside it, and pieces of one name
    written one after the other are shown as one. A kind whose definitions
    are apart, with other declarations between them, appears once for each.
    """
    index = index_for(project, rel)
    state = project.files.get(rel)
    if index is None or state is None or state.tree is None:
        return []
    outline = _Outline(Syntax(project), index, rel)
    pieces = [
        *outline.kinds(),
        *outline.policies(),
        *outline.aspects(),
        *outline.classes(),
        *outline.hosts(),
        *outline.homes(),
    ]
    return [node.freeze() for node in _merged(_nested(pieces))]


@dataclass
class _Node:
    """A piece of the outline while it is put together."""

    name: str
    kind: str
    detail: str | None
    range: Span
    selection: Span
    children: list[_Node]

    def contains(self, other: _Node) -> bool:
        return (
            self.range.start_byte <= other.range.start_byte
            and other.range.end_byte <= self.range.end_byte
        )

    def freeze(self) -> Symbol:
        return Symbol(
            self.name,
            self.kind,
            self.detail,
            self.range,
            self.selection,
            tuple(c.freeze() for c in self.children),
        )


def _nested(pieces: list[_Node]) -> list[_Node]:
    """Put every piece inside the smallest piece (or child of one) around it."""
    roots: list[_Node] = []
    # By position, a container before what it contains; among pieces of one
    # range, the order of the categories decides. The open pieces form a
    # stack, each inside the one below it.
    order = sorted(
        enumerate(pieces),
        key=lambda item: (item[1].range.start_byte, -item[1].range.end_byte, item[0]),
    )
    open_pieces: list[_Node] = []
    for _, piece in order:
        while open_pieces and not open_pieces[-1].contains(piece):
            open_pieces.pop()
        if not open_pieces:
            roots.append(piece)
        else:
            holder = open_pieces[-1]
            while True:
                inner = next((c for c in holder.children if c.contains(piece)), None)
                if inner is None:
                    break
                holder = inner
            holder.children.append(piece)
        open_pieces.append(piece)
    return roots


def _merged(nodes: list[_Node]) -> list[_Node]:
    """Siblings by position, with consecutive pieces of one name made one."""
    result: list[_Node] = []
    for node in sorted(nodes, key=lambda n: (n.range.start_byte, n.name)):
        last = result[-1] if result else None
        if last is not None and (last.name, last.kind) == (node.name, node.kind):
            last.range = _union([last.range, node.range])
            last.children += node.children
            last.detail = last.detail or node.detail
            continue
        result.append(node)
    for node in result:
        node.children = _merged(node.children)
    return result


def _union(spans: list[Span]) -> Span:
    first = min(spans, key=lambda s: s.start_byte)
    last = max(spans, key=lambda s: s.end_byte)
    return Span(
        first.path,
        first.start_byte,
        last.end_byte,
        first.start_line,
        first.start_character,
        last.end_line,
        last.end_character,
    )


def _inside(span: Span, outer: Span) -> bool:
    return outer.start_byte <= span.start_byte and span.end_byte <= outer.end_byte


class _Outline:
    def __init__(self, syntax: Syntax, index: SymbolIndex, rel: str):
        self.syntax = syntax
        self.index = index
        self.model = index.model
        self.rel = rel

    def _binding(self, span: Span) -> Span:
        """The whole binding that writes the name at ``span``."""
        node = self.syntax.binding_of(span)
        return self.syntax.span(self.rel, node) if node is not None else span

    def _name(self, category: str, name: str, span: Span) -> Span:
        """The characters of the name at ``span``, when the index has them."""
        for occ in self.index.of(category, name):
            if occ.span == span and occ.name_span is not None:
                return occ.name_span
        return span

    def _piece(
        self,
        name: str,
        kind: str,
        detail: str | None,
        whole: Span,
        selection: Span,
        children: list[_Node] = (),  # type: ignore[assignment]
    ) -> _Node:
        # The outline needs the name inside the range it selects.
        if not _inside(selection, whole):
            selection = whole
        return _Node(name, kind, detail, whole, selection, list(children))

    def kinds(self) -> list[_Node]:
        pieces = []
        for kind in self.model.kinds.values():
            detail = _kind_detail(kind)
            fields = [
                self._field(f)
                for f in kind.fields
                if f.span.path == self.rel and f.name != OPAQUE
            ]
            own = []
            for site in kind.sites:
                if site.span.path != self.rel:
                    continue
                whole = self._binding(site.span)
                inner = [f for f in fields if _inside(f.range, whole)]
                own.append(whole)
                pieces.append(
                    self._piece(
                        kind.name,
                        "kind",
                        detail,
                        whole,
                        self._name("kind", kind.name, site.span),
                        inner,
                    )
                )
            for f in fields:
                # A field the reader found outside every definition it knows
                # of the kind still belongs to the kind in the outline.
                if not any(_inside(f.range, whole) for whole in own):
                    pieces.append(
                        self._piece(
                            kind.name, "kind", detail, f.range, f.selection, [f]
                        )
                    )
        return pieces

    def _field(self, f) -> _Node:
        binding = self.syntax.node(f.span)
        selection = f.span
        if binding is not None and binding.type == "binding":
            attrpath = binding.child_by_field_name("attrpath")
            attrs = attrpath.children_by_field_name("attr") if attrpath else []
            for attr in attrs:
                if self.syntax.text(self.rel, attr) == f.name:
                    selection = self.syntax.span(self.rel, attr)
        return self._piece(f.name, "field", _literal(f.value), f.span, selection)

    def policies(self) -> list[_Node]:
        pieces = []
        for policy in self.model.policies.values():
            if policy.span.path != self.rel:
                continue
            kinds = sorted(self.model.fires_at(policy.policy_id))
            fires = f"fires at {', '.join(kinds)}" if kinds else None
            if policy.registered:
                whole = self._binding(policy.span)
                selection = self._name("policy", policy.policy_id, policy.span)
                name, detail = policy.policy_id.rsplit(".", 1)[-1], fires
                if "." in policy.policy_id:
                    owner = policy.policy_id.rsplit(".policies.", 1)[0]
                    detail = ", ".join(filter(None, (f"policy of {owner}", fires)))
            else:
                whole = selection = policy.span
                name = policy.name or "inline policy"
                detail = ", ".join(filter(None, ("inline", fires)))
            effects = [
                self._effect(e)
                for e in policy.effects
                if e.span.path == self.rel and _inside(e.span, whole)
            ]
            pieces.append(
                self._piece(name, "policy", detail, whole, selection, effects)
            )
        return pieces

    def _effect(self, effect: Effect) -> _Node:
        call = self.syntax.call(effect.span)
        whole = self.syntax.span(self.rel, call) if call is not None else effect.span
        return self._piece(
            effect.constructor, "effect", effect_summary(effect), whole, effect.span
        )

    def aspects(self) -> list[_Node]:
        keys: dict[str, list[tuple[str, Span]]] = defaultdict(list)
        for aspect in self.model.aspects:
            if aspect.span.path == self.rel:
                keys[".".join(aspect.path)] += aspect.keys
        definitions = [
            (occ, self._binding(occ.span))
            for occ in self.index.in_file(self.rel)
            if occ.category == "aspect" and occ.definition
        ]
        # A key whose binding defines a sub-aspect is shown as that aspect.
        written = {(w.start_byte, w.end_byte): o.name for o, w in definitions}
        pieces = []
        for occ, whole in definitions:
            children = []
            for key, span in dict.fromkeys(keys[occ.name]):
                binding = self._binding(span)
                if not _inside(span, whole):
                    continue
                defined = written.get((binding.start_byte, binding.end_byte))
                if defined not in (None, occ.name):
                    continue
                children.append(
                    self._piece(key, "key", None, binding, self._key(key, span))
                )
            pieces.append(
                self._piece(
                    occ.name,
                    "aspect",
                    None,
                    whole,
                    occ.name_span or occ.span,
                    children,
                )
            )
        return pieces

    def _key(self, key: str, span: Span) -> Span:
        """Where an aspect's key is written in the binding that writes it."""
        binding = self.syntax.binding_of(span)
        attrpath = binding.child_by_field_name("attrpath") if binding else None
        for attr in attrpath.children_by_field_name("attr") if attrpath else ():
            found = self.syntax.written_name(self.rel, attr)
            if found is not None and found[0] == key:
                return self.syntax.span(self.rel, attr)
        return span

    def classes(self) -> list[_Node]:
        return [
            self._piece(
                name,
                "class",
                None,
                self._binding(decl.span),
                self._name("class", name, decl.span),
            )
            for name, decls in self.model.classes.items()
            for decl in decls
            if decl.span.path == self.rel
        ]

    def hosts(self) -> list[_Node]:
        pieces = []
        for host in self.model.hosts:
            if host.span.path != self.rel:
                continue
            whole = self._binding(host.span)
            users = [
                self._piece(
                    user,
                    "user",
                    None,
                    self._binding(span),
                    self._name("user", user, span),
                )
                for user, span in host.user_spans
                if span.path == self.rel
            ]
            whole = _union([whole, *(u.range for u in users)])
            system = host.system if isinstance(host.system, str) else None
            pieces.append(
                self._piece(
                    host.name,
                    "host",
                    system,
                    whole,
                    self._name("host", host.name, host.span),
                    users,
                )
            )
        return pieces

    def homes(self) -> list[_Node]:
        return [
            self._piece(
                home.name,
                "home",
                home.system if isinstance(home.system, str) else None,
                self._binding(home.span),
                home.span,
            )
            for home in self.model.homes
            if home.span.path == self.rel
        ]


def _literal(value: Literal) -> str | None:
    if value is UNKNOWN:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "null"
    if isinstance(value, tuple):
        return f"[ {len(value)} item{'s' if len(value) != 1 else ''} ]"
    return str(value)


def _kind_detail(kind) -> str | None:
    marks = []
    if kind.is_entity:
        marks.append("entity")
    if kind.isolated:
        marks.append("isolated")
    if kind.parent:
        marks.append(f"parent {kind.parent}")
    return ", ".join(marks) or None


def effect_summary(effect: Effect) -> str | None:
    """One line for an effect: what it creates, or what it moves where."""
    if effect.family == "resolve":
        parts = []
        if isinstance(effect.target_kind, str):
            parts.append(f'"{effect.target_kind}"')
        if effect.binding_keys:
            parts.append("{ " + ", ".join(effect.binding_keys) + " }")
        return " ".join(parts) or None
    if effect.family in ("route", "deliver"):
        source = _class(effect, "fromClass", "from")
        target = _class(effect, "intoClass", "to")
        path = route_path(effect)
        where = render_path(path) if path != () else "the class root"
        return f"{source} → {target} · {where}"
    if effect.family == "provide":
        return _class(effect, "class")
    return None


def _class(effect: Effect, *names: str) -> str:
    for name in names:
        f = effect.field(name)
        if f is not None:
            return f.value if isinstance(f.value, str) else "?"
    return "?"


# -- workspace symbols ---------------------------------------------------------------------


@dataclass(frozen=True)
class WorkspaceHit:
    name: str
    category: str
    span: Span
    container: str
    score: float


def workspace_symbols(project: Project, query: str) -> list[WorkspaceHit]:
    """Every kind, policy, aspect, class and host whose name matches ``query``."""
    candidates: list[tuple[str, str, Span]] = []
    for unit in project.models():
        index = index_of(project, unit)
        for category, name in index.names():
            if category not in CONTAINERS:
                continue
            seen: set[str] = set()
            for occ in index.of(category, name):
                if occ.definition and occ.span.path not in seen:
                    seen.add(occ.span.path)
                    candidates.append((name, category, occ.name_span or occ.span))
    if not query.strip():
        scored = [(c, 100.0) for c in candidates]
    else:
        matches = process.extract(
            query,
            [c[0] for c in candidates],
            scorer=fuzz.WRatio,
            processor=utils.default_process,
            score_cutoff=MATCH_CUTOFF,
            limit=None,
        )
        scored = [(candidates[position], score) for _, score, position in matches]
    hits = [
        WorkspaceHit(name, category, span, CONTAINERS[category], score)
        for (name, category, span), score in scored
    ]
    hits.sort(key=lambda h: (-h.score, h.name, h.category, h.span.path))
    return hits[:MAX_RESULTS]


# -- the protocol ----------------------------------------------------------------------------


KindOf = Callable[[str], types.SymbolKind]


def symbol_kinds(supported: list[int] | None) -> KindOf:
    """den's symbol kinds as a client that supports ``supported`` can show them."""
    known = set(supported) if supported else _BASE_KINDS

    def kind_of(category: str) -> types.SymbolKind:
        kind = SYMBOL_KINDS[category]
        if kind not in known:
            kind = _FALLBACK_KINDS.get(kind, types.SymbolKind.Variable)
        return kind

    return kind_of


def _document_symbol(symbol: Symbol, kind_of: KindOf) -> types.DocumentSymbol:
    return types.DocumentSymbol(
        name=symbol.name,
        kind=kind_of(symbol.kind),
        detail=symbol.detail,
        range=to_range(symbol.range),
        selection_range=to_range(symbol.selection),
        children=[_document_symbol(c, kind_of) for c in symbol.children] or None,
    )


def _flat(
    symbols: list[Symbol], uri: str, kind_of: KindOf, container: str | None = None
):
    for symbol in symbols:
        yield types.SymbolInformation(
            name=symbol.name,
            kind=kind_of(symbol.kind),
            location=types.Location(uri=uri, range=to_range(symbol.range)),
            container_name=container,
        )
        yield from _flat(list(symbol.children), uri, kind_of, symbol.name)


def _document_capabilities(ls: "DenLanguageServer"):
    capabilities = ls.client_capabilities.text_document
    return capabilities.document_symbol if capabilities is not None else None


def _hierarchical(ls: "DenLanguageServer") -> bool:
    symbols = _document_capabilities(ls)
    return bool(symbols and symbols.hierarchical_document_symbol_support)


def _supported(capability) -> list[int] | None:
    kinds = capability.symbol_kind if capability is not None else None
    return list(kinds.value_set) if kinds and kinds.value_set else None


def _workspace_capabilities(ls: "DenLanguageServer"):
    capabilities = ls.client_capabilities.workspace
    return capabilities.symbol if capabilities is not None else None


async def _on_workspace(
    ls: "DenLanguageServer", answer: Callable[[list[Project]], Any]
) -> Any:
    """``answer(projects)`` on the analysis thread, for requests without a document.

    The workspace's project and the projects of documents opened from
    outside it are the server's own state, read only on its analysis thread.
    Edits not yet handed to analysis go first, as for document requests, so
    a search right after typing finds the names as typed.
    """
    waiting = set(ls._timers) | set(ls._pending)
    for uri in waiting:
        ls._flush(uri)
    if waiting:
        await asyncio.sleep(0)  # let the flushes hand their text to the thread

    def job() -> Any:
        if not ls._ready:
            return None
        projects = [p for p in (ls._project, *ls._loose.values()) if p is not None]
        try:
            return answer(projects)
        except Exception:
            log.exception("workspace symbol search failed")
            return None

    try:
        return await asyncio.get_running_loop().run_in_executor(ls._analysis, job)
    except RuntimeError:  # the executor is shut down: the session is over
        return None


def register(server: "DenLanguageServer") -> None:
    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    async def document_symbol(
        ls: "DenLanguageServer", params: types.DocumentSymbolParams
    ):
        uri = params.text_document.uri
        hierarchical = _hierarchical(ls)
        kind_of = symbol_kinds(_supported(_document_capabilities(ls)))

        def answer(project: Project, rel: str):
            symbols = document_symbols(project, rel)
            if hierarchical:
                return [_document_symbol(s, kind_of) for s in symbols]
            return list(_flat(symbols, uri, kind_of))

        return await ls.query(uri, answer) or []

    @server.feature(types.WORKSPACE_SYMBOL)
    async def workspace_symbol(
        ls: "DenLanguageServer", params: types.WorkspaceSymbolParams
    ):
        kind_of = symbol_kinds(_supported(_workspace_capabilities(ls)))

        def answer(projects: list[Project]):
            found = []
            for project in projects:
                uri_of = ls.uri_function(project)
                found += [
                    (
                        hit.score,
                        types.SymbolInformation(
                            name=hit.name,
                            kind=kind_of(hit.category),
                            location=types.Location(
                                uri=uri_of(hit.span.path), range=to_range(hit.span)
                            ),
                            container_name=hit.container,
                        ),
                    )
                    for hit in workspace_symbols(project, params.query)
                ]
            found.sort(key=lambda item: (-item[0], item[1].name))
            return [symbol for _, symbol in found[:MAX_RESULTS]]

        return await _on_workspace(ls, answer) or []
