"""Convert between byte offsets and LSP positions (line, UTF-16 character).

tree-sitter addresses a file by byte offset; LSP addresses it by 0-based line
and a character counted in UTF-16 code units. A ``LineIndex`` holds the line
starts of one version of a file and converts both ways.

Lines end at ``\\n``, ``\\r\\n`` or a lone ``\\r``, the three terminators the
LSP specification names. Bytes that are not valid UTF-8 count the way a
client decoding the file with replacement would see them: each maximal
invalid sequence is one U+FFFD, one code unit wide.
"""

from __future__ import annotations

import codecs
import re
from bisect import bisect_right
from itertools import accumulate, count
from operator import add

from den_lsp.syntax.span import Span

_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_NEXT = (1).__add__

# Decoding with this handler turns each maximal invalid UTF-8 sequence into
# one lone surrogate whose low bits hold the sequence's length (1 to 3). A
# valid UTF-8 decode never yields a lone surrogate, so the marker cannot be
# confused with text, and one pass gives both the replacement count and the
# bytes each replacement stands for.
_MARK_INVALID = "den_lsp.mark_invalid_utf8"
_MARK_BASE = 0xDC00


def _mark_invalid(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)
    return chr(_MARK_BASE + error.end - error.start), error.end


codecs.register_error(_MARK_INVALID, _mark_invalid)


class _Columns:
    """Character boundaries of one non-ASCII line: byte column and UTF-16 column."""

    __slots__ = ("bytes_at", "units_at")

    def __init__(self, line: bytes) -> None:
        bytes_at = [0]
        units_at = [0]
        byte = 0
        unit = 0
        for char in line.decode("utf-8", _MARK_INVALID):
            code = ord(char)
            if code < 0x80:
                width, units = 1, 1
            elif code < 0x800:
                width, units = 2, 1
            elif _MARK_BASE < code <= _MARK_BASE + 3:
                width, units = code - _MARK_BASE, 1
            elif code < 0x10000:
                width, units = 3, 1
            else:
                width, units = 4, 2
            byte += width
            unit += units
            bytes_at.append(byte)
            units_at.append(unit)
        self.bytes_at = bytes_at
        self.units_at = units_at

    def units_for_byte(self, column: int) -> int:
        # A byte column inside a character moves back to that character's start.
        return self.units_at[bisect_right(self.bytes_at, column) - 1]

    def byte_for_units(self, character: int) -> int:
        # A character between the halves of a surrogate pair moves back to the
        # pair's start, so an offset never splits a code point.
        return self.bytes_at[bisect_right(self.units_at, character) - 1]


class LineIndex:
    """Line starts of one file's bytes, with conversions to and from LSP positions.

    Building the index scans the bytes once for line breaks; the UTF-16 columns
    of a line are computed the first time a position on it is asked for, and
    only for lines that are not pure ASCII.
    """

    __slots__ = ("source", "_starts", "_ends", "_columns")

    def __init__(self, source: bytes) -> None:
        self.source = source
        if b"\r" in source:
            starts = [0]
            ends = []
            for match in _LINE_BREAK.finditer(source):
                ends.append(match.start())
                starts.append(match.end())
            ends.append(len(source))
        else:
            # Only `\n` breaks lines: the same offsets, from the lines'
            # lengths, without a Python step per line.
            lengths = map(len, source.split(b"\n"))
            ends = list(map(add, accumulate(lengths), count()))
            starts = [0, *map(_NEXT, ends[:-1])]
        self._starts = starts
        self._ends = ends
        self._columns: dict[int, _Columns | None] = {}

    @property
    def line_count(self) -> int:
        return len(self._starts)

    def line_of(self, offset: int) -> int:
        """The 0-based line holding byte ``offset`` (clamped into the file)."""
        offset = min(max(offset, 0), len(self.source))
        return bisect_right(self._starts, offset) - 1

    def line_range(self, line: int) -> tuple[int, int]:
        """Byte offsets of a line's start and of the end of its text (no break)."""
        return self._starts[line], self._ends[line]

    def position(self, offset: int) -> tuple[int, int]:
        """LSP position (line, UTF-16 character) of byte ``offset``.

        Offsets past the end clamp to the end of the file; an offset inside a
        line break (between ``\\r`` and ``\\n``) is the end of that line.
        """
        line = self.line_of(offset)
        start, end = self._starts[line], self._ends[line]
        column = min(max(offset, 0), end) - start
        columns = self._line_columns(line)
        if columns is None:
            return line, column
        return line, columns.units_for_byte(column)

    def offset(self, line: int, character: int) -> int:
        """Byte offset of an LSP position, clamped the way clients expect.

        A line past the last one means the end of the file, a negative line
        the start; a character past the end of its line means the end of that
        line's text, before the line break.
        """
        if line < 0:
            return 0
        if line >= len(self._starts):
            return len(self.source)
        start, end = self._starts[line], self._ends[line]
        character = max(character, 0)
        columns = self._line_columns(line)
        if columns is None:
            return start + min(character, end - start)
        return start + columns.byte_for_units(character)

    def span(self, path: str, start_byte: int, end_byte: int) -> Span:
        """A ``Span`` of ``path`` covering ``start_byte``..``end_byte``."""
        start_line, start_character = self.position(start_byte)
        end_line, end_character = self.position(end_byte)
        return Span(
            path=path,
            start_byte=start_byte,
            end_byte=end_byte,
            start_line=start_line,
            start_character=start_character,
            end_line=end_line,
            end_character=end_character,
        )

    def _line_columns(self, line: int) -> _Columns | None:
        try:
            return self._columns[line]
        except KeyError:
            pass
        text = self.source[self._starts[line] : self._ends[line]]
        columns = None if text.isascii() else _Columns(text)
        self._columns[line] = columns
        return columns
