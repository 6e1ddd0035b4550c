"""den.lib.policy's constructors, apart from the facts made of them.

The profiles say which of them a den generation has, and settings name the
profiles: every run reads them, even one that never reads a fact.
"""

# Constructors of den.lib.policy that produce effects, by the path after
# `den.lib.policy`. Which of them a den generation has is the profile's
# business; the extractor records whatever is written.
EFFECT_CONSTRUCTORS = frozenset(
    {
        "route",
        "deliver",
        "provide",
        "include",
        "exclude",
        "instantiate",
        "spawn",
        "resolve",
        "resolve.to",
        "resolve.withIncludes",
        "resolve.to.withIncludes",
        "resolve.shared",
        "resolve.shared.to",
        "resolve.shared.withIncludes",
    }
)
