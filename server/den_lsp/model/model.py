"""The workspace model: facts of all files merged, and the static scope graph.

Merging follows den's module system: list options (``includes``) concatenate
across files, ``isolated`` and ``isEntity`` are the OR of their definitions,
and a policy name keeps its last definition. On top of the merged facts the
model derives which policies fire at which kinds, the ``resolve.to`` edges
between kinds, and for every route its collection root, append target and
the isolated kinds its subtree walk skips.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from typing import Iterable

from den_lsp.facts.types import (
    OPAQUE,
    UNKNOWN,
    ApiUse,
    Aspect,
    AspectKey,
    ClassDecl,
    Effect,
    FileFacts,
    Forward,
    Home,
    Host,
    Include,
    KindField,
    KindSite,
    Named,
    Namespace,
    Policy,
    PolicyRef,
    Reference,
)
from den_lsp.model.aspects import AspectTrees
from den_lsp.model.builtins import (
    BUILTIN_CLASSES,
    BUILTIN_KINDS,
    DEFAULT_KINDS,
    STRUCTURAL_KEYS,
    UNDECLARED_KINDS,
)
from den_lsp.model.known import KnownNames
from den_lsp.model.profiles import Profile
from den_lsp.syntax.span import Span

# Fields of den.schema.<kind> that do not make a kind an entity
# (den computes isEntity from the presence of anything else).
_COLLECTION_FIELDS = frozenset(
    {"includes", "excludes", "isEntity", "isolated", "parent", "collisionPolicy"}
)


@dataclass
class Kind:
    name: str
    builtin: bool = False
    sites: list[KindSite] = field(default_factory=list)
    fields: list[KindField] = field(default_factory=list)
    # Fields by name, read again when ``fields`` grows: the scope graph asks
    # for a kind's parent many times per model.
    _by_name: dict[str, list[KindField]] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _indexed: int = field(default=-1, init=False, repr=False, compare=False)

    def values(self, name: str) -> list[KindField]:
        if self._by_name is None or self._indexed != len(self.fields):
            by_name: dict[str, list[KindField]] = {}
            for f in self.fields:
                by_name.setdefault(f.name, []).append(f)
            self._by_name = by_name
            self._indexed = len(self.fields)
        return list(self._by_name.get(name, ()))

    @property
    def declared(self) -> bool:
        return self.builtin or bool(self.sites) or bool(self.fields)

    @property
    def isolated(self) -> bool | None:
        """True if any definition says so; None when one cannot be read."""
        values = self.values("isolated")
        if any(f.value is True and not f.maybe for f in values):
            return True
        if any(f.value is not False for f in values) or self.values(OPAQUE):
            return None
        if self.values("imports"):
            return None  # an imported module may set it
        return False

    @property
    def parent(self) -> str | None:
        for f in self.values("parent"):
            if isinstance(f.value, str):
                return f.value
        builtin = BUILTIN_KINDS.get(self.name)
        return builtin.parent if builtin else None

    @property
    def is_entity(self) -> bool | None:
        """Whether den treats the kind as an entity; None if it cannot tell."""
        explicit = self.values("isEntity")
        if any(f.value is True for f in explicit):
            return True
        if any(f.value is UNKNOWN for f in explicit):
            return None
        builtin = BUILTIN_KINDS.get(self.name)
        if builtin is not None:
            # den decides built-in kinds itself (conf, for one, carries a
            # module but is excluded from the entity computation).
            return builtin.is_entity
        if any(f.name not in _COLLECTION_FIELDS for f in self.fields):
            return True
        return False


@dataclass(frozen=True)
class ResolveEdge:
    """``resolve.to "<target>"`` in a policy that fires at ``source``."""

    source: str
    target: str
    effect: Effect
    policy: Policy


@dataclass(frozen=True)
class Activation:
    """Why a policy fires at a kind: which includes list put it there."""

    kind: str
    span: Span | None
    via: str  # "schema", "default", "withIncludes", "aspect"


@dataclass(frozen=True)
class RouteInstance:
    """A route effect as it behaves at one kind where its policy fires."""

    effect: Effect
    policy: Policy
    fires_at: str
    collection_root: str | None
    append_targets: tuple[str, ...]
    subtree: bool
    skipped: tuple[str, ...]


@dataclass
class Model:
    profile: Profile
    kinds: dict[str, Kind]
    policies: dict[str, Policy]
    activations: dict[str, list[Activation]]
    # Policies that may fire at kinds the model cannot see (included by an
    # aspect walked at an unknown place, say).
    fires_elsewhere: set[str]
    resolve_edges: list[ResolveEdge]
    routes: list[RouteInstance]
    hosts: list[Host]
    homes: list[Home]
    aspects: list[Aspect]
    classes: dict[str, list[ClassDecl]]
    includes: list[Include]
    open_sections: set[str] = field(default_factory=set)
    # Views derived from the model by the layers above (an index of names,
    # say), dropped with the model when a file changes.
    cache: dict = field(default_factory=dict)
    known: KnownNames = field(default_factory=KnownNames)
    aspect_keys: list[AspectKey] = field(default_factory=list)
    references: list[Reference] = field(default_factory=list)
    quirks: dict[str, list[Named]] = field(default_factory=dict)
    reserved_keys: set[str] = field(default_factory=set)
    namespaces: dict[str, list[Namespace]] = field(default_factory=dict)
    forwards: list[Forward] = field(default_factory=list)
    api_uses: list[ApiUse] = field(default_factory=list)
    declared_api: set[str] = field(default_factory=set)
    external_imports: list[Named] = field(default_factory=list)
    loose_effects: list[Effect] = field(default_factory=list)
    # Occurrences of every word in the configuration's files (see FileFacts).
    words: Counter = field(default_factory=Counter)
    bound_names: set[str] = field(default_factory=set)
    # The kinds at which each aspect is walked (``_aspect_kinds``).
    aspect_walks: dict[tuple[str, ...], set[str]] = field(
        default_factory=dict, repr=False, compare=False
    )
    # The facts the model was built from, by path: the next model compares
    # its own with them to tell what it can take over (``build_model``).
    sources: tuple[FileFacts, ...] = field(default=(), repr=False, compare=False)
    # Those of them with kind sites or fields, in the same order.
    kind_sources: tuple[FileFacts, ...] = field(default=(), repr=False, compare=False)
    # What the includes lists alone say about where policies fire.
    placements: _Placements | None = field(default=None, repr=False, compare=False)

    # -- aspects, classes and names (for the aspect and class rules) -------------

    @cached_property
    def local_namespaces(self) -> set[str]:
        """Namespaces whose aspects are all defined in the workspace."""
        return {
            name
            for name, decls in self.namespaces.items()
            if all(d.external is False for d in decls)
        }

    @cached_property
    def trees(self) -> AspectTrees:
        """All aspect trees, namespaces resolved: top-level ``eg.x`` is ``den.ful.eg.x``."""
        keys: list[AspectKey] = []
        for key in self.aspect_keys:
            if key.tree[0] == "ns":
                if key.tree[1] not in self.namespaces:
                    continue
                key = AspectKey(("ful", key.tree[1]), key.path, key.span, key.shape, key.maybe)
            keys.append(key)
        open_trees = {("aspects",)} if "aspects" in self.open_sections else set()
        for name in ("default", "batteries", "ctx"):
            if name in self.open_sections:
                open_trees.add((name,))
        return AspectTrees(keys, open_trees)

    @cached_property
    def registered_classes(self) -> set[str]:
        """Classes den registers: built in, `den.classes`, aspects' `classes`."""
        return set(BUILTIN_CLASSES) | set(self.classes) | set(self.known.classes)

    @cached_property
    def effect_classes(self) -> set[str]:
        """Classes that routes, deliveries, provides, forwards and instantiates name."""
        found: set[str] = set()
        effects = [e for p in self.policies.values() for e in p.effects]
        for effect in effects + self.loose_effects:
            for name in ("fromClass", "intoClass", "from", "to", "class"):
                f = effect.field(name)
                if f is not None and isinstance(f.value, str):
                    found.add(f.value)
        for forward in self.forwards:
            for value in (forward.from_class, forward.into_class):
                if isinstance(value, str):
                    found.add(value)
        return found

    @cached_property
    def entity_classes(self) -> set[str]:
        """Classes entities are given: host `class`, user and schema `classes`."""
        found: set[str] = set()
        for host in self.hosts:
            if isinstance(host.host_class, str):
                found.add(host.host_class)
            for _, classes in host.user_classes:
                if isinstance(classes, tuple):
                    found.update(c for c in classes if isinstance(c, str))
        for kind in self.kinds.values():
            for f in kind.values("classes") + kind.values("class"):
                if isinstance(f.value, str):
                    found.add(f.value)
                elif isinstance(f.value, tuple):
                    found.update(c for c in f.value if isinstance(c, str))
        return found

    @cached_property
    def known_classes(self) -> set[str]:
        """Every class name the configuration gives a meaning to."""
        return self.registered_classes | self.effect_classes | self.entity_classes

    @cached_property
    def structural_keys(self) -> set[str]:
        return set(STRUCTURAL_KEYS) | self.reserved_keys

    @cached_property
    def has_external_modules(self) -> bool:
        """Whether modules from outside the workspace may add den names."""
        return bool(self.external_imports) or any(
            d.external is not False for ds in self.namespaces.values() for d in ds
        )

    @cached_property
    def user_names(self) -> set[str]:
        return {u for h in self.hosts for u in h.users}

    @cached_property
    def home_names(self) -> set[str]:
        """Aspect names of standalone homes: `tux@igloo` is walked as `tux`."""
        return {h.name.split("@", 1)[0] for h in self.homes}

    def kind(self, name: str) -> Kind | None:
        return self.kinds.get(name)

    def fires_at(self, policy_id: str) -> set[str]:
        return {a.kind for a in self.activations.get(policy_id, ())}

    def graph(self) -> ScopeGraph:
        """Parents, children and context keys of every kind, read once.

        The derivation steps replace ``resolve_edges``; the graph is read
        again for each new list.
        """
        key = (self.resolve_edges, len(self.kinds))
        graph = self.cache.get(ScopeGraph)
        if graph is None or graph.key[0] is not key[0] or graph.key[1] != key[1]:
            graph = ScopeGraph.read(self, key)
            self.cache[ScopeGraph] = graph
        return graph

    def parents(self, kind: str) -> set[str]:
        """Kinds whose scopes create scopes of ``kind``, or its declared parent."""
        return set(self.graph().parents.get(kind, ()))

    def children(self, kind: str) -> set[str]:
        found = set(self.graph().children.get(kind, ()))
        found.discard(kind)
        return found

    def parent_chain(self, kind: str) -> list[str]:
        """One chain of parents up to a root, e.g. flake > flake-system > host."""
        chain = [kind]
        current = kind
        while len(chain) < 16:
            parents = sorted(self.parents(current) - set(chain))
            if not parents:
                break
            current = parents[0]
            chain.append(current)
        return list(reversed(chain))

    def is_isolated(self, kind: str) -> bool | None:
        k = self.kinds.get(kind)
        return k.isolated if k is not None else False

    def isolated_below(self, kind: str) -> tuple[str, ...]:
        """Isolated kinds a subtree walk rooted at ``kind`` skips.

        The walk skips an isolated descendant and everything under it; the
        root itself is always collected.
        """
        skipped: list[str] = []
        seen = {kind}
        frontier = [kind]
        while frontier:
            current = frontier.pop()
            for child in sorted(self.children(current)):
                if child in seen:
                    continue
                seen.add(child)
                if self.is_isolated(child) is True:
                    skipped.append(child)
                else:
                    frontier.append(child)
        return tuple(sorted(skipped))


