"""Suppression comments: ``# den-lsp: ignore[CODE]`` and ``# den-lsp: ignore-file[CODE]``.

A line suppression written on a line of its own silences the codes it names
on the next line that holds code; written after code, on its own line. A
file suppression silences them in the whole file. Several codes are
separated by commas. A suppression that silences nothing, or names no rule,
is reported as ``den/unused-suppression``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Protocol

from den_lsp.analysis.codes import CODES
from den_lsp.analysis.common import close_match
from den_lsp.analysis.findings import Finding, Fix, TextEdit
from den_lsp.syntax.positions import LineIndex
from den_lsp.syntax.span import Span

UNUSED = "den/unused-suppression"
MARKER = b"den-lsp:"

_DIRECTIVE = re.compile(
    rb"den-lsp:[ \t]*(ignore-file|ignore)\b(?:[ \t]*\[([^\]\n]*)\])?"
)


@dataclass(frozen=True)
class Directive:
    """One suppression comment."""

    path: str
    whole_file: bool
    # The 0-based line a line suppression applies to.
    line: int | None
    # Each code as written, with the span of its text.
    codes: tuple[tuple[str, Span], ...]
    # The directive text (`den-lsp: ignore[...]`), and the whole comment.
    span: Span
    comment: Span
    own_line: bool


class _Source:
    """What suppression needs of a file: its bytes, its lines, its comments."""

    def __init__(self, path: str, source: bytes, index: LineIndex, tree) -> None:
        self.path = path
        self.source = source
        self.index = index
        self.tree = tree

    def comment_at(self, offset: int):
        """The comment node holding ``offset``, if any."""
        if self.tree is None:
            return None
        node = self.tree.root.descendant_for_byte_range(offset, offset + 1)
        while node is not None and node.type != "comment":
            node = node.parent
        return node


def directives(path: str, source: bytes, index: LineIndex, tree) -> list[Directive]:
    """Every suppression comment of a file, in order."""
    if MARKER not in source:
        return []
    file = _Source(path, source, index, tree)
    found: list[Directive] = []
    for match in _DIRECTIVE.finditer(source):
        comment = file.comment_at(match.start())
        if comment is None:
            continue  # `den-lsp:` in a string or in code, not a comment
        whole_file = match.group(1) == b"ignore-file"
        codes: list[tuple[str, Span]] = []
        if match.group(2) is not None:
            start = match.start(2)
            for part in re.finditer(rb"[^,]+", match.group(2)):
                text = part.group().strip()
                if not text:
                    continue
                offset = start + part.start() + part.group().index(text)
                codes.append(
                    (
                        text.decode("utf-8", "replace"),
                        index.span(path, offset, offset + len(text)),
                    )
                )
        line = index.line_of(comment.start_byte)
        line_start, _ = index.line_range(line)
        own_line = source[line_start : comment.start_byte].strip() == b""
        found.append(
            Directive(
                path,
                whole_file,
                None if whole_file else _target_line(file, line, own_line),
                tuple(codes),
                index.span(path, match.start(), match.end()),
                index.span(path, comment.start_byte, comment.end_byte),
                own_line,
            )
        )
    return found


def _target_line(file: _Source, line: int, own_line: bool) -> int:
    """The line a line suppression applies to."""
    if not own_line:
        return line
    index = file.index
    for candidate in range(line + 1, index.line_count):
        start, end = index.line_range(candidate)
        text = file.source[start:end].strip()
        if text and not text.startswith(b"#"):
            return candidate
    return line + 1


class FileText(Protocol):
    """A file as suppression reads it: the parts of a project's file state."""

    source: bytes
    index: LineIndex
    tree: object


