"""Layer 4: rules, pure functions from the model to findings."""

from __future__ import annotations

import logging

from den_lsp.analysis import api, aspects, classes, isolation, kinds, policies, routes
from den_lsp.analysis.findings import Finding, Fix, Severity, Span, TextEdit
from den_lsp.model.model import Model

log = logging.getLogger(__name__)

RULE_FAMILIES = (isolation, routes, kinds, aspects, classes, policies, api)


def analyze(model: Model) -> list[Finding]:
    """All findings of the workspace model, sorted by place."""
    findings: list[Finding] = []
    for family in RULE_FAMILIES:
        try:
            findings.extend(list(family.check(model)))
        except Exception:
            # A bug in one family must not silence the others: its findings
            # are left out, and the failure is logged with its traceback.
            name = family.__name__.rsplit(".", 1)[-1]
            log.exception("rule family %r failed; its findings are left out", name)
    # One construct reached twice (a route built by a helper that two
    # policies call) is one finding, with one fix.
    unique = {(f.code, f.span): f for f in reversed(findings)}
    return sorted(unique.values(), key=lambda f: (f.span, f.code))


__all__ = ["Finding", "Fix", "Severity", "Span", "TextEdit", "analyze"]