@dataclass
class ScopeGraph:
    """The scope graph's edges by kind, derived from one list of resolve edges."""

    key: tuple
    parents: dict[str, set[str]]
    children: dict[str, set[str]]
    # Binding keys of the resolves that create scopes of each kind.
    bindings: dict[str, set[str]]

    @classmethod
    def read(cls, model: Model, key: tuple) -> ScopeGraph:
        parents: dict[str, set[str]] = defaultdict(set)
        children: dict[str, set[str]] = defaultdict(set)
        bindings: dict[str, set[str]] = defaultdict(set)
        for e in model.resolve_edges:
            parents[e.target].add(e.source)
            children[e.source].add(e.target)
            bindings[e.target].update(e.effect.binding_keys)
        for k in model.kinds.values():
            declared = k.parent
            if declared:
                parents[k.name].add(declared)
                children[declared].add(k.name)
        for builtin in BUILTIN_KINDS.values():
            for created in builtin.creates:
                parents[created].add(builtin.name)
                children[builtin.name].add(created)
        return cls(key, dict(parents), dict(children), dict(bindings))


def build_model(
    files: Iterable[FileFacts],
    profile: Profile,
    known: KnownNames | None = None,
    words: Counter | None = None,
    previous: Model | None = None,
) -> Model:
    """The model of one configuration's files.

    ``words``, when given, is the sum of the files' word counts, kept by the
    caller as files change (summing them is a pass over every word of every
    file); the model holds a copy.

    ``previous``, when given, is an earlier model of the configuration. If
    its files' facts are these, kinds apart (an edit that toggles a kind's
    `isolated`, say), the merged facts and what is derived from them alone
    are taken from it, and only the kinds and what reads them are derived
    again (``_with_kinds_of``).
    """
    files = sorted(files, key=lambda f: f.path)
    known = known or KnownNames()
    words = Counter(words) if words is not None else _summed_words(files)
    if previous is not None:
        changed = _changed_apart_from_kinds(previous, files, profile, known)
        if changed is not None:
            return _with_kinds_of(previous, files, changed, words)
    policies: dict[str, Policy] = {}
    includes: list[Include] = []
    classes: dict[str, list[ClassDecl]] = defaultdict(list)
    hosts: list[Host] = []
    homes: list[Home] = []
    aspects: list[Aspect] = []
    open_sections: set[str] = set()
    aspect_keys: list[AspectKey] = []
    references: list[Reference] = []
    quirks: dict[str, list[Named]] = defaultdict(list)
    reserved: set[str] = set()
    namespaces: dict[str, list[Namespace]] = defaultdict(list)
    forwards: list[Forward] = []
    api_uses: list[ApiUse] = []
    declared_api: set[str] = set()
    external_imports: list[Named] = []
    loose_effects: list[Effect] = []
    bound_names: set[str] = set()

    for facts in files:
        open_sections |= facts.open_sections
        aspect_keys.extend(facts.aspect_keys)
        references.extend(facts.references)
        for quirk in facts.quirks:
            quirks[quirk.name].append(quirk)
        reserved.update(k.name for k in facts.reserved_keys)
        for namespace in facts.namespaces:
            namespaces[namespace.name].append(namespace)
        forwards.extend(facts.forwards)
        api_uses.extend(facts.api_uses)
        declared_api |= facts.declared_api
        external_imports.extend(facts.external_imports)
        loose_effects.extend(facts.loose_effects)
        bound_names |= facts.bound_names
        for policy in facts.policies:
            # A registered name keeps its last definition, as den's policy
            # option does; inline policies are unique by position.
            policies[policy.policy_id] = policy
        includes.extend(facts.includes)
        for decl in facts.classes:
            classes[decl.name].append(decl)
        hosts.extend(facts.hosts)
        homes.extend(facts.homes)
        aspects.extend(facts.aspects)
    for name in BUILTIN_CLASSES:
        classes.setdefault(name, [])

    kind_sources = tuple(f for f in files if f.kind_sites or f.kind_fields)
    model = Model(
        profile=profile,
        kinds=_merged_kinds(kind_sources),
        policies=policies,
        activations={},
        fires_elsewhere=set(),
        resolve_edges=[],
        routes=[],
        hosts=hosts,
        homes=homes,
        aspects=aspects,
        classes=dict(classes),
        includes=includes,
        open_sections=open_sections,
        known=known,
        aspect_keys=aspect_keys,
        references=references,
        quirks=dict(quirks),
        reserved_keys=reserved,
        namespaces=dict(namespaces),
        forwards=forwards,
        api_uses=api_uses,
        declared_api=declared_api,
        external_imports=external_imports,
        loose_effects=loose_effects,
        words=words,
        bound_names=bound_names,
        sources=tuple(files),
        kind_sources=kind_sources,
    )
    model.aspects = _cut_at_workspace_classes(model)
    model.aspect_walks = dict(_aspect_kinds(model))
    model.placements = _placements(model)
    _derive_from_kinds(model)
    return model


