"""Syntax problems of one file, in words a Nix user recognises.

tree-sitter recovers from bad input in two ways: it skips tokens it cannot
place (an ERROR node) or it assumes a token that is not there (a zero-width
MISSING node). ``grammar-queries/syntax-errors.scm`` finds both; this module
keeps the outermost ones and names, for each, the token the user has to look
at: "unexpected `)`", "missing `;`", "unexpected end of file inside this
list".

The pipe operators ``|>`` and ``<|`` are masked before parsing (see
``parse``), so they never show up here.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import tree_sitter

from den_lsp.syntax.parse import SyntaxTree
from den_lsp.syntax.queries import load_query

log = logging.getLogger(__name__)

# A file with more problems than this is broken as a whole; more squiggles
# would only slow the editor down.
MAX_PROBLEMS = 50

# Longest token text quoted in a message.
_MAX_QUOTED = 24

# Tokens that open a construct: the tokens that close it, and what to call the
# construct when the file ends while it is still open.
_OPENERS: dict[str, tuple[frozenset[str], str]] = {
    "{": (frozenset({"}"}), "attribute set"),
    "[": (frozenset({"]"}), "list"),
    "(": (frozenset({")"}), "parenthesis"),
    "${": (frozenset({"}"}), "interpolation"),
    '"': (frozenset({'"'}), "string"),
    "''": (frozenset({"''"}), "string"),
    "let": (frozenset({"in"}), "`let` expression"),
    "if": (frozenset({"else"}), "`if` expression"),
    "with": (frozenset({";"}), "`with` expression"),
    "assert": (frozenset({";"}), "`assert` expression"),
    "inherit": (frozenset({";"}), "`inherit`"),
}

# Tokens after which the parser needs more input: when one ends the skipped
# text, the problem is the token that came next.
_WANTS_MORE = frozenset(
    {
        *_OPENERS,
        *("=", ":", ".", "?", "@", "!", "or", "rec", "then", "else", "in"),
        *("+", "-", "*", "/", "++", "//", "==", "!=", "<", ">", "<=", ">="),
        *("&&", "||", "->"),
    }
)

_STRING_OPENERS = frozenset({'"', "''"})
_UNTERMINATED_STRING = "unterminated string"

_WHITESPACE = re.compile(rb"[ \t\r\n\f\v]*")


@dataclass(frozen=True)
class SyntaxProblem:
    """One syntax error: a byte range of the file and a message for the user."""

    start_byte: int
    end_byte: int
    message: str


def syntax_problems(tree: SyntaxTree) -> list[SyntaxProblem]:
    """The syntax problems of ``tree``, in file order, at most ``MAX_PROBLEMS``."""
    if tree.gave_up:
        return [
            SyntaxProblem(
                0,
                0,
                "den-lsp gave up parsing this file: it holds a selection chain "
                "(`x.a.b...`) or a run of `-` signs so long that the Nix parser "
                "den-lsp uses would take minutes over it; the file is not analysed",
            )
        ]
    root = tree.root
    if not root.has_error:
        if root.child_by_field_name("expression") is None:
            # Nix rejects a file that holds no expression (empty, or only
            # comments); the grammar accepts it.
            end = len(tree.source)
            return [
                SyntaxProblem(
                    end, end, "unexpected end of file, expected an expression"
                )
            ]
        return []

    captures = tree_sitter.QueryCursor(load_query("syntax-errors")).captures(root)
    nodes = captures.get("syntax.error", []) + captures.get("syntax.missing", [])
    nodes.sort(key=lambda node: (node.start_byte, -node.end_byte))

    problems: list[SyntaxProblem] = []
    covered_until = -1
    for node in nodes:
        # Nodes come sorted by start, widest first, so anything starting
        # before the end of the last reported ERROR lies inside it.
        if node.start_byte < covered_until:
            continue
        if node.is_missing:
            problem = _missing_problem(tree, node)
        else:
            problem = _error_problem(tree, node)
            covered_until = max(covered_until, node.end_byte)
        if problem is None or _same_line(tree.source, problems, problem):
            continue
        problems.append(problem)
        if problem.message == _UNTERMINATED_STRING:
            # Nix reads everything after an unterminated string as part of
            # it; whatever the parser made of that text is no mistake of its own.
            break
        if len(problems) == MAX_PROBLEMS:
            log.debug("stopped after %d syntax problems", MAX_PROBLEMS)
            break
    return problems


def _same_line(
    source: bytes, problems: list[SyntaxProblem], problem: SyntaxProblem
) -> bool:
    # One mistake often throws the parser off for the rest of its line; the
    # first problem of a line is the one worth reading, the others are echoes.
    if not problems:
        return False
    previous = problems[-1].start_byte
    return source.find(b"\n", previous, problem.start_byte) == -1


def _missing_problem(tree: SyntaxTree, node: tree_sitter.Node) -> SyntaxProblem | None:
    if _is_empty_inherit(node):
        return None

    if node.type in _STRING_OPENERS and node.parent is not None:
        # A closing quote assumed at the end of the opening one: the string
        # never ends. Point at where it starts, as for an unterminated string
        # the parser skipped.
        opening = node.parent.child(0)
        if opening is not None and opening.type == node.type:
            start, end = _token_range(tree.source, opening)
            return SyntaxProblem(start, end, _UNTERMINATED_STRING)

    at = node.start_byte
    wanted = _missing_name(node)
    if _only_trivia_after(tree.source, at):
        message = f"unexpected end of file, expected {wanted}"
    elif node.is_named:
        message = f"expected {wanted}"
    else:
        message = f"missing {wanted}"
    return SyntaxProblem(at, at, message)


def _is_empty_inherit(node: tree_sitter.Node) -> bool:
    # Nix accepts `inherit;` and `inherit (x);` with no names at all; the
    # grammar wants at least one and inserts a missing name, which is no
    # mistake of the user's.
    parent = node.parent
    if node.type != "identifier" or parent is None:
        return False
    if parent.type != "inherited_attrs":
        return False
    return all(child.is_missing for child in parent.named_children)


def _missing_name(node: tree_sitter.Node) -> str:
    if not node.is_named:
        return f"`{node.type}`"

    parent = node.parent
    context = parent.type if parent is not None else ""
    if node.type == "identifier":
        if context == "variable_expression":
            return "an expression"
        if context in ("attrpath", "inherited_attrs"):
            return "an attribute name"
        if context == "formal":
            return "an argument name"
        return "a name"
    return node.type.replace("_", " ")


def _error_problem(tree: SyntaxTree, node: tree_sitter.Node) -> SyntaxProblem:
    source = tree.source
    shape = _ErrorShape.of(node)

    # When the parser gave up inside a construct it was already skipping, the
    # inner ERROR is where it first went wrong (the `in` of a `let` whose last
    # binding lacks its `;`), unless a stray token comes before it.
    while shape.inner_error is not None and (
        shape.stray is None or shape.inner_error.start_byte < shape.stray.start_byte
    ):
        node = shape.inner_error
        shape = _ErrorShape.of(node)

    # Text that no token matches (a `^`, a stray byte) is an ERROR leaf.
    if shape.bad_character is not None:
        start, end = _token_range(source, shape.bad_character)
        return SyntaxProblem(
            start, end, f"unexpected character {_quote(source, start, end)}"
        )

    if shape.unclosed_string is not None:
        start, end = _token_range(source, shape.unclosed_string)
        return SyntaxProblem(start, end, _UNTERMINATED_STRING)

    if shape.unclosed is not None and _only_trivia_after(source, node.end_byte):
        start, end = _token_range(source, shape.unclosed)
        what = _OPENERS[_kind(shape.unclosed)][1]
        return SyntaxProblem(start, end, f"unexpected end of file inside this {what}")

    culprit = _culprit(shape, node)
    if culprit is None:
        # The skipped text runs to the end of the file and still wanted more.
        last = shape.last_token or node
        start, end = _token_range(source, last)
        message = f"unexpected end of file after {_quote(source, start, end)}"
        return SyntaxProblem(start, end, message)
    start, end = _token_range(source, culprit)
    return SyntaxProblem(start, end, f"unexpected {_quote(source, start, end)}")


def _culprit(shape: _ErrorShape, node: tree_sitter.Node) -> tree_sitter.Node | None:
    """The token at which the parser most likely gave up.

    An ERROR holds what the parser had read of an unfinished construct (whole
    pieces such as an attribute path, opening brackets, `=`) followed by the
    tokens it skipped. The first token that can neither start nor continue a
    construct is the stray one. Failing that, an ERROR of loose tokens only
    is wrong from its first token; one holding a whole piece still wanted
    more, and the token after it is what stopped the parser (`a.c =` before
    a `}`).
    """
    if shape.stray is not None:
        return shape.stray
    if not shape.has_named_child:
        return shape.first_token
    return _token_after(node)


@dataclass
class _ErrorShape:
    """What an ERROR node is made of, read from its direct children in one pass."""

    first_token: tree_sitter.Node | None = None
    last_token: tree_sitter.Node | None = None
    has_named_child: bool = False
    bad_character: tree_sitter.Node | None = None
    # The first token that neither opens, continues nor closes a construct.
    stray: tree_sitter.Node | None = None
    # The first ERROR nested in a child.
    inner_error: tree_sitter.Node | None = None
    # The innermost opening token among the children that none closes: the
    # one written last, most likely the one the user forgot to close.
    unclosed: tree_sitter.Node | None = None
    # The first quote that starts a string and has no closing quote.
    unclosed_string: tree_sitter.Node | None = None

    @classmethod
    def of(cls, node: tree_sitter.Node) -> _ErrorShape:
        shape = cls()
        if node.child_count == 0:
            shape.bad_character = node
            return shape

        open_tokens: list[tree_sitter.Node] = []
        cursor = node.walk()
        cursor.goto_first_child()
        while True:
            shape._read(cursor.node, open_tokens)
            if not cursor.goto_next_sibling():
                break

        shape.unclosed = open_tokens[-1] if open_tokens else None
        shape.unclosed_string = next(
            (token for token in open_tokens if _kind(token) in _STRING_OPENERS), None
        )
        return shape

    def _read(
        self, child: tree_sitter.Node, open_tokens: list[tree_sitter.Node]
    ) -> None:
        if child.type == "comment":
            return
        if child.is_error and child.child_count == 0:
            self.bad_character = self.bad_character or child
            return
        if child.is_error:
            self.inner_error = self.inner_error or child
            return
        if child.is_named and child.type != "keyword":
            self.has_named_child = True
            if child.has_error and self.inner_error is None:
                self.inner_error = _first_inner_error(child)
            return

        self.first_token = self.first_token or child
        self.last_token = child
        closed = _track_openers(open_tokens, child)
        kind = _kind(child)
        if self.stray is None and not closed and kind not in _WANTS_MORE:
            self.stray = child


def _track_openers(
    open_tokens: list[tree_sitter.Node], token: tree_sitter.Node
) -> bool:
    """Push an opening token, pop the one a closing token closes; True if closed."""
    kind = _kind(token)
    if open_tokens and kind in _OPENERS[_kind(open_tokens[-1])][0]:
        open_tokens.pop()
        return True
    if kind in _OPENERS:
        open_tokens.append(token)
    return False


def _kind(token: tree_sitter.Node) -> str:
    # A reserved word where the grammar expected a name is a named `keyword`
    # leaf; what matters is which word it is.
    if token.type == "keyword" and token.text is not None:
        return token.text.decode("utf-8", "replace")
    return token.type


def _first_token(node: tree_sitter.Node) -> tree_sitter.Node | None:
    """The first leaf of ``node`` that is not a comment; None if it has no children."""
    cursor = node.walk()
    if not cursor.goto_first_child():
        return None
    # An iterative walk: deep trees must not exhaust Python's recursion limit.
    while True:
        current = cursor.node
        if current.type != "comment":
            if current.child_count == 0:
                return current
            cursor.goto_first_child()
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent() or cursor.node.id == node.id:
                return None


def _first_inner_error(node: tree_sitter.Node) -> tree_sitter.Node | None:
    """The first ERROR below ``node``, visiting only subtrees that hold one."""
    cursor = node.walk()
    if not cursor.goto_first_child():
        return None
    while True:
        current = cursor.node
        if current.is_error:
            return current
        if current.has_error and cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent() or cursor.node.id == node.id:
                return None


def _token_after(node: tree_sitter.Node) -> tree_sitter.Node | None:
    current = node
    while current is not None:
        following = current.next_sibling
        while following is not None and following.type == "comment":
            following = following.next_sibling
        if following is not None:
            if following.child_count == 0:
                return following
            return _first_token(following)
        current = current.parent
    return None


def _token_range(source: bytes, token: tree_sitter.Node) -> tuple[int, int]:
    # A token can span lines (the text of an indented string); a problem is
    # easier to read when it underlines only the token's first line.
    start, end = token.start_byte, token.end_byte
    newline = source.find(b"\n", start, end)
    if newline != -1:
        end = newline
    return start, end


def _quote(source: bytes, start: int, end: int) -> str:
    text = source[start:end].decode("utf-8", "replace")
    if len(text) > _MAX_QUOTED:
        text = text[: _MAX_QUOTED - 1] + "…"
    return f"`{text}`"


def _only_trivia_after(source: bytes, offset: int) -> bool:
    """Whether only whitespace and comments follow ``offset``."""
    at = offset
    size = len(source)
    while True:
        at = _WHITESPACE.match(source, at).end()
        if at >= size:
            return True
        if source[at] == ord("#"):
            newline = source.find(b"\n", at)
            if newline == -1:
                return True
            at = newline
        elif source.startswith(b"/*", at):
            close = source.find(b"*/", at + 2)
            if close == -1:
                return True
            at = close + 2
        else:
            return False
