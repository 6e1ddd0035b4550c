"""The client's side of a document, and the edits an editor sends.

``ClientText`` is the editor's copy of a document: a ``str``, with LSP
positions (0-based line, character in UTF-16 code units, lines ending at
``\\n``, ``\\r\\n`` or ``\\r``) computed here, independently of den-lsp's own
conversion, so that a test can compare the two.

``random_change`` makes one edit an editor could send: a keystroke, a paste
of real den text, a deletion or replacement across lines, text typed inside
a string or a comment, half of a construct. It draws from ``rng``, either a
``random.Random`` or the one Hypothesis hands out (``st.randoms()``), so the
same edits serve the fuzz tests, which shrink, and the soak test, which does
not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_BREAK = re.compile(r"\r\n|\r|\n")

# What people type: keystrokes, half-written den constructs, punctuation that
# opens and closes things, and characters whose widths differ between UTF-8,
# UTF-16 and code points (é is 2 bytes, 日 3, 🦀 4 bytes and 2 UTF-16 units,
# e + U+0301 is two code points shown as one). Form feed and U+2028 are not
# line breaks to an LSP client, though `str.splitlines` breaks at them.
SNIPPETS = (
    *("a", "x", " ", "  ", "\t", "\n", "\r\n", "\r", "0", "_", "-", "'"),
    *("{", "}", "[", "]", "(", ")", ";", "=", ":", ".", ",", "?", "@", "!"),
    *('"', "''", "${", "#", "/*", "*/", "\\", '\\"', "''${", "'''", "\\n"),
    *("//", "++", "|>", "<|", "...", "==", "->", "or", "rec "),
    *("é", "日本語", "🦀", "e\u0301", "\u0301", "👩‍👩‍👧", "\u00a0", "\x0c", "\u2028"),
    "den.",
    "den.aspects.",
    "den.aspects.igloo.nixos = ",
    "den.schema.guest.",
    'den.schema.guest = { isEntity = true; parent = "host"; };',
    "den.hosts.x86_64-linux.",
    "den.hosts.x86_64-linux.berg.users.ops = { };",
    "den.policies.",
    "den.lib.policy.",
    'den.lib.policy.route { fromClass = "nixos"; ',
    'den.lib.policy.resolve.to "guest" { };',
    "isolated = ",
    "isolated = true;",
    "isEntity = true;",
    "appendToParent = true;",
    'collectScopeId = "guest";',
    "includes = [ ",
    "includes = [ den.aspects.node-metrics ];",
    "{ host, ... }: ",
    "{ host, user }: ",
    "{ den, lib, ... }:\n{\n",
    "let ",
    "let x = ",
    " in ",
    "inherit (den.lib.policy) route;",
    "inherit (",
    "with den.lib; ",
    "if c then ",
    " else ",
    "lib.mkIf ",
    "lib.mkMerge [ ",
    "assert x; ",
    "x: ",
    "@args",
    "(route { ",
    'path = [ "microvm" "vms" name "config" ];',
)


def seed_files() -> list[Path]:
    """Every den document of the repository: examples and test fixtures."""
    found = sorted((REPO / "examples").rglob("*.nix"))
    found += sorted((REPO / "tests" / "fixtures").rglob("*.nix"))
    return found


def seed_workspaces() -> list[Path]:
    """Folders that are den workspaces of their own: each example, the server's."""
    found = sorted(p for p in (REPO / "examples").iterdir() if p.is_dir())
    found.append(REPO / "tests" / "fixtures" / "server" / "microvm")
    return found


@dataclass(frozen=True)
class Change:
    """One content change: a range in LSP positions and the text to put there."""

    start: tuple[int, int]
    end: tuple[int, int]
    text: str