def _summed_words(files: list[FileFacts]) -> Counter:
    words: Counter = Counter()
    for facts in files:
        words.update(facts.words)
    return words


def _merged_kinds(files: Iterable[FileFacts]) -> dict[str, Kind]:
    kinds: dict[str, Kind] = {name: Kind(name, builtin=True) for name in BUILTIN_KINDS}
    for facts in files:
        for site in facts.kind_sites:
            kinds.setdefault(site.kind, Kind(site.kind)).sites.append(site)
        for kind_field in facts.kind_fields:
            kinds.setdefault(kind_field.kind, Kind(kind_field.kind)).fields.append(
                kind_field
            )
    return kinds


def _derive_from_kinds(model: Model) -> None:
    """Activations, resolve edges and routes: all read the kinds."""
    _activate(model)
    _derive_edges(model)
    _apply_context(model)
    _derive_edges(model)
    _derive_routes(model)


# Model properties computed from facts other than kinds, which a model
# built by ``_with_kinds_of`` takes over from the one before it.
_KINDLESS_PROPERTIES = (
    "local_namespaces",
    "trees",
    "registered_classes",
    "effect_classes",
    "structural_keys",
    "has_external_modules",
    "user_names",
    "home_names",
)


def _changed_apart_from_kinds(
    previous: Model, files: list[FileFacts], profile: Profile, known: KnownNames
) -> list[FileFacts] | None:
    """The files whose facts changed since ``previous``, if only in kinds.

    None when ``previous`` was built from other facts than these, kinds and
    words apart. Positions count: the merged facts hold them. An unchanged
    file's facts are the very object the previous model read; an edited
    file's are compared with its kind sites and fields left out.
    """
    before = previous.sources
    if (
        previous.profile != profile
        or previous.known != known
        or len(before) != len(files)
    ):
        return None
    changed = []
    for old, new in zip(before, files):
        if old is new:
            continue
        if old.path != new.path or _without_kinds(old) != _without_kinds(new):
            return None
        changed.append(new)
    return changed


