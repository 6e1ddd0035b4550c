"""Where den's names are written: the index editor features navigate by.

den links files through attribute paths rather than imports: a kind
declared as ``den.schema.guest`` in one file is used by ``resolve.to
"guest"`` in another. The index lists every place a kind, policy, aspect,
class, host or user is defined or used, with the exact characters of the name
where it can be renamed.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from dataclasses import dataclass, field

import tree_sitter

from den_lsp.facts.types import Effect, Policy
from den_lsp.features.project import Project
from den_lsp.model.builtins import BUILTIN_CLASSES
from den_lsp.model.model import Model
from den_lsp.syntax.span import Span

CATEGORIES = ("kind", "policy", "aspect", "class", "host", "user")

Node = tree_sitter.Node


@dataclass(frozen=True)
class Occurrence:
    category: str
    name: str
    span: Span
    definition: bool
    # Exactly the characters of the name (inside quotes for a string), or
    # None where the name is computed (`${guestKind}`, an alias bound in a
    # `let`) and cannot be renamed. For an aspect path and an aspect-local
    # policy, the characters of the last element.
    name_span: Span | None
    # An aspect path's elements as written (`roles` and `inference` in
    # `den.aspects.roles.inference`), each None where it is computed; empty
    # for the other categories, or when the path cannot be read element by
    # element.
    segments: tuple[Span | None, ...] = ()


@dataclass
class SymbolIndex:
    unit: str
    model: Model
    occurrences: list[Occurrence] = field(default_factory=list)
    # Resolve binding keys that name a kind (`{ guest = ...; }`): the context
    # key a policy argument reads. Found by ``at`` and ``context_keys``; kept
    # out of ``of`` so that counts of a kind's uses stay counts of the places
    # that name the kind itself.
    bindings: list[Occurrence] = field(default_factory=list)
    _by_file: dict[str, list[Occurrence]] = field(default_factory=dict)
    _by_name: dict[tuple[str, str], list[Occurrence]] = field(default_factory=dict)
    _keys: dict[str, list[Occurrence]] = field(default_factory=dict)
    _aspect_names: list[str] | None = None  # sorted, read on first use

    def finish(self) -> "SymbolIndex":
        by_file: dict[str, list[Occurrence]] = defaultdict(list)
        by_name: dict[tuple[str, str], list[Occurrence]] = defaultdict(list)
        seen: set[tuple] = set()
        for occ in self.occurrences:
            key = (occ.category, occ.name, occ.span, occ.definition)
            if key in seen:
                continue
            seen.add(key)
            by_file[occ.span.path].append(occ)
            by_name[(occ.category, occ.name)].append(occ)
        for items in by_file.values():
            items.sort(key=lambda o: (o.span.start_byte, -o.span.end_byte))
        self.occurrences = [o for items in by_name.values() for o in items]
        keys: dict[str, list[Occurrence]] = defaultdict(list)
        for occ in dict.fromkeys(self.bindings):
            by_file[occ.span.path].append(occ)
            keys[occ.name].append(occ)
        self._keys = {name: sorted(items, key=_place) for name, items in keys.items()}
        self._by_file = dict(by_file)
        self._by_name = dict(by_name)
        return self

    def at(self, path: str, offset: int) -> Occurrence | None:
        """The innermost occurrence covering byte ``offset`` of ``path``."""
        found = None
        for occ in self._by_file.get(path, ()):
            if occ.span.start_byte <= offset <= occ.span.end_byte:
                if found is None or occ.span.end_byte - occ.span.start_byte <= (
                    found.span.end_byte - found.span.start_byte
                ):
                    found = occ
        return found

    def of(self, category: str, name: str) -> list[Occurrence]:
        return sorted(self._by_name.get((category, name), ()), key=_place)

    def context_keys(self, kind: str) -> list[Occurrence]:
        """Resolve binding keys named ``kind``: ``guest`` in ``{ guest = g; }``."""
        return list(self._keys.get(kind, ()))

    def in_file(self, path: str) -> list[Occurrence]:
        return list(self._by_file.get(path, ()))

    def names(self) -> list[tuple[str, str]]:
        return sorted(self._by_name)

    def aspects_under(self, path: str) -> list[str]:
        """``path`` and the aspect paths below it with occurrences, sorted."""
        if self._aspect_names is None:
            self._aspect_names = sorted(n for c, n in self._by_name if c == "aspect")
        names = self._aspect_names
        # Those below it are a run of the sorted names, after `path` itself.
        start = bisect.bisect_left(names, path + ".")
        end = bisect.bisect_left(names, path + ".\U0010ffff", start)
        own = [path] if ("aspect", path) in self._by_name else []
        return own + names[start:end]


def _place(occ: Occurrence) -> tuple[str, int]:
    return occ.span.path, occ.span.start_byte


def index_of(project: Project, unit: str) -> SymbolIndex:
    """The (cached) index of one configuration of ``project``."""
    model = project.models()[unit]
    cached = model.cache.get("symbols")
    if cached is None:
        cached = _build(project, unit, model)
        model.cache["symbols"] = cached
    return cached


def index_for(project: Project, rel: str) -> SymbolIndex | None:
    unit = project.unit_of(rel)
    if unit not in project.models():
        return None
    return index_of(project, unit)


# -- reading names in the syntax tree -------------------------------------------


class Syntax:
    """The project's syntax trees, for finding the characters of a name."""

    def __init__(self, project: Project):
        self.project = project

    def node(self, span: Span) -> Node | None:
        """The deepest node covering exactly ``span``, or None."""
        state = self.project.files.get(span.path)
        if state is None or state.tree is None:
            return None
        node = state.tree.root.descendant_for_byte_range(span.start_byte, span.end_byte)
        if node is None:
            return None
        if (node.start_byte, node.end_byte) != (span.start_byte, span.end_byte):
            return None
        return node

    def call(self, span: Span) -> Node | None:
        """The whole call whose function is written at ``span``, arguments included.

        From a constructor's name (`route` in `route { ... }`), up through the
        nodes that cover exactly the same characters, then through every
        application of which it is the function.
        """
        node = self.node(span)
        while (
            node is not None
            and node.parent is not None
            and (node.parent.start_byte, node.parent.end_byte)
            == (node.start_byte, node.end_byte)
        ):
            node = node.parent
        while (
            node is not None
            and node.parent is not None
            and node.parent.type == "apply_expression"
            and node.parent.child_by_field_name("function") == node
        ):
            node = node.parent
        return node

    def span(self, path: str, node: Node) -> Span:
        return self.project.files[path].index.span(path, node.start_byte, node.end_byte)

    def text(self, path: str, node: Node) -> str:
        source = self.project.files[path].source
        return source[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def written_name(self, path: str, node: Node) -> tuple[str, Node] | None:
        """The name an attribute or string node spells, and the node of its characters.

        ``guest`` for an identifier, ``"guest"`` (the fragment inside the
        quotes) for a plain string; None for anything interpolated.
        """
        if node.type == "identifier":
            return self.text(path, node), node
        if node.type == "string_expression":
            inner = [c for c in node.children if c.type not in ('"',)]
            if len(inner) == 1 and inner[0].type == "string_fragment":
                return self.text(path, inner[0]), inner[0]
            if not inner and node.child_count == 2:
                return "", node  # an empty string: no characters to rename
        return None

    def name_chars(self, span: Span, name: str) -> Span | None:
        """Where ``name`` is written at ``span``, if it is written plainly.

        An attribute name or formal (`guest`), a string (`"guest"`), or the
        last element of an attribute path (`den.policies.guest`). A variable
        is not the name itself but a reference to a binding elsewhere, so it
        gives None, as does anything computed.
        """
        node = self.node(span)
        if node is None:
            return None
        if node.type == "identifier" and node.parent is not None:
            if node.parent.type == "variable_expression":
                return None
        if node.type == "variable_expression":
            return None
        if node.type == "select_expression":
            written = self.select_path(span.path, node)
            if not written or written[-1][0] != name:
                return None
            last = written[-1][1]
            found = self.written_name(span.path, last)
            return self.span(span.path, found[1]) if found else None
        found = self.written_name(span.path, node)
        if found is None or found[0] != name:
            return None
        return self.span(span.path, found[1])

    def select_path(
        self, path: str, node: Node
    ) -> list[tuple[str | None, Node]] | None:
        """``den.aspects.a.b`` as its elements: each name (None if computed) and node."""
        while node.type == "parenthesized_expression":
            inner = node.child_by_field_name("expression")
            if inner is None:
                return None
            node = inner
        if node.type == "variable_expression":
            name = node.child_by_field_name("name")
            return [(self.text(path, name), name)] if name is not None else None
        if node.type != "select_expression":
            return None
        head = node.child_by_field_name("expression")
        attrpath = node.child_by_field_name("attrpath")
        if head is None or attrpath is None:
            return None
        written = self.select_path(path, head)
        if written is None:
            return None
        return written + self._attrs(path, attrpath)

    def _attrs(self, path: str, attrpath: Node) -> list[tuple[str | None, Node]]:
        attrs = []
        for attr in attrpath.children_by_field_name("attr"):
            found = self.written_name(path, attr)
            attrs.append((found[0] if found else None, attr))
        return attrs

    def definition_path(
        self, path: str, node: Node
    ) -> list[tuple[str | None, Node]] | None:
        """The full attribute path a module binding writes, from the module's top.

        ``node`` is an attribute name inside a binding; climbing through the
        enclosing bindings gives e.g. ``den``, ``aspects``, ``berg``,
        ``nixos`` for ``den.aspects.berg = { nixos = ...; }``. None when the
        binding sits in a ``let`` (its path is not an option path).
        """
        written: list[tuple[str | None, Node]] = []
        current: Node | None = node
        while current is not None:
            if current.type == "binding":
                holder = current.parent.parent if current.parent else None
                if holder is not None and holder.type == "let_expression":
                    return None
                attrpath = current.child_by_field_name("attrpath")
                if attrpath is not None:
                    written[:0] = self._attrs(path, attrpath)
            current = current.parent
        return written

    def binding_of(self, span: Span) -> Node | None:
        """The binding (``name = value;``) that writes the name at ``span``."""
        state = self.project.files.get(span.path)
        if state is None or state.tree is None:
            return None
        node = state.tree.root.descendant_for_byte_range(span.start_byte, span.end_byte)
        while node is not None and node.type not in ("binding", "inherit"):
            if node.type == "inherit_from":
                return node
            node = node.parent
        return node


def den_path(
    written: list[tuple[str | None, Node]], section: str
) -> list[tuple[str | None, Node]] | None:
    """The elements after ``den.<section>`` (``config.`` allowed in front)."""
    names = [name for name, _ in written]
    start = 1 if names[:1] == ["config"] else 0
    if names[start : start + 2] != ["den", section]:
        return None
    return written[start + 2 :]


# -- building the index ---------------------------------------------------------------


def _build(project: Project, unit: str, model: Model) -> SymbolIndex:
    syntax = Syntax(project)
    index = SymbolIndex(unit, model)
    add = index.occurrences.append

    def occurrence(category: str, name: str, span: Span, definition: bool) -> None:
        add(Occurrence(category, name, span, definition, syntax.name_chars(span, name)))

    kinds = set(model.kinds)
    for kind in model.kinds.values():
        for site in kind.sites:
            occurrence("kind", kind.name, site.span, True)
        for f in kind.values("parent"):
            if isinstance(f.value, str):
                occurrence("kind", f.value, f.value_span, False)

    for policy in model.policies.values():
        if policy.registered and policy.name:
            _policy_occurrence(syntax, add, policy.policy_id, policy.span, True)
        for name, span in policy.arg_spans:
            if name in kinds:
                occurrence("kind", name, span, False)
        for effect in policy.effects:
            _effect_occurrences(effect, occurrence, kinds)
            for name, span in effect.binding_spans:
                if name in kinds:
                    key = Occurrence(
                        "kind", name, span, False, syntax.name_chars(span, name)
                    )
                    index.bindings.append(key)

    refs = [(inc.item.target, inc.item.span) for inc in model.includes]
    for policy in model.policies.values():
        for effect in policy.effects:
            refs.extend((ref.target, ref.span) for ref in effect.with_includes)
    for target, span in refs:
        if target[0] == "policy":
            _policy_occurrence(syntax, add, target[1], span, False)
        elif target[0] == "aspect":
            add(_aspect_reference(syntax, target[1:], span))

    class_names = set(model.classes) | BUILTIN_CLASSES
    for name, decls in model.classes.items():
        for decl in decls:
            occurrence("class", name, decl.span, True)
    for aspect in model.aspects:
        _aspect_definition(syntax, add, occurrence, aspect, class_names)

    for host in model.hosts:
        occurrence("host", host.name, host.span, True)
        for user, span in host.user_spans:
            occurrence("user", user, span, True)
    return index.finish()


def _effect_occurrences(effect: Effect, occurrence, kinds: set[str]) -> None:
    if effect.family == "resolve":
        if isinstance(effect.target_kind, str) and effect.target_span is not None:
            occurrence("kind", effect.target_kind, effect.target_span, False)
        return
    for field_name in ("fromClass", "intoClass", "from", "to", "class"):
        f = effect.field(field_name)
        if f is not None and isinstance(f.value, str):
            occurrence("class", f.value, f.value_span, False)
    f = effect.field("collectScopeId")
    if f is not None and isinstance(f.value, str) and f.value in kinds:
        occurrence("kind", f.value, f.value_span, False)


def _policy_occurrence(
    syntax: Syntax, add, policy_id: str, span: Span, definition: bool
) -> None:
    """A policy, named by its last element: ``x`` of ``den.aspects.a.policies.x``."""
    last = policy_id.rsplit(".", 1)[-1]
    name_span = syntax.name_chars(span, last)
    node = syntax.node(span)
    if name_span is not None and node is not None and not definition:
        # A reference must spell the policy's whole path, not an alias.
        written = syntax.select_path(span.path, node)
        names = [n for n, _ in written or ()]
        if names[:1] == ["config"]:
            names = names[1:]
        if ".".join(names) not in (f"den.policies.{policy_id}", policy_id):
            name_span = None
    add(Occurrence("policy", policy_id, span, definition, name_span))


def _segments(
    syntax: Syntax, path: str, elements: list[tuple[str | None, Node]]
) -> tuple[Span | None, ...]:
    spans = []
    for _, node in elements:
        found = syntax.written_name(path, node)
        spans.append(syntax.span(path, found[1]) if found and found[0] else None)
    return tuple(spans)


def _aspect_reference(syntax: Syntax, path: tuple[str, ...], span: Span) -> Occurrence:
    name = ".".join(path)
    node = syntax.node(span)
    written = syntax.select_path(span.path, node) if node is not None else None
    elements = den_path(written, "aspects") if written else None
    if elements is None or [n for n, _ in elements] != list(path):
        return Occurrence("aspect", name, span, False, None)
    segments = _segments(syntax, span.path, elements)
    return Occurrence("aspect", name, span, False, segments[-1], segments)


def _aspect_definition(syntax: Syntax, add, occurrence, aspect, class_names) -> None:
    """The aspect's name where a definition writes it, and its class keys."""
    name = ".".join(aspect.path)
    node = syntax.node(aspect.span)
    written = (
        syntax.definition_path(aspect.span.path, node) if node is not None else None
    )
    elements = den_path(written, "aspects") if written else None
    depth = len(aspect.path)
    if elements is None or [n for n, _ in elements[:depth]] != list(aspect.path):
        add(Occurrence("aspect", name, aspect.span, True, None))
        for key, span in aspect.keys:
            if key in class_names:
                occurrence("class", key, span, False)
        return
    path = aspect.span.path
    segments = _segments(syntax, path, elements[:depth])
    last = syntax.span(path, elements[depth - 1][1])
    add(Occurrence("aspect", name, last, True, segments[-1], segments))
    if len(elements) > depth:
        key, key_node = elements[depth]
        if key in class_names:
            occurrence("class", key, syntax.span(path, key_node), False)


def effect_at(model: Model, rel: str, offset: int) -> tuple[Effect, Policy] | None:
    """The effect whose constructor is written at ``offset``, with its policy."""
    for policy in model.policies.values():
        for effect in policy.effects:
            span = effect.span
            if span.path == rel and span.start_byte <= offset <= span.end_byte:
                return effect, policy
    return None


def offset_at(project: Project, rel: str, line: int, character: int) -> int | None:
    state = project.files.get(rel)
    if state is None:
        return None
    return state.index.offset(line, character)


__all__ = [
    "CATEGORIES",
    "Occurrence",
    "SymbolIndex",
    "Syntax",
    "den_path",
    "effect_at",
    "index_for",
    "index_of",
    "offset_at",
]