class ClientText:
    """The editor's copy of one document."""

    def __init__(self, text: str) -> None:
        self.text = text

    def line_starts(self) -> list[int]:
        return [0] + [m.end() for m in _BREAK.finditer(self.text)]

    def position(self, index: int) -> tuple[int, int]:
        """The LSP position of a ``str`` index (at a character boundary)."""
        starts = self.line_starts()
        line = max(i for i, start in enumerate(starts) if start <= index)
        before = self.text[starts[line] : index]
        return line, sum(2 if ord(c) > 0xFFFF else 1 for c in before)

    def index(self, line: int, character: int) -> int:
        """The ``str`` index of an LSP position, clamped as LSP says."""
        starts = self.line_starts()
        if line >= len(starts):
            return len(self.text)
        start = starts[max(line, 0)]
        end = starts[line + 1] if line + 1 < len(starts) else len(self.text)
        content = self.text[start:end].rstrip("\r\n")
        units = 0
        for offset, char in enumerate(content):
            units += 2 if ord(char) > 0xFFFF else 1
            if units > character:
                return start + offset
        return start + len(content)

    def text_in(self, start: tuple[int, int], end: tuple[int, int]) -> str:
        return self.text[self.index(*start) : self.index(*end)]

    def apply_edits(self, edits: list) -> None:
        """Apply LSP text edits (all against the current text), as a client does."""
        spans = []
        for edit in edits:
            r = edit.range
            start = self.index(r.start.line, r.start.character)
            end = self.index(r.end.line, r.end.character)
            spans.append((start, end, edit.new_text))
        for start, end, new_text in sorted(
            spans, key=lambda s: (s[0], s[1]), reverse=True
        ):
            self.text = self.text[:start] + new_text + self.text[end:]

    def addressable(self, index: int) -> int:
        """``index``, moved off the middle of a ``\\r\\n`` (no position names it)."""
        index = max(0, min(index, len(self.text)))
        if 0 < index < len(self.text) and self.text[index - 1 : index + 1] == "\r\n":
            return index - 1
        return index

    def change(self, start: int, end: int, text: str) -> Change:
        """Replace ``start``..``end`` (str indices) by ``text``; the change sent."""
        start, end = sorted((self.addressable(start), self.addressable(end)))
        change = Change(self.position(start), self.position(end), text)
        self.text = self.text[:start] + text + self.text[end:]
        return change


def _anchor(rng, text: str) -> int:
    """A place worth editing: inside a string or comment, after `=` or `{`."""
    marks = ('"', "''", "#", "/*", "${", "=", ";", "{", "[", "(", ".", "\n")
    mark = rng.choice(marks)
    places = [m.start() + len(mark) for m in re.finditer(re.escape(mark), text)]
    if not places:
        return rng.randrange(len(text) + 1)
    return min(len(text), rng.choice(places) + rng.randrange(4))


def _snippet(rng, seeds: list[str]) -> str:
    roll = rng.randrange(10)
    if roll < 7:
        return "".join(rng.choice(SNIPPETS) for _ in range(1 + rng.randrange(3)))
    # A paste of real den text: some lines of a seed document.
    seed = rng.choice(seeds)
    lines = seed.splitlines(keepends=True)
    first = rng.randrange(len(lines)) if lines else 0
    return "".join(lines[first : first + 1 + rng.randrange(8)])


def random_change(rng, document: ClientText, seeds: list[str]) -> Change:
    """Apply one random edit to ``document`` and return the change that says so."""
    text = document.text
    size = len(text)
    kind = rng.randrange(8)
    at = _anchor(rng, text) if rng.randrange(2) else rng.randrange(size + 1)
    if kind <= 2:  # a keystroke or a short insertion
        return document.change(at, at, _snippet(rng, seeds) if kind else "x")
    if kind == 3:  # backspace or delete a few characters
        return document.change(at, at + 1 + rng.randrange(6), "")
    if kind == 4:  # delete across lines
        return document.change(at, at + rng.randrange(400), "")
    if kind == 5:  # replace a span, maybe across lines, by a paste
        return document.change(at, at + rng.randrange(120), _snippet(rng, seeds))
    if kind == 6:  # replace whole lines
        starts = document.line_starts() + [size]
        first = rng.randrange(len(starts))
        last = min(len(starts) - 1, first + rng.randrange(4))
        return document.change(starts[first], starts[last], _snippet(rng, seeds))
    # A range written end first, which den-lsp reads as the same range.
    change = document.change(at, at + rng.randrange(10), _snippet(rng, seeds))
    return Change(change.end, change.start, change.text)
