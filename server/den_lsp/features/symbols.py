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
    index = index_for(project, rel)
    state = project.files.get(rel)
    if index is None or state is None or state.tree is None:
        return []
    outline = _Outline(Syntax(project), index, rel)
    symbols = [
        *outline.kinds(),
        *outline.policies(),
        *outline.aspects(),
        *outline.classes(),
        *outline.hosts(),
    ]
    return sorted(symbols, key=lambda s: (s.range.start_byte, s.name))


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

    def _union(self, spans: list[Span]) -> Span:
        first = min(spans, key=lambda s: s.start_byte)
        last = max(spans, key=lambda s: s.end_byte)
        return Span(
            self.rel,
            first.start_byte,
            last.end_byte,
            first.start_line,
            first.start_character,
            last.end_line,
            last.end_character,
        )

    def _name(self, category: str, name: str, span: Span) -> Span:
        """The characters of the name at ``span``, when the index has them."""
        for occ in self.index.of(category, name):
            if occ.span == span and occ.name_span is not None:
                return occ.name_span
        return span

    def kinds(self) -> list[Symbol]:
        symbols = []
        for kind in self.model.kinds.values():
            sites = [s for s in kind.sites if s.span.path == self.rel]
            if not sites:
                continue
            whole = self._union([self._binding(s.span) for s in sites])
            fields = [
                self._field(f)
                for f in kind.fields
                if f.span.path == self.rel and f.name != OPAQUE
            ]
            symbols.append(
                Symbol(
                    kind.name,
                    "kind",
                    _kind_detail(kind),
                    self._union([whole, *(f.range for f in fields)]),
                    self._name("kind", kind.name, sites[0].span),
                    tuple(sorted(fields, key=lambda f: f.range.start_byte)),
                )
            )
        return symbols

    def _field(self, f) -> Symbol:
        binding = self.syntax.node(f.span)
        selection = f.span
        if binding is not None and binding.type == "binding":
            attrpath = binding.child_by_field_name("attrpath")
            attrs = attrpath.children_by_field_name("attr") if attrpath else []
            for attr in attrs:
                if self.syntax.text(self.rel, attr) == f.name:
                    selection = self.syntax.span(self.rel, attr)
        return Symbol(f.name, "field", _literal(f.value), f.span, selection)

    def policies(self) -> list[Symbol]:
        symbols = []
        for policy in self.model.policies.values():
            if policy.span.path != self.rel:
                continue
            if policy.registered:
                whole = self._binding(policy.span)
                selection = self._name("policy", policy.policy_id, policy.span)
                name, detail = policy.policy_id.rsplit(".", 1)[-1], None
                if "." in policy.policy_id:
                    owner = policy.policy_id.rsplit(".policies.", 1)[0]
                    detail = f"policy of {owner}"
            else:
                whole = selection = policy.span
                name = policy.name or "inline policy"
                detail = "inline"
            effects = tuple(
                self._effect(e)
                for e in policy.effects
                if e.span.path == self.rel
                and whole.start_byte <= e.span.start_byte < whole.end_byte
            )
            symbols.append(Symbol(name, "policy", detail, whole, selection, effects))
        return symbols

    def _effect(self, effect: Effect) -> Symbol:
        call = self.syntax.node(effect.span)
        while (
            call is not None
            and call.parent is not None
            and (call.parent.start_byte, call.parent.end_byte)
            == (call.start_byte, call.end_byte)
        ):
            call = call.parent  # from `route`'s identifier to the expression
        while (
            call is not None
            and call.parent is not None
            and call.parent.type == "apply_expression"
            and call.parent.child_by_field_name("function") == call
        ):
            call = call.parent
        whole = self.syntax.span(self.rel, call) if call is not None else effect.span
        return Symbol(
            effect.constructor, "effect", effect_summary(effect), whole, effect.span
        )

    def aspects(self) -> list[Symbol]:
        by_path: dict[str, list] = defaultdict(list)
        for occ in self.index.in_file(self.rel):
            if occ.category == "aspect" and occ.definition:
                by_path[occ.name].append(occ)
        keys: dict[str, dict[str, list[Span]]] = defaultdict(lambda: defaultdict(list))
        for aspect in self.model.aspects:
            if aspect.span.path == self.rel:
                for key, span in aspect.keys:
                    keys[".".join(aspect.path)][key].append(span)
        symbols = []
        for path, occurrences in by_path.items():
            ranges = [self._binding(o.span) for o in occurrences]
            children = tuple(
                sorted(
                    (
                        Symbol(
                            key,
                            "key",
                            None,
                            self._union([self._binding(s) for s in spans]),
                            self._key(key, spans[0]),
                        )
                        for key, spans in keys[path].items()
                    ),
                    key=lambda s: s.range.start_byte,
                )
            )
            first = min(occurrences, key=lambda o: o.span.start_byte)
            symbols.append(
                Symbol(
                    path,
                    "aspect",
                    None,
                    self._union(ranges + [c.range for c in children]),
                    first.name_span or first.span,
                    children,
                )
            )
        return symbols

    def _key(self, key: str, span: Span) -> Span:
        """Where an aspect's key is written in the binding that writes it."""
        binding = self.syntax.binding_of(span)
        attrpath = binding.child_by_field_name("attrpath") if binding else None
        for attr in attrpath.children_by_field_name("attr") if attrpath else ():
            found = self.syntax.written_name(self.rel, attr)
            if found is not None and found[0] == key:
                return self.syntax.span(self.rel, attr)
        return span

    def classes(self) -> list[Symbol]:
        symbols = []
        for name, decls in self.model.classes.items():
            spans = [d.span for d in decls if d.span.path == self.rel]
            if spans:
                symbols.append(
                    Symbol(
                        name,
                        "class",
                        None,
                        self._union([self._binding(s) for s in spans]),
                        self._name("class", name, spans[0]),
                    )
                )
        return symbols

    def hosts(self) -> list[Symbol]:
        by_name: dict[str, list] = defaultdict(list)
        for host in self.model.hosts:
            if host.span.path == self.rel:
                by_name[host.name].append(host)
        symbols = []
        for name, hosts in by_name.items():
            users = tuple(
                Symbol(
                    user,
                    "user",
                    None,
                    self._binding(span),
                    self._name("user", user, span),
                )
                for host in hosts
                for user, span in host.user_spans
                if span.path == self.rel
            )
            ranges = [self._binding(h.span) for h in hosts]
            symbols.append(
                Symbol(
                    name,
                    "host",
                    _host_detail(hosts),
                    self._union(ranges + [u.range for u in users]),
                    self._name("host", name, hosts[0].span),
                    users,
                )
            )
        return symbols


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


def _host_detail(hosts) -> str | None:
    for host in hosts:
        if isinstance(host.system, str):
            return host.system
    return None


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
            location=types.Location(uri=uri, range=to_range(symbol.selection)),
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
    """

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
