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
import time
from dataclasses import dataclass
from functools import cache

import tree_sitter
from tree_sitter_language_pack import get_language

log = logging.getLogger(__name__)

# How long one parse may take before den-lsp gives up on the file. tree-sitter
# takes time quadratic in the length of a few constructs (a select chain
# `x.a.a.a...` or a run of unary minus signs tens of thousands long), which no
# real file holds and a hostile one can; a real 10 MB file parses in about a
# second.
PARSE_SECONDS = 5.0
PARSE_SECONDS_PER_MB = 1.0
_READ_CHUNK = 1 << 16

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
    # The parse took longer than PARSE_SECONDS allows: ``tree`` is that of an
    # empty file, and nothing of ``source`` was read.
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


def _parse(
    parser: tree_sitter.Parser, source: bytes, old_tree: tree_sitter.Tree | None
) -> tree_sitter.Tree:
    """One parse, within the time PARSE_SECONDS allows for a file this size."""
    seconds = PARSE_SECONDS + PARSE_SECONDS_PER_MB * len(source) / (1 << 20)
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


def parse_nix(source: bytes, previous: SyntaxTree | None = None) -> SyntaxTree:
    """Parse ``source``; ``previous`` (already edited) enables incremental reuse."""
    try:
        return _parse_nix(source, previous)
    except _ParseTimeout as timeout:
        log.warning(
            "gave up parsing %d bytes after %.1f s; the file is not analysed",
            len(source),
            timeout.args[0],
        )
        return SyntaxTree(source, _new_parser().parse(b""), gave_up=True)


def _parse_nix(source: bytes, previous: SyntaxTree | None) -> SyntaxTree:
    parser = _new_parser()
    tree = _parse(parser, source, _reusable(previous))
    if not tree.root_node.has_error or (b"|>" not in source and b"<|" not in source):
        return SyntaxTree(source, tree)

    sites = _pipe_sites(source, tree)
    if not sites:
        return SyntaxTree(source, tree)
    masked = bytearray(source)
    for start in sites:
        masked[start : start + 2] = _MASK
    log.debug("masked %d pipe operator(s) before parsing", len(sites))
    return SyntaxTree(source, _parse(parser, bytes(masked), None), tuple(sites))