def _without_kinds(facts: FileFacts) -> FileFacts:
    return dataclasses.replace(facts, kind_sites=(), kind_fields=())


def _with_kinds_of(
    previous: Model, files: list[FileFacts], changed: list[FileFacts], words: Counter
) -> Model:
    """A model of ``files`` that shares ``previous``'s merged facts.

    The shared lists and sets are never changed once a model is built, so
    two models can hold them. The kinds are merged again, and everything
    that reads them (activations, resolve edges, routes, the classes
    entities are given) derived again; the aspects cut at classes, the kinds
    aspects are walked at and where includes lists place policies read no
    kind and are taken over.

    Only files with kind facts are read for kinds: those of ``previous`` and
    the ``changed`` ones.
    """
    edited = {f.path: f for f in changed}
    kind_sources = [edited.pop(f.path, f) for f in previous.kind_sources]
    kind_sources.extend(edited.values())
    kind_sources = sorted(
        (f for f in kind_sources if f.kind_sites or f.kind_fields),
        key=lambda f: f.path,
    )
    model = dataclasses.replace(
        previous,
        kinds=_merged_kinds(kind_sources),
        activations={},
        fires_elsewhere=set(),
        resolve_edges=[],
        routes=[],
        cache={},
        words=words,
        sources=tuple(files),
        kind_sources=tuple(kind_sources),
    )
    for name in _KINDLESS_PROPERTIES:
        if name in previous.__dict__:
            model.__dict__[name] = previous.__dict__[name]
    _derive_from_kinds(model)
    return model


