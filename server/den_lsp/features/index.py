"""Where den's names are written: the index editor features navigate by.

den links files through attribute paths rather than imports: a kind
declared as ``den.schema.guest`` in one file is used by ``resolve.to
"guest"`` in another. The index lists every place a kind, policy, aspect,
class, host or user is defined or used, with the exact characters of the name
where it can be renamed.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from den_lsp.facts.types import Effect, Policy
from den_lsp.features.project import Project
from den_lsp.model.builtins import BUILTIN_CLASSES
from den_lsp.model.model import Model
from den_lsp.syntax.span import Span

CATEGORIES = ("kind", "policy", "aspect", "class", "host", "user")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_'-]*")


@dataclass(frozen=True)
class Occurrence:
    category: str
    name: str
    span: Span
    definition: bool
    # Exactly the characters of the name (inside quotes for a string), or
    # None where the name is computed (`${guestKind}`) and cannot be renamed.
    name_span: Span | None


@dataclass
class SymbolIndex:
    unit: str
    model: Model
    occurrences: list[Occurrence] = field(default_factory=list)
    _by_file: dict[str, list[Occurrence]] = field(default_factory=dict)
    _by_name: dict[tuple[str, str], list[Occurrence]] = field(default_factory=dict)

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
        return sorted(
            self._by_name.get((category, name), ()),
            key=lambda o: (o.span.path, o.span.start_byte),
        )

    def in_file(self, path: str) -> list[Occurrence]:
        return list(self._by_file.get(path, ()))

    def names(self) -> list[tuple[str, str]]:
        return sorted(self._by_name)


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


class _Texts:
    """Source text of the project's files, for locating names inside spans."""

    def __init__(self, project: Project):
        self.project = project

    def text(self, span: Span) -> str:
        state = self.project.files.get(span.path)
        if state is None:
            return ""
        return state.source[span.start_byte : span.end_byte].decode("utf-8", "replace")

    def sub_span(self, span: Span, start: int, end: int) -> Span:
        """The part of ``span`` from byte ``start`` to ``end`` (relative)."""
        state = self.project.files[span.path]
        return state.index.span(
            span.path, span.start_byte + start, span.start_byte + end
        )

    def name_span(self, span: Span, name: str) -> Span | None:
        """Where ``name`` itself is written in ``span``, if it is written plainly.

        An identifier (`guest`), a string (`"guest"`), or the last element of
        an attribute path (`den.policies.guest`); None for anything computed.
        """
        text = self.text(span)
        encoded = name.encode()
        raw = text.encode()
        if raw == encoded and _IDENTIFIER.fullmatch(name):
            return span
        if raw == b'"' + encoded + b'"':
            return self.sub_span(span, 1, 1 + len(encoded))
        for suffix in (b"." + encoded, b'."' + encoded + b'"'):
            if raw.endswith(suffix):
                start = len(raw) - len(encoded) - (1 if suffix.endswith(b'"') else 0)
                return self.sub_span(span, start, start + len(encoded))
        return None


def _build(project: Project, unit: str, model: Model) -> SymbolIndex:
    texts = _Texts(project)
    index = SymbolIndex(unit, model)
    add = index.occurrences.append

    def occurrence(category: str, name: str, span: Span, definition: bool) -> None:
        add(Occurrence(category, name, span, definition, texts.name_span(span, name)))

    kinds = set(model.kinds)
    for kind in model.kinds.values():
        for site in kind.sites:
            occurrence("kind", kind.name, site.span, True)
        for f in kind.values("parent"):
            if isinstance(f.value, str):
                occurrence("kind", f.value, f.value_span, False)

    for policy in model.policies.values():
        if policy.registered and policy.name:
            occurrence("policy", policy.policy_id, policy.span, True)
        for name, span in policy.arg_spans:
            if name in kinds:
                occurrence("kind", name, span, False)
        for effect in policy.effects:
            _effect_occurrences(effect, occurrence)

    for inc in model.includes:
        target = inc.item.target
        if target[0] == "policy":
            occurrence("policy", target[1], inc.item.span, False)
        elif target[0] == "aspect":
            occurrence("aspect", ".".join(target[1:]), inc.item.span, False)
    for policy in model.policies.values():
        for effect in policy.effects:
            for ref in effect.with_includes:
                if ref.target[0] == "policy":
                    occurrence("policy", ref.target[1], ref.span, False)
                elif ref.target[0] == "aspect":
                    occurrence("aspect", ".".join(ref.target[1:]), ref.span, False)

    class_names = set(model.classes) | BUILTIN_CLASSES
    for name, decls in model.classes.items():
        for decl in decls:
            occurrence("class", name, decl.span, True)
    for aspect in model.aspects:
        path = ".".join(aspect.path)
        add(Occurrence("aspect", path, aspect.span, True, None))
        for key, span in aspect.keys:
            if key in class_names:
                occurrence("class", key, span, False)

    for host in model.hosts:
        occurrence("host", host.name, host.span, True)
        for user, span in host.user_spans:
            occurrence("user", user, span, True)
    return index.finish()


def _effect_occurrences(effect: Effect, occurrence) -> None:
    if effect.family == "resolve":
        if isinstance(effect.target_kind, str) and effect.target_span is not None:
            occurrence("kind", effect.target_kind, effect.target_span, False)
        return
    for field_name in ("fromClass", "intoClass", "from", "to"):
        f = effect.field(field_name)
        if f is not None and isinstance(f.value, str):
            occurrence("class", f.value, f.value_span, False)
    f = effect.field("class")
    if f is not None and isinstance(f.value, str):
        occurrence("class", f.value, f.value_span, False)


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
    "effect_at",
    "index_for",
    "index_of",
    "offset_at",
]
