"""Source ranges, shared by every layer above syntax."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Span:
    """A range in one file.

    Byte offsets address the file's bytes; ``line``/``character`` pairs are
    0-based, with characters counted in UTF-16 code units as LSP expects.
    """

    path: str
    start_byte: int
    end_byte: int
    start_line: int
    start_character: int
    end_line: int
    end_character: int
