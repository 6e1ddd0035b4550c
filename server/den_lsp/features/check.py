"""``den-lsp check``: findings printed as compilers print them, or as JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from den_lsp.analysis.findings import Finding, Severity, Span

SEVERITY_ORDER = (Severity.HINT, Severity.INFORMATION, Severity.WARNING, Severity.ERROR)


@dataclass(frozen=True)
class Located:
    """A finding with the paths to print for it (relative to the caller)."""

    display_path: str
    finding: Finding
    root: Path
    cwd: Path

    def display(self, rel: str) -> str:
        return display_path(self.root, rel, self.cwd)


def _range(span: Span) -> dict:
    return {
        "start": {"line": span.start_line, "character": span.start_character},
        "end": {"line": span.end_line, "character": span.end_character},
    }


def format_text(items: Iterable[Located]) -> str:
    lines = []
    counts = {s: 0 for s in Severity}
    files: set[str] = set()
    for item in items:
        f = item.finding
        counts[f.severity] += 1
        files.add(item.display_path)
        lines.append(
            f"{item.display_path}:{f.span.start_line + 1}:{f.span.start_character + 1}: "
            f"{f.severity.value} {f.code}: {f.message}"
        )
    total = sum(counts.values())
    if total == 0:
        lines.append("No findings.")
    else:
        parts = [
            f"{counts[s]} {s.value}{'s' if counts[s] != 1 and s is not Severity.INFORMATION else ''}"
            for s in reversed(SEVERITY_ORDER)
            if counts[s]
        ]
        lines.append(
            f"{total} finding{'s' if total != 1 else ''} in {len(files)} "
            f"file{'s' if len(files) != 1 else ''}: {', '.join(parts)}."
        )
    return "\n".join(lines)


def to_json(item: Located) -> dict:
    f = item.finding
    return {
        "path": item.display_path,
        "range": _range(f.span),
        "severity": f.severity.value,
        "code": f.code,
        "message": f.message,
        "fixes": [
            {
                "title": fix.title,
                "safe": fix.safe,
                "edits": [
                    {
                        "path": item.display(edit.span.path),
                        "range": _range(edit.span),
                        "newText": edit.new_text,
                    }
                    for edit in fix.edits
                ],
            }
            for fix in f.fixes
        ],
    }


def format_json(items: Iterable[Located]) -> str:
    return json.dumps([to_json(i) for i in items], indent=2)


def exit_code(items: Iterable[Located], fail_on: Severity) -> int:
    threshold = SEVERITY_ORDER.index(fail_on)
    for item in items:
        if SEVERITY_ORDER.index(item.finding.severity) >= threshold:
            return 1
    return 0


def display_path(root: Path, rel: str, cwd: Path) -> str:
    absolute = root / rel
    try:
        return absolute.relative_to(cwd).as_posix()
    except ValueError:
        return absolute.as_posix()