def _cut_at_workspace_classes(model: Model) -> list[Aspect]:
    """Aspect facts with their paths ended at the first class key.

    A file is read without knowing the classes other files register, so
    ``den.aspects.cache-vm.vm-os.services.enable = true;`` reads as aspect
    ``cache-vm.vm-os.services`` when ``vm-os`` is a class declared elsewhere.
    With every file's facts merged, the path ends where den classifies a key
    as a class or quirk: ``vm-os`` is then a key of aspect ``cache-vm``.
    """
    ending = model.registered_classes | set(model.quirks) | model.structural_keys
    key_spans: dict[tuple[str, tuple[str, ...]], list[Span]] = defaultdict(list)
    for key in model.aspect_keys:
        if key.tree == ("aspects",):
            key_spans[(key.span.path, key.path)].append(key.span)
    cut: list[Aspect] = []
    for aspect in model.aspects:
        end = next(
            (i for i, name in enumerate(aspect.path) if i > 0 and name in ending),
            None,
        )
        if end is None:
            cut.append(aspect)
            continue
        # The key's span: the nearest definition of that path written
        # before the aspect fact's own key.
        written = [
            span
            for span in key_spans.get((aspect.span.path, aspect.path[: end + 1]), ())
            if span.start_byte <= aspect.span.start_byte
        ]
        span = max(written, key=lambda s: s.start_byte) if written else aspect.span
        cut.append(Aspect(aspect.path[:end], span, ((aspect.path[end], span),)))
    return cut


