"""Route field rules: fields den does not read, and fields that conflict."""

from __future__ import annotations

from typing import Iterator

from den_lsp.analysis.common import close_match, did_you_mean, finding, replace_fix
from den_lsp.analysis.findings import Finding
from den_lsp.facts.types import Effect
from den_lsp.model.model import Model


def _route_effects(model: Model) -> Iterator[Effect]:
    for policy in model.policies.values():
        for effect in policy.effects:
            if effect.family == "route":
                yield effect


def check(model: Model) -> Iterator[Finding]:
    profile = model.profile
    for effect in _route_effects(model):
        for f in effect.fields:
            if f.name in profile.route_fields:
                continue
            suggestion = close_match(f.name, profile.route_fields)
            fixes = ()
            if suggestion is not None:
                fixes = (
                    replace_fix(
                        f"Rename `{f.name}` to `{suggestion}`",
                        f.key_span,
                        suggestion,
                        safe=False,
                    ),
                )
            yield finding(
                "den/unknown-route-field",
                f.key_span,
                f"den's route does not read `{f.name}` (profile "
                f"`{profile.name}`): the field is silently ignored."
                + did_you_mean(suggestion),
                *fixes,
            )
        for first, second in profile.conflicts:
            a, b = effect.field(first), effect.field(second)
            if a is None or b is None:
                continue
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
                f"Keep one of them.",
            )
