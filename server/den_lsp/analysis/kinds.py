"""Kind name rules: names in resolve.to and parent that no schema declares."""

from __future__ import annotations

from typing import Iterator

from den_lsp.analysis.common import close_match, did_you_mean, finding, replace_fix
from den_lsp.analysis.findings import Finding, Span
from den_lsp.model.model import Model, is_known_kind

# The only kind field these rules read besides which kinds are declared (see
# ``aspects.KIND_FIELDS_READ``).
KIND_FIELDS_READ = frozenset({"parent"})


def check(model: Model) -> Iterator[Finding]:
    if "schema" in model.open_sections or "den" in model.open_sections:
        return  # some kinds are declared by computed names: cannot tell
    known = sorted(k.name for k in model.kinds.values() if k.declared)
    seen: set[Span] = set()
    for policy in model.policies.values():
        for effect in policy.effects:
            name = effect.target_kind
            if effect.family != "resolve" or not isinstance(name, str):
                continue
            if is_known_kind(model, name) or effect.target_span is None:
                continue
            if effect.target_span in seen:
                continue
            seen.add(effect.target_span)
            yield _unknown(
                name,
                effect.target_span,
                known,
                f'`resolve.to "{name}"` creates a scope of a kind no `den.schema` '
                "declares: it gets no schema includes, no entity aspect, and is "
                "never isolated.",
            )
    for kind in model.kinds.values():
        for f in kind.values("parent"):
            if not isinstance(f.value, str) or is_known_kind(model, f.value):
                continue
            yield _unknown(
                f.value,
                f.value_span,
                known,
                f'`parent = "{f.value}"` on kind `{kind.name}` names a kind no '
                "`den.schema` declares: den's relationship fan-out reads it "
                "leniently and silently does the wrong thing.",
            )


def _unknown(name: str, span: Span, known: list[str], message: str) -> Finding:
    suggestion = close_match(name, known)
    fixes = ()
    if suggestion is not None:
        fixes = (
            replace_fix(f'Use kind "{suggestion}"', span, f'"{suggestion}"', False),
        )
    return finding(
        "den/unknown-kind",
        span,
        f"Unknown kind `{name}`. {message}"
        + (
            did_you_mean(suggestion) if suggestion else f" Declare `den.schema.{name}`."
        ),
        *fixes,
    )
