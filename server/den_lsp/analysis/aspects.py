"""Aspect rules: misspelt class keys, inert home content, missing aspects.

den merges every definition of an aspect across files, classifies each key
(structural, quirk, registered class, nested aspect, or an unregistered
class it emits anyway), and walks an aspect only where something includes
it. These rules read the merged aspect trees of the model
(``den_lsp.model.aspects``) and stay silent wherever a tree holds a value
the reader could not look into.
"""

from __future__ import annotations

from typing import Iterator

from den_lsp.analysis.common import (
    NameMatcher,
    close_match,
    did_you_mean,
    finding,
    matcher,
    replace_fix,
)
from den_lsp.analysis.findings import Finding, Span
from den_lsp.facts.types import UNKNOWN, Host
from den_lsp.model.aspects import (
    ASPECTS,
    DEFAULT,
    AspectId,
    AspectNode,
    bracket_target,
    first_key,
    include_target,
    looks_nested,
    normal_path,
    walked_kinds,
)
from den_lsp.model.builtins import BUILTIN_ASPECTS
from den_lsp.model.model import Model

HOME_CLASSES = ("homeManager", "hjem", "maid")
# The only kind fields these rules read: an entity kind's `aspect`, and the
# classes a kind gives its entities (``Model.entity_classes``). An edit to
# any other field of a kind (`isolated`, say) leaves their findings as they
# were, and the project keeps them (``Project._unaffected_runs``).
KIND_FIELDS_READ = frozenset({"aspect", "classes", "class"})


def check(model: Model) -> Iterator[Finding]:
    yield from _unknown_class_keys(model)
    yield from _host_scope_home_content(model)
    yield from _entity_without_aspect(model)
    yield from _unknown_aspect(model)


# -- den/unknown-class (aspect keys) -----------------------------------------------


def class_candidates(model: Model) -> set[str]:
    """Classes a misspelt key or route class may have meant."""
    return model.registered_classes | model.entity_classes


def _aspect_trees(model: Model) -> list[tuple[str, ...]]:
    trees = [ASPECTS, DEFAULT, ("batteries",), ("ctx",)]
    trees += sorted(t for t in model.trees.roots if t[0] == "ful")
    return trees


def _aspects_of(
    model: Model, tree: tuple[str, ...], aspect_keys: set[str]
) -> Iterator[tuple[tuple[str, ...], AspectNode]]:
    """Every aspect of a tree: the top-level ones and their nested aspects."""
    root = model.trees.roots.get(tree)
    if root is None:
        return
    if tree == DEFAULT:
        stack = [((), root)]
    else:
        stack = [((name,), node) for name, node in sorted(root.children.items())]
    while stack:
        path, node = stack.pop()
        yield path, node
        for name, child in sorted(node.children.items()):
            if name in aspect_keys or name.startswith("__"):
                continue
            if looks_nested(child, aspect_keys, depth=1) and not child.hidden:
                stack.append((path + (name,), child))


def _unknown_class_keys(model: Model) -> Iterator[Finding]:
    registered = model.registered_classes
    known = model.known_classes
    aspect_keys = model.structural_keys | set(model.quirks) | registered
    candidates = class_candidates(model)
    entity_names = {h.name for h in model.hosts} | model.user_names | model.home_names
    defined_keys = _key_counts(model)
    for tree in _aspect_trees(model):
        for path, node in _aspects_of(model, tree, aspect_keys):
            for name, child in sorted(node.children.items()):
                if name in aspect_keys or name in known or name in entity_names:
                    continue
                if name.startswith("__") or looks_nested(child, aspect_keys):
                    continue
                if not child.definitions or not child.shapes() <= {"attrs", "function"}:
                    continue
                if child.shapes() == {"attrs"} and not child.children:
                    # An empty set loses nothing, and is how a placeholder
                    # for a nested aspect is written.
                    continue
                suggestion = _class_match(name, candidates)
                if suggestion is None:
                    continue
                # The name occurs somewhere else (a class list built in code,
                # a forward, a comment): the model cannot tell it is unused.
                if model.words.get(name, 0) > defined_keys.get(name, 0):
                    continue
                for definition in child.definitions:
                    yield _unknown_class_key(
                        tree, path, name, suggestion, definition.span
                    )


def _key_counts(model: Model) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key in model.aspect_keys:
        if key.path:
            counts[key.path[-1]] = counts.get(key.path[-1], 0) + 1
    return counts


def _class_match(name: str, candidates: set[str]) -> str | None:
    lowered = {c.lower(): c for c in candidates}
    if name.lower() in lowered:
        return lowered[name.lower()]
    return close_match(name, candidates)