def _policy_id(ref: PolicyRef) -> str | None:
    if ref.target[0] in ("policy", "inline"):
        return ref.target[1]
    return None


@dataclass(frozen=True)
class _Placements:
    """Where the includes and excludes lists place each policy.

    They read no kind, so a model that takes its merged facts over from
    another takes these too (``_with_kinds_of``).
    """

    activations: dict[str, list[Activation]]
    excluded: dict[str, set[str]]
    # Policies included by an aspect walked nowhere the workspace shows.
    fires_elsewhere: frozenset[str]


def _placements(model: Model) -> _Placements:
    activations: dict[str, list[Activation]] = defaultdict(list)
    aspect_kinds = model.aspect_walks
    excluded: dict[str, set[str]] = defaultdict(set)
    fires_elsewhere: set[str] = set()

    for inc in model.includes:
        policy_id = _policy_id(inc.item)
        if policy_id is None:
            continue
        owner = inc.owner
        if inc.relation == "excludes":
            if owner[0] == "schema":
                excluded[policy_id].add(owner[1])
            continue
        if owner[0] == "schema":
            activations[policy_id].append(Activation(owner[1], inc.item.span, "schema"))
        elif owner[0] == "default":
            for kind in DEFAULT_KINDS:
                activations[policy_id].append(
                    Activation(kind, inc.item.span, "default")
                )
        elif owner[0] == "aspect":
            walked = aspect_kinds.get(owner[1:])
            if not walked:
                fires_elsewhere.add(policy_id)
            for kind in sorted(walked or ()):
                activations[policy_id].append(Activation(kind, inc.item.span, "aspect"))
    return _Placements(dict(activations), dict(excluded), frozenset(fires_elsewhere))


