"""An open editor document: its text, version, line index and syntax tree.

The editor sends changes as ranges in LSP positions. Each change is applied to
the bytes, described to the old tree with ``Tree.edit`` and parsed again with
that tree as a guide, so tree-sitter re-reads only the region that changed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from itertools import islice

from den_lsp.syntax.parse import SyntaxTree, parse_nix
from den_lsp.syntax.positions import LineIndex

log = logging.getLogger(__name__)

Position = tuple[int, int]
"""An LSP position: 0-based line and character in UTF-16 code units."""

Range = tuple[Position, Position]
"""An LSP range: start and end position, end exclusive."""


def encode_text(text: str) -> bytes:
    # Text from a client may hold a lone surrogate (JSON allows "\ud800").
    # It becomes `?`: one UTF-16 unit for one byte, so positions still agree.
    return text.encode("utf-8", "replace")


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def text_offset(text: str, line: int, character: int) -> int:
    """The index into ``text`` of an LSP position (UTF-16 character).

    Lines end at ``\\n``, ``\\r\\n`` or a lone ``\\r`` only: the other
    characters ``str.splitlines`` breaks at (form feed, U+2028, ...) are text
    to an LSP client. Out-of-range positions clamp as ``LineIndex.offset``
    does: a line past the last one is the end of the text, a character past
    the end of its line is the end of that line's text, before its break.
    """
    if line < 0:
        return 0
    start = 0
    if line > 0:
        breaks = list(islice(_LINE_BREAK.finditer(text), line))
        if len(breaks) < line:
            return len(text)
        start = breaks[-1].end()
    found = _LINE_BREAK.search(text, start)
    end = found.start() if found is not None else len(text)
    content = text[start:end]
    character = max(character, 0)
    if content.isascii() or character == 0:
        return start + min(character, len(content))
    units = 0
    for index, char in enumerate(content):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > character:
            # A character between the halves of a surrogate pair moves back
            # to the pair's start.
            return start + index
    return end


def apply_text_change(text: str, range: Range | None, new_text: str) -> str:
    """``text`` after one LSP content change; a ``range`` of None replaces all."""
    if range is None:
        return new_text
    (start_line, start_char), (end_line, end_char) = range
    start = text_offset(text, start_line, start_char)
    end = text_offset(text, end_line, end_char)
    start, end = min(start, end), max(start, end)
    return text[:start] + new_text + text[end:]


def ts_point(source: bytes, offset: int) -> tuple[int, int]:
    """tree-sitter's point for a byte offset: rows count ``\\n``, columns bytes."""
    row = source.count(b"\n", 0, offset)
    column = offset - (source.rfind(b"\n", 0, offset) + 1)
    return row, column


class Document:
    """One open document. Changes mutate it; everything it hands out is immutable."""

    def __init__(self, uri: str, source: bytes, version: int | None = None) -> None:
        self.uri = uri
        self.version = version
        self.source = source
        self.lines = LineIndex(source)
        self.tree = parse_nix(source)
        self._text: str | None = None

    @classmethod
    def from_text(cls, uri: str, text: str, version: int | None = None) -> Document:
        return cls(uri, encode_text(text), version)

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = self.source.decode("utf-8", "replace")
        return self._text

    def apply_change(
        self, range: Range | None, new_text: str, version: int | None = None
    ) -> None:
        """Apply one LSP content change; a ``range`` of None replaces everything."""
        inserted = encode_text(new_text)
        old = self.source
        if range is None:
            start, old_end = 0, len(old)
        else:
            (start_line, start_char), (end_line, end_char) = range
            start = self.lines.offset(start_line, start_char)
            old_end = self.lines.offset(end_line, end_char)
            # A client can send a range whose end precedes its start; read it
            # as the same range written the right way round.
            start, old_end = min(start, old_end), max(start, old_end)
        new = old[:start] + inserted + old[old_end:]
        new_end = start + len(inserted)

        # The old tree is copied before the edit: nodes handed out earlier
        # keep describing the text they were read from.
        edited = self.tree.tree.copy()
        edited.edit(
            start_byte=start,
            old_end_byte=old_end,
            new_end_byte=new_end,
            start_point=ts_point(old, start),
            old_end_point=ts_point(old, old_end),
            new_end_point=ts_point(new, new_end),
        )
        previous = SyntaxTree(new, edited, self.tree.pipe_sites, self.tree.gave_up)

        self.source = new
        self.lines = LineIndex(new)
        self.tree = parse_nix(new, previous=previous)
        self._text = None
        if version is not None:
            self.version = version

    def apply_changes(
        self,
        changes: Iterable[tuple[Range | None, str]],
        version: int | None = None,
    ) -> None:
        """Apply the changes of one ``didChange`` notification, in order."""
        for range, new_text in changes:
            self.apply_change(range, new_text)
        if version is not None:
            self.version = version