def aspect_label(tree: tuple[str, ...], path: tuple[str, ...]) -> str:
    """How the user writes an aspect: den.aspects.a.b, den.default, eg.vm."""
    if tree == DEFAULT:
        return ".".join(("den.default", *path))
    if tree[0] == "ful":
        return ".".join((tree[1], *path))
    if tree == ("batteries",):
        return ".".join(("den.batteries", *path))
    if tree == ("ctx",):
        return ".".join(("den.ctx", *path))
    return ".".join(("den.aspects", *path))


def _unknown_class_key(
    tree: tuple[str, ...],
    path: tuple[str, ...],
    name: str,
    suggestion: str,
    span: Span,
) -> Finding:
    return finding(
        "den/unknown-class",
        span,
        f"`{name}` on `{aspect_label(tree, path)}` is not a class den knows: den "
        f"emits this content as class `{name}`, which nothing instantiates or "
        "routes, so it never reaches a configuration." + did_you_mean(suggestion),
        replace_fix(f"Use class `{suggestion}`", span, suggestion, safe=False),
    )


# -- den/host-scope-home-content -------------------------------------------------


def _host_class(host_facts: list[Host]) -> object:
    """A host's class: as written, else den's default from its system."""
    for host in host_facts:
        if host.host_class is not None:
            return host.host_class
    for host in host_facts:
        if isinstance(host.system, str):
            return "darwin" if host.system.endswith("darwin") else "nixos"
    return UNKNOWN


def _users_naming_their_aspect(model: Model) -> set[tuple[str, str]]:
    """(host, user) pairs whose user sets `aspect`, in any file of the host."""
    return {(h.name, user) for h in model.hosts for user in h.user_aspects}


def _hosts_by_name(model: Model) -> dict[str, list[Host]]:
    hosts: dict[str, list[Host]] = {}
    for host in model.hosts:
        hosts.setdefault(host.name, []).append(host)
    return hosts


def entity_aspects(model: Model) -> dict[tuple[str, ...], set[str]]:
    """Aspects den walks as an entity's own, with the entity's kind."""
    found: dict[tuple[str, ...], set[str]] = {}
    named = _users_naming_their_aspect(model)
    for name, facts in _hosts_by_name(model).items():
        if not any(h.aspect_set for h in facts):
            found.setdefault((name,), set()).add("host")
        for host in facts:
            for user in host.users:
                found.setdefault((name, user), set()).add("user")
                if (name, user) not in named:
                    found.setdefault((user,), set()).add("user")
    for home in model.home_names:
        found.setdefault((home,), set()).add("home")
    return found


def _walks(model: Model) -> dict[AspectId, set[str]]:
    if "walks" not in model.cache:
        namespaces = model.local_namespaces | {
            t[1] for t in model.trees.roots if t[0] == "ful"
        }
        model.cache["walks"] = walked_kinds(
            model.includes,
            entity_aspects(model),
            namespaces,
            model.trees.top_level(ASPECTS),
            model.user_names,
        )
    return model.cache["walks"]


def _include_spans(model: Model) -> dict[str, list[Span]]:
    spans: dict[str, list[Span]] = {}
    for inc in model.includes:
        spans.setdefault(inc.item.span.path, []).append(inc.item.span)
    return spans


def _inside(span: Span, outer: list[Span]) -> bool:
    return any(
        o.start_byte <= span.start_byte and span.end_byte <= o.end_byte for o in outer
    )


def _referenced_elsewhere(model: Model) -> set[str]:
    """Top-level aspects named somewhere other than an includes list item."""
    includes = _include_spans(model)
    found: set[str] = set()
    for ref in model.references:
        if ref.root != "den" or ref.path[:1] != ("aspects",):
            continue
        if len(ref.path) < 2:
            continue  # `with den.aspects;`: its names are read as includes
        if not _inside(ref.span, includes.get(ref.span.path, [])):
            found.add(ref.path[1])
    return found


def _projects_host_aspects(model: Model) -> bool:
    """Whether `den.batteries.host-aspects` (host content onto users) is in use."""
    return model.words.get("host-aspects", 0) > 0


def _collected_classes(model: Model) -> set[str]:
    """Classes some route, deliver or forward of the workspace collects."""
    found: set[str] = set()
    effects = [e for p in model.policies.values() for e in p.effects]
    for effect in effects + model.loose_effects:
        for name in ("fromClass", "from"):
            f = effect.field(name)
            if f is not None and isinstance(f.value, str):
                found.add(f.value)
    found.update(f.from_class for f in model.forwards if isinstance(f.from_class, str))
    return found