def _activate(model: Model) -> None:
    """Find the kinds where each policy fires (den-reference §2.6)."""
    placed = model.placements
    activations: dict[str, list[Activation]] = defaultdict(list)
    for policy_id, found in placed.activations.items():
        activations[policy_id] = list(found)
    model.fires_elsewhere |= placed.fires_elsewhere

    # A policy listed in a resolve's withIncludes fires inside the scope the
    # resolve creates; that holds wherever the resolving policy fires.
    for policy in list(model.policies.values()):
        for effect in policy.effects:
            if effect.family != "resolve" or not effect.with_includes:
                continue
            target = _resolve_target(model, effect)
            for ref in effect.with_includes:
                policy_id = _policy_id(ref)
                if policy_id is None:
                    continue
                if target is None:
                    model.fires_elsewhere.add(policy_id)
                else:
                    activations[policy_id].append(
                        Activation(target, ref.span, "withIncludes")
                    )

    for policy_id, kinds in placed.excluded.items():
        activations[policy_id] = [
            a for a in activations[policy_id] if a.kind not in kinds
        ]
    model.activations = dict(activations)


def _aspect_kinds(model: Model) -> dict[tuple[str, ...], set[str]]:
    """Kinds at which each aspect is walked, as far as the workspace shows.

    An entity's own aspect (``den.aspects.<host name>``) is walked at its
    kind; an aspect in a kind's includes at that kind; and an aspect included
    by another aspect wherever that one is walked.
    """
    walked: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for host in model.hosts:
        walked[(host.name,)].add("host")
        for user in host.users:
            walked[(user,)].add("user")
            walked[(host.name, user)].add("user")
    for home in model.homes:
        walked[(home.name,)].add("home")
    edges: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
    for inc in model.includes:
        if inc.relation != "includes" or inc.item.target[0] != "aspect":
            continue
        target = inc.item.target[1:]
        if inc.owner[0] == "schema":
            walked[target].add(inc.owner[1])
        elif inc.owner[0] == "default":
            walked[target].update(DEFAULT_KINDS)
        elif inc.owner[0] == "aspect":
            edges.append((inc.owner[1:], target))
    # Propagate along include edges until nothing changes, revisiting only
    # the aspects whose kinds grew.
    targets: dict[tuple[str, ...], list[tuple[str, ...]]] = defaultdict(list)
    for owner, target in edges:
        targets[owner].append(target)
        walked[target]  # noqa: B018 -- every included aspect gets an entry
    pending = list(dict.fromkeys(owner for owner, _ in edges))
    while pending:
        owner = pending.pop()
        kinds = walked.get(owner, set())
        for target in targets[owner]:
            missing = kinds - walked[target]
            if missing:
                walked[target] |= missing
                pending.append(target)
    return walked


def _resolve_target(model: Model, effect: Effect) -> str | None:
    """The kind a resolve effect creates, or None when it cannot be told."""
    if isinstance(effect.target_kind, str):
        return effect.target_kind
    if effect.target_kind is UNKNOWN:
        return None
    # A plain resolve creates a scope of the first binding key that is an
    # entity kind; other keys only enrich the current scope.
    for key in effect.binding_keys:
        kind = model.kinds.get(key)
        if kind is not None and kind.is_entity:
            return key
    return None


