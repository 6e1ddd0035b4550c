"""Every diagnostic code den-lsp reports, with its default severity, in one place."""

from __future__ import annotations

from dataclasses import dataclass

from den_lsp.analysis.findings import Severity


@dataclass(frozen=True)
class Code:
    code: str
    severity: Severity
    summary: str


_ALL = (
    Code("den/syntax", Severity.ERROR, "Nix syntax error"),
    Code(
        "den/isolation-leak",
        Severity.WARNING,
        "A delivered child kind is not isolated, so its system content leaks "
        "into the parent host",
    ),
    Code(
        "den/delivery-dropped",
        Severity.WARNING,
        "A delivery route inside an isolated scope appends its result to that "
        "scope, which the parent never reads",
    ),
    Code(
        "den/delivery-self-collect",
        Severity.WARNING,
        "A delivery route fired at the host collects the host's own "
        "configuration into a child's slot",
    ),
    Code(
        "den/append-to-parent-outside-isolation",
        Severity.WARNING,
        "appendToParent on a route that never fires inside an isolated scope",
    ),
    Code(
        "den/isolated-not-entity",
        Severity.WARNING,
        "isolated = true on a kind that is not an entity",
    ),
    Code(
        "den/isolated-compose-kind",
        Severity.ERROR,
        "isolated = true on a compose kind (user, home), whose content must "
        "reach the host",
    ),
    Code("den/unknown-kind", Severity.WARNING, "A kind name that is not declared"),
    Code(
        "den/unknown-route-field",
        Severity.WARNING,
        "A route field den does not read",
    ),
    Code(
        "den/conflicting-route-fields",
        Severity.ERROR,
        "Route fields that cannot be given together",
    ),
    Code(
        "den/delivery-not-verbatim",
        Severity.INFORMATION,
        "A route into a re-instantiating target without reinstantiate",
    ),
)

CODES = {c.code: c for c in _ALL}