def _host_scope_home_content(model: Model) -> Iterator[Finding]:
    if not model.profile.home_content_at_host_inert or model.has_external_modules:
        return
    if _projects_host_aspects(model):
        return
    hosts = _hosts_by_name(model)
    if any(_host_class(f) not in ("nixos", "darwin") for f in hosts.values()):
        # A host built from home-manager (or a class the model cannot read)
        # may consume homeManager content at its own scope.
        return
    walks = _walks(model)
    elsewhere = _referenced_elsewhere(model)
    not_host_only = model.user_names | model.home_names
    # A route, deliver or forward of the workspace that collects a home class
    # reads it wherever it fires, host scopes included.
    home_classes = [c for c in HOME_CLASSES if c not in _collected_classes(model)]
    for aspect, kinds in sorted(walks.items(), key=lambda i: (i[0].tree, i[0].path)):
        if aspect.tree != ASPECTS or kinds != {"host"} or len(aspect.path) != 1:
            continue
        name = aspect.path[0]
        if name in not_host_only or name in elsewhere:
            continue
        node = model.trees.node(ASPECTS, aspect.path)
        if node is None or node.hidden:
            continue
        for home_class in home_classes:
            child = node.children.get(home_class)
            if child is None:
                continue
            for definition in child.definitions:
                yield _home_at_host(model, name, home_class, definition.span)


def _home_at_host(model: Model, name: str, home_class: str, span: Span) -> Finding:
    if name in _hosts_by_name(model):
        where = f"the aspect of host `{name}`"
        move = (
            f"Move it to a user's aspect, to `den.aspects.{name}.provides.to-users` "
            f"(every user of the host) or to `den.aspects.{name}.<user>` (one user)."
        )
    else:
        where = "included only where hosts are walked"
        move = (
            "Move it to an aspect walked for users (a user's aspect, "
            "`provides.to-users`, or an aspect included from one)."
        )
    return finding(
        "den/host-scope-home-content",
        span,
        f"`{home_class}` content on `den.aspects.{name}`, which den walks only at "
        f"host scope ({where}): den keeps what a host scope emits in the host's own "
        f"classes, so this `{home_class}` configuration never reaches a user. {move}",
    )


# -- den/entity-without-aspect --------------------------------------------------------


def _entity_without_aspect(model: Model) -> Iterator[Finding]:
    trees = model.trees
    # A namespace from another flake adds only `den.ful.<name>` aspects and
    # classes, never `den.aspects`; modules imported from outside may.
    if model.external_imports or not _root_visible(model):
        return
    top = matcher(trees.top_level(ASPECTS))
    if any(
        kind.values("aspect")
        for name in ("host", "user", "home")
        if (kind := model.kinds.get(name)) is not None
    ):
        return  # the schema sets every entity's aspect
    for name, facts in sorted(_hosts_by_name(model).items()):
        if any(h.aspect_set for h in facts) or name in BUILTIN_ASPECTS:
            continue
        if trees.defined(ASPECTS, (name,)) is not False:
            continue
        yield _missing_entity_aspect("Host", name, facts[0].span, top)
    reported: set[str] = set()
    # A host is often written across files: its users in one, a user's
    # `aspect` in another.
    named = _users_naming_their_aspect(model)
    for host in sorted(model.hosts, key=lambda h: (h.span.path, h.span.start_byte)):
        for user, span in host.user_spans:
            if user in reported or (host.name, user) in named:
                continue
            if trees.defined(ASPECTS, (user,)) is not False:
                continue
            if any(
                trees.defined(ASPECTS, (h.name, user)) is not False
                for h in model.hosts
                if user in h.users
            ):
                continue  # the user is configured through den.aspects.<host>.<user>
            reported.add(user)
            yield _missing_entity_aspect("User", user, span, top)
    for home in sorted(model.homes, key=lambda h: (h.span.path, h.span.start_byte)):
        name = home.name.split("@", 1)[0]
        if name in reported or trees.defined(ASPECTS, (name,)) is not False:
            continue
        reported.add(name)
        yield _missing_entity_aspect("Home", name, home.span, top, home.name)


def _root_visible(model: Model) -> bool:
    root = model.trees.roots.get(ASPECTS)
    return not model.trees.tree_open(ASPECTS) and not (root is not None and root.hidden)


