"""Findings: what a rule reports, as plain data with no LSP types."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from den_lsp.syntax.span import Span


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"
    INFORMATION = "information"
    HINT = "hint"


@dataclass(frozen=True)
class TextEdit:
    """Replace the text of ``span`` (empty for an insertion) by ``new_text``."""

    span: Span
    new_text: str


@dataclass(frozen=True)
class Fix:
    title: str
    edits: tuple[TextEdit, ...]
    # A safe fix keeps what den builds for a correct config; an unsafe one may
    # change behaviour and is never applied in bulk.
    safe: bool = True


@dataclass(frozen=True)
class Finding:
    code: str
    severity: Severity
    span: Span
    message: str
    fixes: tuple[Fix, ...] = field(default=())
