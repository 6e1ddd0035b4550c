"""API profiles: what differs between den generations, kept as data.

Rules ask the active profile which route fields exist, which constructors
exist, and which field moves a delivery route's result out of an isolated
scope. Nothing else in the code branches on the den generation.
"""

from __future__ import annotations

from dataclasses import dataclass

from den_lsp.facts.constructors import EFFECT_CONSTRUCTORS

# Fields every generation with policies reads on a route
# (den-reference §3.2). The forward-derived ones are set by den itself but
# are accepted from users too.
_BASE_ROUTE_FIELDS = frozenset(
    {
        "fromClass",
        "intoClass",
        "path",
        "intoPath",
        "collectSubtree",
        "guard",
        "adaptArgs",
        "instantiate",
        "adapterModule",
        "mapModule",
        "sourceScopeId",
        "sourceAspect",
        "adapterKey",
        "guardArgs",
        "intoPathFn",
        "intoPathArgs",
        "adaptArgv",
        "freeformMod",
        "staticIntoPath",
        "__complexForward",
    }
)

# Every generation with policies has these; `deliver` and `spawn` came later.
_BASE_CONSTRUCTORS = (EFFECT_CONSTRUCTORS - {"deliver", "spawn"}) | {
    "mkPolicy",
    "for",
    "when",
    "pipe",
    "pipelineOnly",
}


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    constructors: frozenset[str]
    route_fields: frozenset[str]
    # The field that lets a delivery route fired in an isolated scope land
    # its result outside it.
    decouple_field: str
    # The field (or None) that makes a route hand modules over unevaluated,
    # for targets that instantiate their payload again.
    verbatim_field: str | None
    deliver_fields: frozenset[str] = frozenset()
    # Pairs of route fields that cannot be given together.
    conflicts: tuple[tuple[str, str], ...] = (
        ("path", "intoPath"),
        ("appendToParent", "collectScopeId"),
    )
    # Whether homeManager/hjem/maid content emitted at a host scope stays
    # there, inert (den's fix for its issue 609), instead of reaching users.
    home_content_at_host_inert: bool = False
    # API this generation removed or deprecated, by the names of ApiUse
    # (plus `guest-os` for the class).
    removed_api: frozenset[str] = frozenset()
    deprecated_api: frozenset[str] = frozenset()

    @property
    def has_deliver(self) -> bool:
        return "deliver" in self.constructors


ISOLATION = Profile(
    name="isolation",
    summary=(
        "den with entity isolation as shipped: den.schema.<kind>.isolated, "
        "route appendToParent and reinstantiate, deliver"
    ),
    constructors=_BASE_CONSTRUCTORS | {"deliver", "spawn"},
    route_fields=_BASE_ROUTE_FIELDS | {"appendToParent", "reinstantiate"},
    decouple_field="appendToParent",
    verbatim_field="reinstantiate",
    deliver_fields=frozenset({"from", "to", "at", "mode", "guard", "adaptArgs"}),
    home_content_at_host_inert=True,
    removed_api=frozenset(
        {
            "den.stages",
            "den.deliveredChild",
            "host.deliveredChildren",
            "guest-os",
            "den.ctx.into",
        }
    ),
    deprecated_api=frozenset({"den.ctx", "den.lib.parametric", "den.lib.take"}),
)

ISOLATION_DESIGN = Profile(
    name="isolation-design",
    summary=(
        "the isolation design: den.schema.<kind>.isolated and a route field "
        "collectScopeId naming the scope a delivery route collects from"
    ),
    constructors=_BASE_CONSTRUCTORS,
    route_fields=_BASE_ROUTE_FIELDS | {"collectScopeId"},
    decouple_field="collectScopeId",
    verbatim_field=None,
    removed_api=frozenset({"den.stages", "den.ctx.into"}),
    deprecated_api=frozenset({"den.ctx", "den.lib.parametric", "den.lib.take"}),
)

# den before policies (vic/den up to the fx pipeline with contexts): `den.ctx`
# transitions, `den.provides` batteries and `den.lib.parametric` are its own
# API, not deprecated. It has no policies, so no route fields.
CTX = Profile(
    name="ctx",
    summary=(
        "den before policies: den.ctx contexts and transitions, den.provides "
        "batteries, den.lib.parametric and den.lib.take"
    ),
    constructors=frozenset(),
    route_fields=frozenset(),
    decouple_field="",
    verbatim_field=None,
    conflicts=(),
)

PROFILES = {p.name: p for p in (ISOLATION, ISOLATION_DESIGN, CTX)}
DEFAULT_PROFILE = ISOLATION


# Signs of a den generation with policies: the workspace uses its API.
_POLICY_ERA = frozenset(
    {"policies", "classes", "quirks", "batteries", "isolated", "lib.policy"}
    | EFFECT_CONSTRUCTORS
    | {"mkPolicy", "for", "when", "pipe", "pipelineOnly"}
)


def detect_profile(uses: set[str] | frozenset[str]) -> Profile:
    """Pick the profile a workspace's own usage points at.

    ``uses`` holds route field and constructor names seen anywhere, plus
    ``ctx`` and ``parametric`` when the workspace writes `den.ctx` or
    `den.lib.parametric`/`den.lib.take`, and the policy-era den sections it
    names (`policies`, `classes`, `quirks`, `batteries`, `lib.policy`).
    A workspace that uses those and nothing of the policy era targets den
    before policies. Only the design spells the decoupling field
    ``collectScopeId``; everything else (including no evidence at all) is
    den as shipped.
    """
    if uses & {"ctx", "parametric"} and not uses & _POLICY_ERA:
        return CTX
    if "collectScopeId" in uses and not uses & {
        "appendToParent",
        "reinstantiate",
        "deliver",
    }:
        return ISOLATION_DESIGN
    return ISOLATION


def resolve_profile(setting: str | None, uses: set[str] | frozenset[str]) -> Profile:
    if setting and setting != "auto":
        return PROFILES[setting]
    return detect_profile(uses)
