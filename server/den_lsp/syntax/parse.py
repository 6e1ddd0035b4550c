"""Parse Nix source with tree-sitter, tolerating the pipe operators.

No published build of the tree-sitter-nix grammar knows ``|>`` and ``<|``.
Both are binary operators of two bytes, so before the real parse we mask each
one that sits in code (not in a string or comment) with ``->``, another binary
operator of the same width. The tree then has exactly the byte offsets of the
original text, and everything else in the file is analysed normally. Only the
precedence differs (``->`` binds tighter than a pipe), which the static model
does not depend on.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from functools import cache

import tree_sitter
from tree_sitter_language_pack import get_language

log = logging.getLogger(__name__)

# tree-sitter's Nix parser takes time quadratic in the length of two runs of
# characters: a selection chain written without spaces (`x.a.a.a...`) and a
# run of minus signs (`---1`); 60,000 long, either takes minutes. A file with
# no run longer than MAX_RUN parses freely: with every run just shorter, 10 MB
# parse in about ten seconds. A file with a longer run (most often only a
# line of dashes inside a string, which parses fast) gets a parse bounded by
# the clock, and a parse that overruns it is given up.
MAX_RUN = 128
BOUNDED_PARSE_SECONDS = 1.0
BOUNDED_PARSE_SECONDS_PER_MB = 1.0
_READ_CHUNK = 1 << 16
_SELECTIONS = re.compile(rb"(?:\.[A-Za-z0-9_'-]+){%d}" % MAX_RUN)
_MINUS_SIGNS = re.compile(rb"-{%d}" % MAX_RUN)
# Bytes such runs are made of, mapped to `a`, and all others to a space:
# finding a candidate run is then one pass in C over the file.
_RUN_BYTES = frozenset(
    b"-.'_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
)
_RUN_TABLE = bytes(0x61 if b in _RUN_BYTES else 0x20 for b in range(256))


def slow_run(source: bytes) -> bool:
    """Whether ``source`` holds a run the parser takes quadratic time over.

    A run of minus signs in a `#` comment (a separator line) is only text.
    """
    flat = source.translate(_RUN_TABLE)
    candidate = b"a" * MAX_RUN
    start = flat.find(candidate)
    while start != -1:
        end = flat.find(b" ", start)
        end = len(source) if end == -1 else end
        token = source[start:end]
        if _SELECTIONS.search(token) is not None:
            return True
        for minus in _MINUS_SIGNS.finditer(token):
            at = start + minus.start()
            if b"#" not in source[source.rfind(b"\n", 0, at) + 1 : at]:
                return True
        start = flat.find(candidate, end)
    return False


_PIPES = (b"|>", b"<|")
_MASK = b"->"

# Leaves whose text is not code: a pipe written inside them is just text.
_TEXT_LEAVES = frozenset(
    {"string_fragment", "comment", "escape_sequence", "path_fragment", "uri_expression"}
)


@cache
def nix_language() -> tree_sitter.Language:
    return get_language("nix")


def _new_parser() -> tree_sitter.Parser:
    return tree_sitter.Parser(nix_language())


@dataclass(frozen=True, eq=False)
class SyntaxTree:
    """A parsed file: its original bytes and a tree whose offsets match them."""

    source: bytes
    tree: tree_sitter.Tree
    pipe_sites: tuple[int, ...] = ()
    # The source holds a run the parser would take minutes over (MAX_RUN):
    # ``tree`` is that of an empty file, and nothing of ``source`` was read.
    gave_up: bool = False

    @property
    def root(self) -> tree_sitter.Node:
        return self.tree.root_node

    def text(self, node: tree_sitter.Node) -> str:
        """The original text of a node (pipes unmasked)."""
        return self.source[node.start_byte : node.end_byte].decode("utf-8", "replace")


def _pipe_sites(source: bytes, tree: tree_sitter.Tree) -> list[int]:
    sites: list[int] = []
    for pipe in _PIPES:
        start = source.find(pipe)
        while start != -1:
            leaf = tree.root_node.descendant_for_byte_range(start, start + 2)
            if leaf is None or leaf.type not in _TEXT_LEAVES:
                sites.append(start)
            start = source.find(pipe, start + 2)
    return sorted(sites)


def _reusable(previous: SyntaxTree | None) -> tree_sitter.Tree | None:
    """The edited old tree, when reusing it gives the same tree as a fresh parse."""
    if previous is None or previous.gave_up:
        return None
    # A tree parsed from masked bytes does not describe the real bytes.
    if previous.pipe_sites:
        return None
    # In a tree with errors, tree-sitter can keep tokens whose meaning the edit
    # changed: text lexed as code after an unterminated `"` stays code when a
    # later edit closes the string. Reparsing a broken file from scratch costs
    # a little time and keeps the tree exactly what a fresh parse would give.
    if previous.tree.root_node.has_error:
        return None
    return previous.tree


class _ParseTimeout(Exception):
    pass


def _bounded_parse(
    parser: tree_sitter.Parser, source: bytes, old_tree: tree_sitter.Tree | None
) -> tree_sitter.Tree:
    """One parse that stops once it has taken longer than a file this size may."""
    seconds = BOUNDED_PARSE_SECONDS + BOUNDED_PARSE_SECONDS_PER_MB * len(source) / (
        1 << 20
    )
    deadline = time.monotonic() + seconds

    def read(offset: int, point: tuple[int, int]) -> bytes:
        return source[offset : offset + _READ_CHUNK]

    cancelled = False

    def progress(offset: int, has_error: bool) -> bool:
        nonlocal cancelled
        cancelled = time.monotonic() > deadline
        return cancelled  # True stops the parse

    try:
        if old_tree is None:
            tree = parser.parse(read, progress_callback=progress)
        else:
            tree = parser.parse(read, old_tree, progress_callback=progress)
    except ValueError:  # what py-tree-sitter raises for a parse it stopped
        if cancelled:
            raise _ParseTimeout(seconds) from None
        raise
    if tree is None:
        raise _ParseTimeout(seconds)
    return tree


def _parse(
    parser: tree_sitter.Parser,
    source: bytes,
    old_tree: tree_sitter.Tree | None,
    bounded: bool,
) -> tree_sitter.Tree:
    if bounded:
        return _bounded_parse(parser, source, old_tree)
    if old_tree is not None:
        return parser.parse(source, old_tree)
    return parser.parse(source)


def parse_nix(source: bytes, previous: SyntaxTree | None = None) -> SyntaxTree:
    """Parse ``source``; ``previous`` (already edited) enables incremental reuse."""
    try:
        return _parse_nix(source, previous, bounded=slow_run(source))
    except _ParseTimeout as timeout:
        log.warning(
            "gave up parsing %d bytes after %.1f s: a run of %d or more "
            "selections or minus signs; the file is not analysed",
            len(source),
            timeout.args[0],
            MAX_RUN,
        )
        return SyntaxTree(source, _new_parser().parse(b""), gave_up=True)


def _parse_nix(source: bytes, previous: SyntaxTree | None, bounded: bool) -> SyntaxTree:
    parser = _new_parser()
    tree = _parse(parser, source, _reusable(previous), bounded)
    if not tree.root_node.has_error or (b"|>" not in source and b"<|" not in source):
        return SyntaxTree(source, tree)

    sites = _pipe_sites(source, tree)
    if not sites:
        return SyntaxTree(source, tree)
    masked = bytearray(source)
    for start in sites:
        masked[start : start + 2] = _MASK
    log.debug("masked %d pipe operator(s) before parsing", len(sites))
    return SyntaxTree(source, _parse(parser, bytes(masked), None, bounded), tuple(sites))
