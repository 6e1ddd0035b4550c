"""Layer 4: rules, pure functions from the model to findings."""

from __future__ import annotations

from den_lsp.analysis import api, aspects, classes, isolation, kinds, policies, routes
from den_lsp.analysis.findings import Finding, Fix, Severity, Span, TextEdit
from den_lsp.model.model import Model

RULE_FAMILIES = (isolation, routes, kinds, aspects, classes, policies, api)


def analyze(model: Model) -> list[Finding]:
    """All findings of the workspace model, sorted by place."""
    findings: list[Finding] = []
    for family in RULE_FAMILIES:
        findings.extend(family.check(model))
    # One construct reached twice (a route built by a helper that two
    # policies call) is one finding, with one fix.
    unique = {(f.code, f.span): f for f in reversed(findings)}
    return sorted(unique.values(), key=lambda f: (f.span, f.code))


__all__ = ["Finding", "Fix", "Severity", "Span", "TextEdit", "analyze"]
