"""Shortcuts taken for speed answer exactly what the plain way answers.

Each test runs the fast path and the straightforward one side by side over
many inputs: the examples, mutations of them, and random text.
"""

from __future__ import annotations

import difflib
import random
import re
import string
from pathlib import Path

import tree_sitter

from den_lsp.analysis.codes import CODES
from den_lsp.analysis.common import close_match, matcher
from den_lsp.facts.extract import has_den_anchor
from den_lsp.syntax.parse import parse_nix
from den_lsp.syntax.positions import LineIndex
from den_lsp.syntax.queries import load_query

REPO = Path(__file__).resolve().parents[1]


def _difflib_match(word: str, candidates) -> str | None:
    matches = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.75)
    return matches[0] if matches else None


def test_close_match_suggests_what_difflib_suggests():
    rng = random.Random(6)
    for _ in range(2000):
        alphabet = rng.choice(["ab", "abc", "guest-vm0123", string.ascii_lowercase])
        candidates = {
            "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
            for _ in range(rng.randint(0, 40))
        }
        word = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        assert close_match(word, candidates) == _difflib_match(word, candidates)
    for code in CODES:
        for word in (code[4:], code[:-1], code + "s", "den/" + code[5:]):
            assert close_match(word, CODES) == _difflib_match(word, CODES)


def test_name_matcher_suggests_what_difflib_suggests_among_the_others():
    rng = random.Random(7)
    for _ in range(500):
        alphabet = rng.choice(["ab", "abc", "guest-vm0123", string.ascii_lowercase])
        candidates = {
            "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
            for _ in range(rng.randint(0, 40))
        }
        words = list(candidates)[:3] + [
            "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        ]
        for word in words:  # asked twice: the kept answer is the same
            for _ in range(2):
                others = candidates - {word}
                assert matcher(candidates).match(word) == _difflib_match(word, others)


def _anchored_by_query(source: bytes) -> bool:
    tree = parse_nix(source)
    if b"den" not in source:
        return False
    cursor = tree_sitter.QueryCursor(load_query("den-anchors"))
    return bool(cursor.captures(tree.root))


def _nix_files() -> list[Path]:
    found = sorted((REPO / "examples").rglob("*.nix"))
    found += sorted((REPO / "tests" / "fixtures").rglob("*.nix"))
    return found


def test_den_anchor_test_agrees_with_the_query():
    rng = random.Random(6)
    insertions = [b"den", b"config", b" den.x = 1; ", b"(den)", b"{", b'"', b"stdenv"]
    checked = 0
    for path in _nix_files():
        source = path.read_bytes()
        variants = [source]
        for _ in range(4):
            if len(source) > 2:
                start = rng.randrange(len(source))
                end = min(len(source), start + rng.randint(1, 20))
                variants.append(source[:start] + source[end:])
                variants.append(
                    source[:start] + rng.choice(insertions) + source[start:]
                )
        for variant in variants:
            assert has_den_anchor(parse_nix(variant)) == _anchored_by_query(variant)
            checked += 1
    assert checked > 50

    # Past the words looked at one by one, the query decides.
    many = b"{ x = [ " + b'"den" ' * 100 + b"]; den.aspects.a.nixos = { }; }"
    assert has_den_anchor(parse_nix(many))
    assert not has_den_anchor(parse_nix(many.replace(b"den.aspects", b"eg.aspects")))


_BREAK = re.compile(rb"\r\n|\r|\n")


def test_line_index_finds_the_lines_a_scan_finds():
    rng = random.Random(6)
    for _ in range(5000):
        source = bytes(
            rng.choice(b"ab \n\n\rx\xc3\xa9") for _ in range(rng.randint(0, 40))
        )
        starts, ends = [0], []
        for match in _BREAK.finditer(source):
            ends.append(match.start())
            starts.append(match.end())
        ends.append(len(source))
        index = LineIndex(source)
        assert [index.line_range(n) for n in range(index.line_count)] == list(
            zip(starts, ends)
        )