def _missing_entity_aspect(
    kind: str, name: str, span: Span, top: NameMatcher, written: str | None = None
) -> Finding:
    suggestion = top.match(name)
    entity = f"{kind} `{written or name}`"
    message = (
        f"{entity} has no `den.aspects.{name}` in this configuration: den gives it "
        f"an empty aspect, so it is built only from `den.default` and the "
        f"{kind.lower()} schema's includes."
    )
    if suggestion is not None:
        message += (
            f" Did you mean `den.aspects.{suggestion}`? An entity's aspect is "
            "found by its exact name."
        )
    else:
        message += f" Define `den.aspects.{name}` to configure it."
    return finding("den/entity-without-aspect", span, message)


# -- den/unknown-aspect -------------------------------------------------------------


def _unknown_aspect(model: Model) -> Iterator[Finding]:
    # Modules imported from outside may define any aspect. A namespace from
    # another flake only hides its own aspects: references into it are left
    # alone even where the workspace adds aspects to it.
    if model.external_imports:
        return
    external = set(model.namespaces) - model.local_namespaces
    namespaces = (
        model.local_namespaces | {t[1] for t in model.trees.roots if t[0] == "ful"}
    ) - external
    top = model.trees.top_level(ASPECTS)
    entities = {h.name for h in model.hosts} | model.user_names | model.home_names
    seen: set[Span] = set()
    for inc in model.includes:
        target = inc.item.target
        if target[0] not in ("aspect", "bracket", "namespace", "arg"):
            continue
        if target[0] in ("namespace", "arg") and (
            len(target) < 3 or target[1] not in namespaces
        ):
            continue
        if target[0] == "bracket" and (target[1] == "den" or target[1] in external):
            continue
        aspect = include_target(target, namespaces, top)
        if aspect is None or inc.item.span in seen:
            continue
        seen.add(inc.item.span)
        found = _missing(model, aspect, entities)
        if found is not None:
            yield _unknown_aspect_finding(
                target, aspect, found, inc.item.span, inc.relation
            )
    for ref in model.references:
        if ref.bracket is None or not ref.findfile or ref.span in seen:
            continue
        if not ref.path or ref.path[0] == "den" or ref.path[0] in external:
            continue
        seen.add(ref.span)
        aspect = bracket_target(ref.path, namespaces, top)
        if aspect is None:
            continue
        found = _missing(model, aspect, entities)
        if found is not None:
            yield _unknown_aspect_finding(
                ("bracket", *ref.path), aspect, found, ref.span, "reference"
            )


def _missing(
    model: Model, aspect: AspectId, entities: set[str]
) -> tuple[tuple[str, ...], set[str]] | None:
    """The first missing path prefix and its would-be siblings, if surely missing."""
    path = normal_path(aspect.path, first_key(aspect.tree))
    if not path:
        return None
    if aspect.tree == ASPECTS and path[0] in BUILTIN_ASPECTS | entities:
        if len(path) == 1:
            return None  # den creates an entity's aspect itself
    for depth in range(1, len(path) + 1):
        prefix = path[:depth]
        state = model.trees.defined(aspect.tree, prefix)
        if state is None:
            return None
        if state is False:
            if aspect.tree == ASPECTS and depth == 1 and prefix[0] in entities:
                return None
            parent = model.trees.node(aspect.tree, prefix[:-1]) if depth > 1 else None
            siblings = (
                set(parent.children)
                if parent is not None
                else model.trees.top_level(aspect.tree)
            )
            return prefix, siblings
    return None


def _unknown_aspect_finding(
    target: tuple[str, ...],
    aspect: AspectId,
    missing: tuple[tuple[str, ...], set[str]],
    span: Span,
    relation: str,
) -> Finding:
    prefix, siblings = missing
    label = aspect_label(aspect.tree, prefix)
    suggestion = close_match(prefix[-1], siblings - {prefix[-1]})
    if target[0] == "bracket":
        written = "<" + "/".join(target[1:]) + ">"
        consequence = (
            f"den's angle-bracket lookup of `{written}` finds no `{label}` and "
            "fails the evaluation"
        )
    else:
        item = {"includes": "include", "excludes": "exclude"}.get(relation, relation)
        consequence = (
            f"den fails to evaluate this {item} (attribute `{prefix[-1]}` missing)"
        )
    message = f"`{label}` is not defined anywhere in this configuration: {consequence}."
    if suggestion is not None:
        message += (
            f" Did you mean `{aspect_label(aspect.tree, prefix[:-1] + (suggestion,))}`?"
        )
    else:
        message += f" Define `{label}`, or fix the name."
    return finding("den/unknown-aspect", span, message)
