"""Aspect trees merged across files, and where each aspect is walked.

den merges every definition of ``den.aspects.<path>`` (and of a namespace's
aspects) into one attribute set, so the keys an aspect has are the union of
what all files write. This module builds that union as a trie of paths, and
answers the questions the aspect rules ask: is this path defined, can the
model see all of an aspect's keys, is a key a nested aspect, and at which
kinds of scope is an aspect walked.

``provides.<k>`` and ``_.<k>`` are read as ``<k>``: den forwards provides
children onto the aspect itself, so both spellings name the same aspect.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from den_lsp.facts.types import AspectKey, Include
from den_lsp.model.builtins import DEFAULT_KINDS, STRUCTURAL_KEYS

# The trees the rules look into; namespaces are ("ful", <name>).
ASPECTS = ("aspects",)
DEFAULT = ("default",)
BATTERIES = ("batteries",)
CTX = ("ctx",)

# Shapes after which the keys below a node are out of sight.
_HIDING = frozenset({"opaque", "open"})


@dataclass
class AspectNode:
    name: str
    definitions: list[AspectKey] = field(default_factory=list)
    children: dict[str, "AspectNode"] = field(default_factory=dict)
    # Some definition is an expression the reader could not look into, or
    # writes children under computed names.
    hidden: bool = False

    def shapes(self) -> set[str]:
        return {d.shape for d in self.definitions}


def normal_path(path: Iterable[str], first_key: int = 1) -> tuple[str, ...]:
    """A path with ``provides``/``_`` segments dropped from key positions."""
    out: list[str] = []
    for index, part in enumerate(path):
        if index >= first_key and part in ("provides", "_"):
            continue
        out.append(part)
    return tuple(out)


def first_key(tree: tuple[str, ...]) -> int:
    return 0 if tree == DEFAULT else 1


class AspectTrees:
    """Every aspect tree of a configuration, merged across its files."""

    def __init__(self, keys: Iterable[AspectKey], open_trees: set[tuple[str, ...]]):
        self.roots: dict[tuple[str, ...], AspectNode] = {}
        self.open_trees = set(open_trees)
        for key in keys:
            self._insert(key)

    def _insert(self, key: AspectKey) -> None:
        root = self.roots.setdefault(key.tree, AspectNode(""))
        path = normal_path(key.path, first_key(key.tree))
        node = root
        for part in path:
            node = node.children.setdefault(part, AspectNode(part))
        node.definitions.append(key)
        if key.shape in _HIDING:
            node.hidden = True

    def tree_open(self, tree: tuple[str, ...]) -> bool:
        return tree in self.open_trees

    def node(self, tree: tuple[str, ...], path: tuple[str, ...]) -> AspectNode | None:
        node = self.roots.get(tree)
        for part in normal_path(path, first_key(tree)):
            if node is None:
                return None
            node = node.children.get(part)
        return node

    def defined(self, tree: tuple[str, ...], path: tuple[str, ...]) -> bool | None:
        """True if some file defines the path, False if none can, None if unsure.

        A path is unsure when the tree or a set on the way to it is written as
        an expression the reader could not look into (an import, a call, a
        computed name): that set may hold the missing key.
        """
        if self.tree_open(tree):
            node = self.node(tree, path)
            return True if node is not None else None
        node = self.roots.get(tree)
        if node is None:
            return False
        if node.hidden:
            return None
        for part in normal_path(path, first_key(tree)):
            child = node.children.get(part)
            if child is None:
                return False
            node = child
            if node.hidden:
                return True if part == path[-1] else None
        return True

    def keys_visible(self, tree: tuple[str, ...], path: tuple[str, ...]) -> bool:
        """Whether every key of the aspect at ``path`` is in sight."""
        if self.tree_open(tree):
            return False
        node = self.roots.get(tree)
        if node is None or node.hidden:
            return False
        for part in normal_path(path, first_key(tree)):
            node = node.children.get(part)
            if node is None or node.hidden:
                return False
        return True

    def top_level(self, tree: tuple[str, ...]) -> set[str]:
        root = self.roots.get(tree)
        return set(root.children) if root is not None else set()

    def walk(
        self, tree: tuple[str, ...]
    ) -> Iterator[tuple[tuple[str, ...], AspectNode]]:
        """Every node of a tree with its (normalised) path."""
        root = self.roots.get(tree)
        if root is None:
            return
        stack: list[tuple[tuple[str, ...], AspectNode]] = [((), root)]
        while stack:
            path, node = stack.pop()
            for name, child in sorted(node.children.items(), reverse=True):
                stack.append((path + (name,), child))
            if path:
                yield path, node


def looks_nested(node: AspectNode, aspect_keys: set[str], depth: int = 2) -> bool:
    """Whether a key's value plausibly is a nested aspect.

    den makes a key a nested aspect when its value is an attribute set with
    a structural, quirk or registered class key of its own. One more level
    is accepted: an attribute set of such nested aspects is how a user
    writes a group of them, and reporting its name as a misspelt class would
    mislead. A value the reader cannot see into may be either.
    """
    if node.hidden:
        return True
    if any(name in aspect_keys for name in node.children):
        return True
    if depth > 1:
        return any(
            looks_nested(child, aspect_keys, depth - 1)
            for child in node.children.values()
        )
    return False


def aspect_key_names(
    classes: set[str], quirks: set[str], reserved: set[str]
) -> set[str]:
    """Keys that make an attribute set an aspect (den's nested-key test)."""
    return set(STRUCTURAL_KEYS) | classes | quirks | reserved


# -- where aspects are walked ---------------------------------------------------


UNKNOWN_KIND = "?"


@dataclass(frozen=True)
class AspectId:
    tree: tuple[str, ...]
    path: tuple[str, ...]


def include_target(
    target: tuple[str, ...], namespaces: set[str], top_aspects: set[str]
) -> AspectId | None:
    """The aspect an include item names, when the model can tell."""
    kind = target[0]
    if kind == "aspect":
        return AspectId(ASPECTS, normal_path(target[1:]))
    if kind in ("namespace", "arg") and len(target) >= 3 and target[1] in namespaces:
        return AspectId(("ful", target[1]), normal_path(target[2:]))
    if kind == "battery" and len(target) >= 2:
        return AspectId(BATTERIES, normal_path(target[1:]))
    if kind == "bracket" and len(target) >= 2:
        return bracket_target(target[1:], namespaces, top_aspects)
    return None


def bracket_target(
    segments: tuple[str, ...], namespaces: set[str], top_aspects: set[str]
) -> AspectId | None:
    """What ``<a/b>`` resolves to, in den's order: den, aspects, namespaces."""
    head, rest = segments[0], segments[1:]
    if head == "den":
        if not rest:
            return None
        if rest[0] == "aspects" and len(rest) > 1:
            return AspectId(ASPECTS, normal_path(rest[1:]))
        if rest[0] in ("batteries", "provides", "_") and len(rest) > 1:
            return AspectId(BATTERIES, normal_path(rest[1:]))
        return AspectId(BATTERIES, normal_path(rest))
    if head in top_aspects or head not in namespaces:
        return AspectId(ASPECTS, normal_path(segments))
    return AspectId(("ful", head), normal_path(rest)) if rest else None


def owner_id(owner: tuple[str, ...], namespaces: set[str]) -> AspectId | None:
    if owner[0] == "aspect":
        return AspectId(ASPECTS, owner[1:])
    if owner[0] == "namespace" and len(owner) >= 3 and owner[1] in namespaces:
        return AspectId(("ful", owner[1]), owner[2:])
    if owner[0] == "battery" and len(owner) >= 2:
        return AspectId(BATTERIES, owner[1:])
    if owner[0] == "default":
        return AspectId(DEFAULT, owner[1:])
    return None


def walked_kinds(
    includes: Iterable[Include],
    entity_aspects: dict[tuple[str, ...], set[str]],
    namespaces: set[str],
    top_aspects: set[str],
    user_names: set[str],
) -> dict[AspectId, set[str]]:
    """The kinds of scope at which each aspect is walked, as far as known.

    Entities walk their own aspect (``den.aspects.<name>``) at their kind, a
    host's ``den.aspects.<host>.<user>`` at that user's scope, schema
    includes at their kind, ``den.default`` at host, user and home scopes,
    and an aspect's includes wherever that aspect is walked. An aspect's
    ``provides.to-users`` runs at the host's users, ``provides.to-hosts`` at
    hosts; another provides name (an entity name) or an owner the model
    cannot place is walked at an unknown kind, ``?``.
    """
    walked: dict[AspectId, set[str]] = defaultdict(set)
    for path, kinds in entity_aspects.items():
        walked[AspectId(ASPECTS, path)] |= kinds
    walked[AspectId(DEFAULT, ())] |= set(DEFAULT_KINDS)

    edges: list[tuple[AspectId, AspectId]] = []
    for inc in includes:
        if inc.relation != "includes":
            continue
        target = include_target(inc.item.target, namespaces, top_aspects)
        if target is None:
            continue
        owner = inc.owner
        if owner[0] == "schema":
            walked[target].add(
                owner[1] if owner[1] in KNOWN_WALK_KINDS else UNKNOWN_KIND
            )
            continue
        if owner[0] == "ctx" and len(owner) == 2:
            walked[target].add(
                owner[1] if owner[1] in KNOWN_WALK_KINDS else UNKNOWN_KIND
            )
            continue
        provided = _provides_kinds(owner, user_names)
        if provided is not None:
            walked[target] |= provided
            continue
        source = owner_id(owner, namespaces)
        if source is None:
            walked[target].add(UNKNOWN_KIND)
            continue
        source = AspectId(source.tree, normal_path(source.path, first_key(source.tree)))
        edges.append((source, target))

    # An aspect included by one that nothing walks (yet, in the order the
    # includes are read) may still be walked from somewhere the model cannot
    # see: mark it unknown rather than unwalked.
    outgoing: dict[AspectId, list[AspectId]] = defaultdict(list)
    grown: list[AspectId] = []
    for source, target in edges:
        outgoing[source].append(target)
        kinds = walked.get(source) or {UNKNOWN_KIND}
        missing = kinds - walked[target]
        if missing:
            walked[target] |= missing
            grown.append(target)
    # Then every aspect is walked wherever an aspect including it is: what
    # an aspect gained is passed on along its own includes only, instead of
    # reading every include again until nothing changes.
    while grown:
        source = grown.pop()
        kinds = walked[source]
        for target in outgoing.get(source, ()):
            missing = kinds - walked[target]
            if missing:
                walked[target] |= missing
                grown.append(target)
    return walked


# Kinds whose scopes the walk rules can name; anything else is unknown.
KNOWN_WALK_KINDS = frozenset({"host", "user", "home"})


def _provides_kinds(owner: tuple[str, ...], user_names: set[str]) -> set[str] | None:
    """Kinds for includes under ``provides.<k>``/``_.<k>`` of an aspect, if any."""
    if owner[0] != "aspect":
        return None
    path = owner[1:]
    for index in range(1, len(path) - 1):
        if path[index] not in ("provides", "_"):
            continue
        name = path[index + 1]
        if name == "to-users":
            return {"user"}
        if name == "to-hosts":
            return {"host"}
        if name in user_names:
            return {"user"}
        return None  # a nested aspect spelled through provides
    return None