def apply(findings: Iterable[Finding], files: Mapping[str, FileText]) -> list[Finding]:
    """The findings no suppression silences, plus one per unused suppression."""
    by_path: dict[str, list[Directive]] = {}
    for path, file in files.items():
        found = directives(path, file.source, file.index, file.tree)
        if found:
            by_path[path] = found
    used: set[tuple[int, int]] = set()  # (id of directive, code index)
    kept: list[Finding] = []
    for finding in findings:
        silenced = False
        for directive in by_path.get(finding.span.path, ()):
            if not directive.whole_file and directive.line != finding.span.start_line:
                continue
            for number, (code, _) in enumerate(directive.codes):
                if code == finding.code and code != UNUSED:
                    used.add((id(directive), number))
                    silenced = True
        if not silenced:
            kept.append(finding)
    for path, found in by_path.items():
        for directive in found:
            kept.extend(_unused(directive, used, files[path]))
    return kept


def _unused(directive: Directive, used: set, file: FileText) -> list[Finding]:
    code = CODES[UNUSED]
    if not directive.codes:
        return [
            Finding(
                UNUSED,
                code.severity,
                directive.span,
                "This suppression names no rule, so it silences nothing: write the "
                "codes in brackets, e.g. `# den-lsp: ignore[den/unknown-class]`.",
                (_remove_comment(directive, file),),
            )
        ]
    out: list[Finding] = []
    unused = [
        (number, name, span)
        for number, (name, span) in enumerate(directive.codes)
        if (id(directive), number) not in used
    ]
    for number, name, span in unused:
        if name not in CODES:
            suggestion = close_match(name, CODES) or close_match(f"den/{name}", CODES)
            hint = f" Did you mean `{suggestion}`?" if suggestion else ""
            message = (
                f"`{name}` is not a den-lsp rule code, so this suppression silences "
                f"nothing.{hint} `den-lsp explain` lists the codes."
            )
        elif directive.whole_file:
            message = (
                f"No `{name}` finding in this file: the suppression silences "
                "nothing. Remove it."
            )
        else:
            message = (
                f"No `{name}` finding starts on line {directive.line + 1}: the "
                "suppression silences nothing. Remove it."
            )
        if len(unused) == len(directive.codes):
            fix = _remove_comment(directive, file)
        else:
            fix = _remove_code(directive, number, file)
        out.append(Finding(UNUSED, code.severity, span, message, (fix,)))
    return out


def _remove_comment(directive: Directive, file: FileText) -> Fix:
    """Delete the comment (its whole line when it stands alone)."""
    index = file.index
    comment = directive.comment
    if directive.own_line:
        line = index.line_of(comment.start_byte)
        start, _ = index.line_range(line)
        end = (
            index.line_range(line + 1)[0]
            if line + 1 < index.line_count
            else comment.end_byte
        )
    else:
        start = comment.start_byte
        while start > 0 and file.source[start - 1 : start] in (b" ", b"\t"):
            start -= 1
        end = comment.end_byte
    return Fix(
        "Remove the unused suppression",
        (TextEdit(index.span(directive.path, start, end), ""),),
    )


def _remove_code(directive: Directive, number: int, file: FileText) -> Fix:
    """Delete one code (and a comma next to it) from the brackets."""
    spans = [span for _, span in directive.codes]
    span = spans[number]
    if number + 1 < len(spans):
        start, end = span.start_byte, spans[number + 1].start_byte
    else:
        start, end = spans[number - 1].end_byte, span.end_byte
    return Fix(
        f"Remove `{directive.codes[number][0]}` from the suppression",
        (TextEdit(file.index.span(directive.path, start, end), ""),),
    )


def suppress_fix(finding: Finding, source: bytes, index: LineIndex) -> Fix:
    """A fix that silences one finding with a comment on the line before it."""
    line = finding.span.start_line
    start, _ = index.line_range(line)
    text = source[start:]
    indent = text[: len(text) - len(text.lstrip(b" \t"))].split(b"\n", 1)[0]
    comment = f"{indent.decode('utf-8', 'replace')}# den-lsp: ignore[{finding.code}]\n"
    return Fix(
        f"Suppress {finding.code} on this line",
        (TextEdit(index.span(finding.span.path, start, start), comment),),
        safe=True,
    )
