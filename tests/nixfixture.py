"""Fixtures written as small Nix workspaces with range markers.

A fixture is a dict of file name to Nix text. ``⟪`` and ``⟫`` mark the range
a test expects a finding (or fact) at; they are removed before analysis and
their positions reported as 0-based (line, character) pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from den_lsp.features.project import Project

OPEN, CLOSE = "⟪", "⟫"


@dataclass(frozen=True)
class Marked:
    path: str
    start: tuple[int, int]
    end: tuple[int, int]


def strip_markers(path: str, text: str) -> tuple[str, list[Marked]]:
    """Remove the markers, returning the clean text and the marked ranges."""
    clean: list[str] = []
    marks: list[Marked] = []
    opened: list[tuple[int, int]] = []
    line = character = 0
    for ch in text:
        if ch == OPEN:
            opened.append((line, character))
            continue
        if ch == CLOSE:
            marks.append(Marked(path, opened.pop(), (line, character)))
            continue
        clean.append(ch)
        if ch == "\n":
            line, character = line + 1, 0
        else:
            character += len(ch.encode("utf-16-le")) // 2
    assert not opened, f"unclosed marker in {path}"
    return "".join(clean), sorted(marks, key=lambda m: (m.start, m.end))


def write_workspace(root: Path, files: dict[str, str]) -> list[Marked]:
    marks: list[Marked] = []
    for name, text in files.items():
        clean, found = strip_markers(name, text)
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(clean, encoding="utf-8")
        marks.extend(found)
    return marks


def project(
    root: Path, files: dict[str, str], **overrides
) -> tuple[Project, list[Marked]]:
    marks = write_workspace(root, files)
    proj = Project(root, overrides or None)
    proj.index()
    return proj, marks


def findings(root: Path, files: dict[str, str], **overrides):
    """(finding tuples, marks): each finding as (code, path, start, end)."""
    proj, marks = project(root, files, **overrides)
    found = [f for items in proj.findings().values() for f in items]
    found.sort(key=lambda f: (f.span.path, f.span.start_line, f.span.start_character))
    return found, marks


def located(finding) -> tuple[str, str, tuple[int, int], tuple[int, int]]:
    s = finding.span
    return (
        finding.code,
        s.path,
        (s.start_line, s.start_character),
        (s.end_line, s.end_character),
    )


def apply_edits(text: str, edits) -> str:
    """Apply LSP-style edits (0-based line/UTF-16 character spans) to text."""
    lines = text.split("\n")

    def offset(line: int, character: int) -> int:
        before = sum(len(text_line) + 1 for text_line in lines[:line])
        units = 0
        for index, ch in enumerate(lines[line]):
            if units >= character:
                return before + index
            units += len(ch.encode("utf-16-le")) // 2
        return before + len(lines[line])

    ordered = sorted(
        edits, key=lambda e: (e.span.start_line, e.span.start_character), reverse=True
    )
    for edit in ordered:
        start = offset(edit.span.start_line, edit.span.start_character)
        end = offset(edit.span.end_line, edit.span.end_character)
        text = text[:start] + edit.new_text + text[end:]
        lines = text.split("\n")
    return text
