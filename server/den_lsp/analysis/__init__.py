"""Layer 4: rules, pure functions from the model to findings."""

from __future__ import annotations

import logging
from dataclasses import dataclass
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
    return combine(run_families(model))


@dataclass(frozen=True)
class FamilyRun:
    """What one rule family found in a model, and which words it asked about."""

    findings: tuple[Finding, ...]
    # Every word whose count in the configuration the family read; None when
    # it read the counts some other way (all of them, as far as is known).
    words: frozenset[str] | None


def run_families(
    model: Model, kept: dict[str, FamilyRun] | None = None
) -> dict[str, FamilyRun]:
    """Each rule family's findings, by family name; ``kept`` runs are not redone.

    A kept run is one the caller knows to find the same in this model as in
    the model it was made in (see ``Project``).
    """
    runs: dict[str, FamilyRun] = {}
    counts = model.words
    for family in rule_families():
        name = family.__name__.rsplit(".", 1)[-1]
        if kept and name in kept:
            runs[name] = kept[name]
            continue
        lookups = _WordLookups(counts)
        model.words = lookups
        try:
            found = tuple(family.check(model))
        except Exception:
            # A bug in one family must not silence the others: its findings
            # are left out, and the failure is logged with its traceback.
            log.exception("rule family %r failed; its findings are left out", name)
            found = ()
        finally:
            model.words = counts
        words = None if lookups.whole else frozenset(lookups.names)
        runs[name] = FamilyRun(found, words)
    return runs


def combine(runs: dict[str, FamilyRun]) -> list[Finding]:
    """The families' findings as one list, sorted by place."""
    findings = [f for run in runs.values() for f in run.findings]
    # One construct reached twice (a route built by a helper that two
    # policies call) is one finding, with one fix.
    unique = {(f.code, f.span): f for f in reversed(findings)}
    return sorted(unique.values(), key=lambda f: (f.span, f.code))


class _WordLookups:
    """A model's word counts that note each word a rule asks about."""

    def __init__(self, counts):
        self.counts = counts
        self.names: set[str] = set()
        self.whole = False  # read otherwise than word by word

    def get(self, name, default=None):
        self.names.add(name)
        return self.counts.get(name, default)

    def __getitem__(self, name):
        self.names.add(name)
        return self.counts[name]

    def __contains__(self, name) -> bool:
        self.names.add(name)
        return name in self.counts

    def __iter__(self):
        self.whole = True
        return iter(self.counts)

    def __len__(self) -> int:
        self.whole = True
        return len(self.counts)

    def __getattr__(self, attribute: str):
        self.whole = True
        return getattr(self.counts, attribute)


__all__ = [
    "FamilyRun",
    "Finding",
    "Fix",
    "Severity",
    "Span",
    "TextEdit",
    "analyze",
    "combine",
    "run_families",
]