def _context_kinds(model: Model, kind: str) -> set[str]:
    """Kind names that are keys of the context at scopes of ``kind``.

    A scope's context holds its own binding and every binding of the scopes
    above it: the kind itself, its ancestors, and the binding keys of the
    resolves that create them (a guest resolved with ``{ guest; host; }``
    has ``host`` bound to itself).
    """
    found: set[str] = set()
    frontier = [kind]
    while frontier:
        current = frontier.pop()
        if current in found:
            continue
        found.add(current)
        found.update(model.graph().bindings.get(current, ()))
        frontier.extend(model.parents(current) - found)
    return found


def _apply_context(model: Model) -> None:
    """Keep a policy only at kinds whose context has its required kind arguments.

    den calls a policy only where all its required arguments are context
    keys. One exception: a policy that could not fire where it is
    registered is offered to the new child scopes a fan-out resolve creates
    there, if the kind it misses is that child's (den-reference §2.6).
    Arguments that are not kind names (enrichment keys, ``self``) cannot be
    checked and never remove an activation.
    """
    kinds = set(model.kinds)
    context: dict[str, set[str]] = {}  # by kind: many activations share one
    for policy_id, activations in model.activations.items():
        policy = model.policies.get(policy_id)
        if policy is None:
            continue
        required = set(policy.required_args) & kinds
        if not required:
            continue
        kept: list[Activation] = []
        for act in activations:
            if act.kind not in context:
                context[act.kind] = _context_kinds(model, act.kind)
            missing = required - context[act.kind]
            if not missing:
                kept.append(act)
            elif len(missing) == 1 and next(iter(missing)) in model.children(act.kind):
                kept.append(
                    Activation(next(iter(missing)), act.span, f"{act.via}, fan-out")
                )
        model.activations[policy_id] = list(dict.fromkeys(kept))


def _derive_edges(model: Model) -> None:
    edges: list[ResolveEdge] = []
    for policy in model.policies.values():
        resolves = [e for e in policy.effects if e.family == "resolve"]
        if not resolves:
            continue  # most policies: no need to gather where they fire
        sources = sorted(model.fires_at(policy.policy_id))
        for effect in resolves:
            target = _resolve_target(model, effect)
            if target is None:
                continue
            for source in sources:
                edges.append(ResolveEdge(source, target, effect, policy))
    model.resolve_edges = edges


def _truthy(effect: Effect, name: str) -> bool | None:
    f = effect.field(name)
    if f is None:
        return False
    if f.value is UNKNOWN:
        return None
    return bool(f.value)


def route_collects_subtree(effect: Effect) -> bool | None:
    if effect.family == "route":
        into = effect.field("intoClass")
        if into is not None and into.value == "flake":
            return True
        return _truthy(effect, "collectSubtree")
    return False


def _derive_routes(model: Model) -> None:
    routes: list[RouteInstance] = []
    decouple = model.profile.decouple_field
    for policy in model.policies.values():
        effects = [e for e in policy.effects if e.family in ("route", "deliver")]
        if not effects:
            continue
        fires_at = sorted(model.fires_at(policy.policy_id))
        for effect in effects:
            for kind in fires_at:
                root: str | None = kind
                targets: tuple[str, ...] = (kind,)
                if decouple == "appendToParent" and _truthy(effect, "appendToParent"):
                    # den appends at the scope's parent, or at the scope itself
                    # when it has none.
                    targets = tuple(sorted(model.parents(kind))) or (kind,)
                elif decouple == "collectScopeId" and effect.field("collectScopeId"):
                    named = effect.field("collectScopeId").value
                    root = (
                        named
                        if isinstance(named, str) and named in model.kinds
                        else None
                    )
                subtree = bool(route_collects_subtree(effect))
                skipped = model.isolated_below(root) if subtree and root else ()
                routes.append(
                    RouteInstance(effect, policy, kind, root, targets, subtree, skipped)
                )
    model.routes = routes


def is_known_kind(model: Model, name: str) -> bool:
    kind = model.kinds.get(name)
    return (
        (kind is not None and kind.declared)
        or name in UNDECLARED_KINDS
        or name in model.known.kinds
    )
