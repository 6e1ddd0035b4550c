"""Route field rules: fields den does not read, and fields that conflict."""

from __future__ import annotations

from typing import Generator, Iterator

from den_lsp.analysis.common import close_match, did_you_mean, finding, replace_fix
from den_lsp.analysis.findings import Finding
from den_lsp.facts.types import Effect
from den_lsp.model.model import Model
from den_lsp.model.profiles import PROFILES

# These rules read no kind field and no kind (see ``aspects.KIND_FIELDS_READ``).
KIND_FIELDS_READ = frozenset()


def _route_effects(model: Model) -> Iterator[Effect]:
    for policy in model.policies.values():
        for effect in policy.effects:
            if effect.family == "route":
                yield effect


def check(model: Model) -> Iterator[Finding]:
    profile = model.profile
    for effect in _route_effects(model):
        conflicting = yield from _conflicts(model, effect)
        for f in effect.fields:
            if f.name in profile.route_fields or f.name in conflicting:
                continue
            yield _unknown_field(model, f.name, f.key_span)


def _unknown_field(model: Model, name: str, span) -> Finding:
    profile = model.profile
    other = next(
        (p for p in PROFILES.values() if p is not profile and name in p.route_fields),
        None,
    )
    if other is not None:
        # A real field of another den generation: no "did you mean", which
        # would suggest a look-alike with another meaning.
        return finding(
            "den/unknown-route-field",
            span,
            f"`{name}` is a route field of profile `{other.name}` ({other.summary}), "
            f"not of the active profile `{profile.name}`: this den ignores it. "
            "Set `profile` in den-lsp.toml if the workspace targets that den.",
        )
    suggestion = close_match(name, profile.route_fields)
    fixes = ()
    if suggestion is not None:
        fixes = (
            replace_fix(
                f"Rename `{name}` to `{suggestion}`", span, suggestion, safe=False
            ),
        )
    return finding(
        "den/unknown-route-field",
        span,
        f"den's route does not read `{name}` (profile `{profile.name}`): the field "
        "is silently ignored." + did_you_mean(suggestion),
        *fixes,
    )


def _conflicts(model: Model, effect: Effect) -> Generator[Finding, None, set[str]]:
    """Report fields given together that cannot be; return their names."""
    names: set[str] = set()
    for first, second in model.profile.conflicts:
        a, b = effect.field(first), effect.field(second)
        if a is None or b is None:
            continue
        names |= {first, second}
        if first == "path":
            consequence = "den throws `pass either intoPath or path, not both`."
        else:
            consequence = (
                "one moves the collection root, the other the append target; "
                "together the route's result lands in neither place it names."
            )
        yield finding(
            "den/conflicting-route-fields",
            b.key_span,
            f"`{first}` and `{second}` cannot be given together: {consequence} "
            "Keep one of them.",
        )
    return names
