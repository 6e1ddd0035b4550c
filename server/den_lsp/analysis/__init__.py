"""Layer 4: rules, pure functions from the model to findings."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from den_lsp.analysis.findings import Finding, Fix, Severity, Span, TextEdit

if TYPE_CHECKING:
    from den_lsp.model.model import Model

log = logging.getLogger(__name__)


def rule_families() -> tuple:
    """The rule modules, in the order their findings are collected.

    They are imported on first use, not with this package: a check whose
    findings all come from the cache never loads them.
    """
    from den_lsp.analysis import (
        api,
        aspects,
        classes,
        isolation,
        kinds,
        policies,
        routes,
    )

    return (isolation, routes, kinds, aspects, classes, policies, api)


def __getattr__(name: str):
    if name == "RULE_FAMILIES":
        return rule_families()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def analyze(model: Model) -> list[Finding]:
    """All findings of the workspace model, sorted by place."""
    findings: list[Finding] = []
    for family in rule_families():
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
