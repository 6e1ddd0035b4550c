"""Findings as LSP diagnostics.

Pure conversion with no server state: the server decides which documents to
publish and when; this module only turns one finding into the diagnostic a
client shows. A finding's fixes travel in the diagnostic's ``data`` as plain
JSON, so the code-action request can offer them without re-running analysis.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.uris import from_fs_path

from den_lsp.analysis.codes import CODES, DEPRECATED, UNNECESSARY
from den_lsp.analysis.findings import Finding, Fix, Severity, Span

SOURCE = "den-lsp"

UriOf = Callable[[str], str]

_TAGS = {
    UNNECESSARY: types.DiagnosticTag.Unnecessary,
    DEPRECATED: types.DiagnosticTag.Deprecated,
}

_SEVERITY = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.INFORMATION: types.DiagnosticSeverity.Information,
    Severity.HINT: types.DiagnosticSeverity.Hint,
}


def document_uri(root: Path, path: str) -> str:
    """The URI of a project path: relative to ``root``, or absolute outside it."""
    return from_fs_path(str(root / path))


def to_range(span: Span) -> types.Range:
    return types.Range(
        start=types.Position(line=span.start_line, character=span.start_character),
        end=types.Position(line=span.end_line, character=span.end_character),
    )


def range_data(span: Span) -> dict[str, Any]:
    return {
        "start": {"line": span.start_line, "character": span.start_character},
        "end": {"line": span.end_line, "character": span.end_character},
    }


def fix_data(fix: Fix, uri_of: UriOf | None = None) -> dict[str, Any]:
    """One fix as JSON: its title, whether it is safe, and its text edits.

    Each edit names its file by project path; with ``uri_of`` (project path
    to URI) it also carries the file's URI, since a fix may edit a file other
    than the diagnostic's.
    """
    edits = []
    for edit in fix.edits:
        item: dict[str, Any] = {
            "path": edit.span.path,
            "range": range_data(edit.span),
            "newText": edit.new_text,
        }
        if uri_of is not None:
            item["uri"] = uri_of(edit.span.path)
        edits.append(item)
    return {"title": fix.title, "safe": fix.safe, "edits": edits}


def too_large_diagnostic(size: int, limit: int) -> types.Diagnostic:
    """The one diagnostic of a document too large for den-lsp to analyse."""
    mib = 1024 * 1024
    return types.Diagnostic(
        range=types.Range(
            start=types.Position(line=0, character=0),
            end=types.Position(line=0, character=0),
        ),
        severity=types.DiagnosticSeverity.Information,
        source=SOURCE,
        message=(
            f"den-lsp does not analyse this file: it is {size / mib:.1f} MiB, "
            f"and den-lsp reads files of up to {limit // mib} MiB"
        ),
    )


def to_diagnostic(
    finding: Finding, uri_of: UriOf | Path | None = None
) -> types.Diagnostic:
    """The diagnostic for ``finding``.

    ``uri_of`` gives the URIs of the files its fixes edit: a function from
    project path to URI, or the project root to build them from.
    """
    if isinstance(uri_of, Path):
        uri_of = _under(uri_of)
    fixes = [fix_data(fix, uri_of) for fix in finding.fixes]
    # The registry tags a rule whose construct has no effect (shown faded) or
    # is deprecated (shown struck through).
    code = CODES.get(finding.code)
    tags = [_TAGS[t] for t in code.tags if t in _TAGS] if code is not None else []
    return types.Diagnostic(
        range=to_range(finding.span),
        severity=_SEVERITY[finding.severity],
        code=finding.code,
        source=SOURCE,
        message=finding.message,
        tags=tags or None,
        data=fixes,
    )


def _under(root: Path) -> UriOf:
    def uri_of(path: str) -> str:
        return document_uri(root, path)

    return uri_of
