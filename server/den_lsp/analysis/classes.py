"""Class rules for routes and forwards: misspelt classes, sources nobody authors.

A route collects the content of its ``fromClass`` and appends it to its
``intoClass``. Content exists for a class only if some aspect authors it
(an aspect key of that name) or something produces it (a route, a forward,
a provide, a battery). A misspelt or stale class name makes the route
deliver nothing, silently.
"""

from __future__ import annotations

from collections import Counter
from typing import Iterator

from den_lsp.analysis.aspects import class_candidates
from den_lsp.analysis.common import close_match, did_you_mean, finding, replace_fix
from den_lsp.analysis.findings import Finding, Span
from den_lsp.facts.types import Effect
from den_lsp.model.builtins import BUILTIN_CLASSES
from den_lsp.model.model import Model

# Fields naming a class, by effect family: (field, role).
_CLASS_FIELDS = {
    "route": (("fromClass", "source"), ("intoClass", "target")),
    "deliver": (("from", "source"), ("to", "target")),
    "provide": (("class", "target"),),
    "instantiate": (("class", "target"),),
}

PRODUCING = frozenset({"target"})
# The only kind fields these rules read: the classes a kind gives its
# entities, among the candidates for a misspelt class (see
# ``aspects.KIND_FIELDS_READ``).
KIND_FIELDS_READ = frozenset({"classes", "class"})


def _effects(model: Model) -> Iterator[Effect]:
    seen: set[int] = set()
    for policy in model.policies.values():
        for effect in policy.effects:
            if id(effect) not in seen:
                seen.add(id(effect))
                yield effect
    for effect in model.loose_effects:
        if id(effect) not in seen:
            seen.add(id(effect))
            yield effect


def _class_uses(model: Model) -> list[tuple[str, str, Span, Effect | None]]:
    """Every class named by an effect or forward: (class, role, value span, effect)."""
    uses: list[tuple[str, str, Span, Effect | None]] = []
    for effect in _effects(model):
        for name, role in _CLASS_FIELDS.get(effect.family, ()):
            f = effect.field(name)
            if f is not None and isinstance(f.value, str):
                uses.append((f.value, role, f.value_span, effect))
    for forward in model.forwards:
        if isinstance(forward.from_class, str) and forward.from_span is not None:
            uses.append((forward.from_class, "source", forward.from_span, None))
        if isinstance(forward.into_class, str):
            uses.append((forward.into_class, "target", forward.span, None))
    return uses


def check(model: Model) -> Iterator[Finding]:
    uses = _class_uses(model)
    counts = Counter(name for name, _, _, _ in uses)
    authored = _authored(model)
    produced = {name for name, role, _, _ in uses if role in PRODUCING}
    candidates = class_candidates(model)
    for name, role, span, effect in uses:
        if role == "target" and effect is None:
            continue  # a forward's intoClass has no span of its own
        if effect is not None and effect.family in ("provide", "instantiate"):
            continue
        others = counts[name] - 1
        # Known: registered, given to entities, authored by an aspect, or
        # named by another route or forward.
        if name in candidates or name in authored or others > 0:
            continue
        mentioned = model.words.get(name, 0) > counts[name]
        suggestion = _misspelt(name, candidates)
        if suggestion is not None and not mentioned:
            yield _unknown_route_class(name, role, span, suggestion)
            continue
        if role != "source" or name in produced or mentioned:
            continue
        if model.has_external_modules or name in BUILTIN_CLASSES:
            continue
        yield _never_authored(name, span)


def _authored(model: Model) -> set[str]:
    """Every key written in any aspect tree, at any depth the reader recorded."""
    return {key.path[-1] for key in model.aspect_keys if key.path}


def _misspelt(name: str, candidates: set[str]) -> str | None:
    lowered = {c.lower(): c for c in candidates}
    if name.lower() in lowered and lowered[name.lower()] != name:
        return lowered[name.lower()]
    return close_match(name, candidates)


def _unknown_route_class(name: str, role: str, span: Span, suggestion: str) -> Finding:
    if role == "source":
        consequence = "collects the content of class"
        result = "finds nothing to deliver"
    else:
        consequence = "appends its result to class"
        result = "lands where no configuration reads it"
    return finding(
        "den/unknown-class",
        span,
        f"This {consequence} `{name}`, which is not a class den knows: no aspect "
        f"authors it and nothing registers it, so the route {result}."
        + did_you_mean(suggestion),
        replace_fix(f"Use class `{suggestion}`", span, f'"{suggestion}"', safe=False),
    )


def _never_authored(name: str, span: Span) -> Finding:
    return finding(
        "den/route-source-never-authored",
        span,
        f"This route collects class `{name}`, but no aspect in this configuration "
        f"authors `{name}` content and no route, forward or battery produces it, "
        "so the route delivers nothing. Write the content under "
        f"`{name}` on an aspect walked where the route fires, or route the class "
        "that holds it.",
    )
