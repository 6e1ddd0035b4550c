"""The syntax layer: positions, documents, queries, syntax problems, bad input.

Syntax problems are written as examples: the Nix text with the expected range
between ``⟪`` and ``⟫`` (an empty pair for a zero-width problem, such as a
missing `;`), next to the expected message.
"""

from __future__ import annotations

import random
import re

import pytest
import tree_sitter

from den_lsp.syntax import (
    Document,
    LineIndex,
    SyntaxProblem,
    decode_source,
    load_query,
    looks_binary,
    parse_nix,
    syntax_problems,
)
from den_lsp.syntax.errors import MAX_PROBLEMS
from den_lsp.syntax.queries import QueryNotFound, query_text
from den_lsp.syntax.span import Span

OPEN, CLOSE = "⟪", "⟫"


def marked(text: str) -> tuple[bytes, list[tuple[int, int]]]:
    """Source bytes without the markers, and the marked byte ranges."""
    source = bytearray()
    ranges: list[tuple[int, int]] = []
    start = None
    for char in text:
        if char == OPEN:
            start = len(source)
        elif char == CLOSE:
            assert start is not None
            ranges.append((start, len(source)))
            start = None
        else:
            source += char.encode()
    return bytes(source), ranges


def problems_of(source: bytes) -> list[SyntaxProblem]:
    return syntax_problems(parse_nix(source))


# Positions


def test_ascii_offsets_and_positions():
    index = LineIndex(b"ab\ncd\n")
    assert index.line_count == 3
    assert [index.position(offset) for offset in range(7)] == [
        (0, 0),
        (0, 1),
        (0, 2),
        (1, 0),
        (1, 1),
        (1, 2),
        (2, 0),
    ]
    assert index.offset(1, 1) == 4
    assert index.offset(2, 0) == 6


def test_multibyte_characters_count_in_utf16_units():
    # é: 2 bytes, 1 unit; 日: 3 bytes, 1 unit; 😀: 4 bytes, 2 units.
    source = "aé日😀b".encode()
    index = LineIndex(source)
    assert [index.position(offset) for offset in (0, 1, 3, 6, 10, 11)] == [
        (0, 0),
        (0, 1),
        (0, 2),
        (0, 3),
        (0, 5),
        (0, 6),
    ]
    assert [index.offset(0, character) for character in range(7)] == [
        0,
        1,
        3,
        6,
        6,  # between the halves of 😀's surrogate pair: back to its start
        10,
        11,
    ]


def test_offset_inside_a_character_moves_to_its_start():
    index = LineIndex("x😀".encode())
    assert [index.position(offset) for offset in range(1, 6)] == [
        (0, 1),
        (0, 1),
        (0, 1),
        (0, 1),
        (0, 3),
    ]


def test_crlf_and_lone_cr_end_lines():
    index = LineIndex(b"a\r\nbc\rd\ne")
    assert index.line_count == 4
    assert [index.line_range(line) for line in range(4)] == [
        (0, 1),
        (3, 5),
        (6, 7),
        (8, 9),
    ]
    # Both bytes of a CRLF are the end of their line.
    assert index.position(1) == (0, 1)
    assert index.position(2) == (0, 1)
    assert index.position(3) == (1, 0)
    assert index.position(6) == (2, 0)
    assert index.offset(0, 5) == 1
    assert index.offset(1, 2) == 5
    assert index.offset(3, 1) == 9


def test_crlf_file_with_astral_characters():
    source = '{\r\n  a = "😀😀";\r\n}\r\n'.encode()
    index = LineIndex(source)
    close_quote = source.rindex(b'"')
    assert index.position(close_quote) == (1, 11)
    assert index.offset(1, 11) == close_quote
    assert index.position(source.index(b"}")) == (2, 0)


def test_invalid_utf8_counts_one_unit_per_bad_sequence():
    # \xff is one bad byte; \xe2\x82 a truncated 3-byte sequence: each reads
    # as a single U+FFFD, as a client decoding with replacement sees it.
    source = b"a\xffb\xe2\x82c\xf0\x9f\x98\x80d"
    index = LineIndex(source)
    assert [index.position(offset) for offset in (0, 1, 2, 3, 4, 5, 6, 10)] == [
        (0, 0),
        (0, 1),
        (0, 2),
        (0, 3),
        (0, 3),
        (0, 4),
        (0, 5),
        (0, 7),
    ]
    assert [index.offset(0, character) for character in range(9)] == [
        0,
        1,
        2,
        3,
        5,
        6,
        6,
        10,
        11,
    ]


def test_out_of_range_positions_are_clamped():
    index = LineIndex("ab\ncé\n".encode())
    assert index.offset(0, 99) == 2
    assert index.offset(1, 99) == 6
    assert index.offset(7, 0) == len(index.source)
    assert index.offset(-1, 5) == 0
    assert index.offset(1, -3) == 3
    assert index.position(-4) == (0, 0)
    assert index.position(1000) == (2, 0)


def test_empty_file():
    index = LineIndex(b"")
    assert index.line_count == 1
    assert index.position(0) == (0, 0)
    assert index.offset(0, 3) == 0
    assert index.offset(5, 3) == 0


def test_span_carries_bytes_and_positions():
    index = LineIndex('x = "é";\ny'.encode())
    assert index.span("a.nix", 4, 10) == Span(
        path="a.nix",
        start_byte=4,
        end_byte=10,
        start_line=0,
        start_character=4,
        end_line=1,
        end_character=0,
    )


# Documents and incremental parsing


def assert_same_as_fresh_parse(document: Document) -> None:
    fresh = parse_nix(document.source)
    assert str(document.tree.root) == str(fresh.root)
    assert document.tree.pipe_sites == fresh.pipe_sites
    assert document.text.encode() == document.source


def test_full_replacement_and_version():
    document = Document.from_text("file:///a.nix", "{ }", version=1)
    document.apply_change(None, "{ a = 1; }", version=2)
    assert document.text == "{ a = 1; }"
    assert document.version == 2
    assert_same_as_fresh_parse(document)


@pytest.mark.parametrize(
    ("text", "change", "expected"),
    [
        # Insert a binding.
        ("{ a = 1; }", (((0, 9), (0, 9)), "b = 2; "), "{ a = 1; b = 2; }"),
        # Replace after a multibyte character: characters count UTF-16 units.
        ('{ a = "é😀"; b = 1; }', (((0, 17), (0, 18)), "2"), '{ a = "é😀"; b = 2; }'),
        # Delete across a CRLF line break.
        (
            "{\r\n  a = 1;\r\n  b = 2;\r\n}",
            (((1, 8), (2, 8)), ""),
            "{\r\n  a = 1;\r\n}",
        ),
        # Insert an emoji into a string on the second CRLF line.
        ('{\r\n  a = "x";\r\n}', (((1, 7), (1, 7)), "😀"), '{\r\n  a = "😀x";\r\n}'),
        # A range whose end comes before its start.
        ("[ 1 2 3 ]", (((0, 5), (0, 2)), "9"), "[ 9 3 ]"),
        # Positions past the end of the line and of the file.
        ("{ a = 1; }\n", (((0, 40), (9, 0)), "\n# end\n"), "{ a = 1; }\n# end\n"),
        # Break the syntax, then the tree is still what a fresh parse gives.
        ("{ a = 1; }", (((0, 8), (0, 8)), ' "open'), '{ a = 1; "open }'),
        # Introduce a pipe operator (parsed through masking).
        ("{ a = x; }", (((0, 7), (0, 7)), " |> f"), "{ a = x |> f; }"),
    ],
)
def test_incremental_edit_matches_fresh_parse(text, change, expected):
    document = Document.from_text("file:///a.nix", text)
    document.apply_change(*change)
    assert document.text == expected
    assert_same_as_fresh_parse(document)


def test_edits_to_a_broken_file_match_fresh_parses():
    document = Document.from_text("file:///a.nix", '{\n  a = "x;\n  b = 2;\n}\n')
    document.apply_change(((3, 1), (3, 1)), '"')
    assert_same_as_fresh_parse(document)
    document.apply_change(((1, 9), (1, 9)), '"')
    assert document.text == '{\n  a = "x;"\n  b = 2;\n}"\n'
    assert_same_as_fresh_parse(document)


def test_trees_handed_out_before_an_edit_keep_their_offsets():
    document = Document.from_text("file:///a.nix", "{ a = 1; }")
    before = document.tree
    binding = before.root.named_child(0).named_child(0)
    document.apply_change(((0, 0), (0, 0)), "# comment\n")
    assert (binding.start_byte, before.text(binding)) == (2, "a = 1;")


def _utf16_model_offset(text: str, line: int, character: int) -> int:
    """The str index of an LSP position, computed independently of LineIndex."""
    lines = re.split(r"(?<=\r\n)|(?<=\r)(?!\n)|(?<=\n)", text)
    if line >= len(lines):
        return len(text)
    before = sum(len(part) for part in lines[:line])
    content = lines[line].rstrip("\r\n")
    units = 0
    for index, char in enumerate(content):
        width = 2 if ord(char) > 0xFFFF else 1
        if units + width > character:
            return before + index
        units += width
    return before + len(content)


_DEN_SAMPLE = (
    "{ den, lib, ... }:\r\n"
    "{\r\n"
    "  den.aspects.igloo.nixos = { pkgs, ... }: {\r\n"
    '    networking.hostName = "igloo 😀 é";\r\n'
    "    environment.systemPackages = [ pkgs.hello ] |> map (p: p);\r\n"
    "  };\r\n"
    "  # 日本語 comment with |> inside\n"
    "  den.hosts.x86_64-linux.igloo.users.tux = { };\r\n"
    "}\r\n"
)

_PIECES = (
    *("a", " ", "\r\n", "\n", "😀", "é", "日", "{", "}", "(", ")", "[", "]"),
    *(";", "=", "|>", "<|", '"', "''", "${", "x.y", "# c\n", "let ", " in "),
)


@pytest.mark.parametrize("seed", range(8))
def test_random_edits_match_fresh_parse_and_text_model(seed):
    rng = random.Random(seed)
    for _ in range(25):
        document = Document.from_text("file:///a.nix", _DEN_SAMPLE)
        model = _DEN_SAMPLE
        for _ in range(8):
            start_line = rng.randrange(document.lines.line_count + 1)
            end_line = start_line + rng.randrange(2)
            start_char, end_char = rng.randrange(50), rng.randrange(50)
            if end_line == start_line and end_char < start_char:
                start_char, end_char = end_char, start_char
            new_text = "".join(rng.choice(_PIECES) for _ in range(rng.randrange(3)))

            start = _utf16_model_offset(model, start_line, start_char)
            end = _utf16_model_offset(model, end_line, end_char)
            model = model[:start] + new_text + model[end:]
            document.apply_change(
                ((start_line, start_char), (end_line, end_char)), new_text
            )

            assert document.text == model
            assert_same_as_fresh_parse(document)


def test_lone_surrogate_from_a_client_keeps_positions_in_step():
    document = Document.from_text("file:///a.nix", '"\ud800x"')
    assert document.source == b'"?x"'
    assert document.lines.offset(0, 2) == 2


# Queries


def test_syntax_error_query_is_loaded_once_with_its_captures():
    query = load_query("syntax-errors")
    assert load_query("syntax-errors") is query
    names = {query.capture_name(index) for index in range(query.capture_count)}
    assert names == {"syntax.error", "syntax.missing"}


def test_query_text_comes_from_the_source_tree_here():
    assert "(ERROR) @syntax.error" in query_text("syntax-errors")


def test_unknown_query_is_a_clear_error():
    with pytest.raises(QueryNotFound, match="no-such-query.scm"):
        load_query("no-such-query")


def test_query_runs_with_the_installed_cursor_api():
    tree = parse_nix(b"f x)")
    captures = tree_sitter.QueryCursor(load_query("syntax-errors")).captures(tree.root)
    assert [node.start_byte for node in captures["syntax.error"]] == [3]


# Syntax problems


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("let\n  a = 1\n  b ⟪=⟫ 2;\nin a", "unexpected `=`"),
        ("{ a = 1;⟪⟫", "unexpected end of file, expected `}`"),
        ("f (x⟪⟫", "unexpected end of file, expected `)`"),
        ("f x⟪)⟫", "unexpected `)`"),
        ("{ a = 1; } ⟪}⟫", "unexpected `}`"),
        ("{ a = 1;⟪;⟫ }", "unexpected `;`"),
        ("{ a =⟪⟫ ; }", "expected an expression"),
        ("1 +⟪⟫", "unexpected end of file, expected an expression"),
        ("{ inherit x⟪⟫ }", "missing `;`"),
        ("{ a = [ 1 2⟪⟫ ; b = 3; }", "missing `]`"),
        ("{ a = 1⟪,⟫ b = 2; }", "unexpected `,`"),
        ("[ 1⟪,⟫ 2, 3 ]", "unexpected `,`"),
        ("{ a.b = 1; a.c = ⟪}⟫", "unexpected `}`"),
        ("{ a = if x then y⟪;⟫ }", "unexpected `;`"),
        ("let\n  x = 1\n⟪in⟫ x", "unexpected `in`"),
        ("⟪if⟫ x then y", "unexpected end of file inside this `if` expression"),
        ("⟪let⟫ a = 1;", "unexpected end of file inside this `let` expression"),
        ("⟪with⟫ pkgs", "unexpected end of file inside this `with` expression"),
        ("x.⟪${⟫", "unexpected end of file inside this interpolation"),
        (
            "{\n  a = {\n    b = 1;\n⟪{⟫",
            "unexpected end of file inside this attribute set",
        ),
        ('{ a = ⟪"⟫abc; }', "unterminated string"),
        ("{ a = ⟪''⟫\n  text\n; }", "unterminated string"),
        ("x ⟪^⟫ 2", "unexpected character `^`"),
        ("⟪⟫", "unexpected end of file, expected an expression"),
        ("# only a comment\n⟪⟫", "unexpected end of file, expected an expression"),
    ],
)
def test_syntax_problem(text, message):
    source, ranges = marked(text)
    assert problems_of(source) == [SyntaxProblem(*ranges[0], message)]


def test_invalid_byte_is_an_unexpected_character():
    source = b"{ a = 1; b = x\xff; }"
    assert problems_of(source) == [
        SyntaxProblem(14, 15, "unexpected character `\ufffd`")
    ]


def test_nested_errors_are_reported_once():
    source, ranges = marked('{ x = "${a⟪"⟫; }')
    assert problems_of(source) == [SyntaxProblem(*ranges[0], "unterminated string")]


def test_one_problem_per_line_and_one_per_mistake():
    source, ranges = marked("{\n  a = 1⟪,⟫ b = 2, c = 3;\n  d = ⟪)⟫;\n}")
    assert problems_of(source) == [
        SyntaxProblem(*ranges[0], "unexpected `,`"),
        SyntaxProblem(*ranges[1], "unexpected `)`"),
    ]


def test_nothing_is_reported_after_an_unterminated_string():
    source, ranges = marked('{\n  a = ⟪"⟫x;\n  b = ) ;\n  c = ] ;\n}\n')
    assert problems_of(source) == [SyntaxProblem(*ranges[0], "unterminated string")]


def test_a_huge_error_is_reported_at_one_token():
    body = "".join(f"  a{index} = {index};\n" for index in range(2000))
    source = f"{{\n{body}  x = 1 ) 2;\n{body}}}\n".encode()
    [problem] = problems_of(source)
    assert problem == SyntaxProblem(
        source.index(b")"), source.index(b")") + 1, "unexpected `)`"
    )


def test_problems_are_capped():
    source = b"[\n" + b"  1 ,\n" * 200 + b"]\n"
    problems = problems_of(source)
    assert len(problems) == MAX_PROBLEMS
    assert all(problem.message == "unexpected `,`" for problem in problems)


def test_string_that_never_closes_points_at_its_opening_quote():
    source, ranges = marked("{ a = 1; }\n⟪''⟫\n  text\n")
    assert problems_of(source) == [SyntaxProblem(*ranges[0], "unterminated string")]


@pytest.mark.parametrize(
    "text",
    [
        "{ a, b, }: a",
        "{\n  den,\n  lib,\n  ...\n}:\n{ }",
        "{ host, user ? null, ... }@ctx: ctx",
        "{ inherit; }",
        "{ inherit (den.lib.policy); }",
        "let inherit (den.lib.policy) route resolve; in route",
        "x.y or z",
        '{ ${k} = 1; "${k}-x" = 2; }',
        "<den/home-manager>",
        "''\n  ''${HOME} '''\n''",
        "assert true; rec { a = 1; b = a; }",
        "\ufeff{ }",
        "{ } # trailing comment without newline",
    ],
)
def test_valid_nix_has_no_problem(text):
    assert problems_of(text.encode()) == []


# Pipe operators


@pytest.mark.parametrize(
    ("text", "sites"),
    [
        ("x |> f", [2]),
        ("f <| x", [2]),
        ("[ 1 ] |> map (x: x) |> builtins.head", [6, 20]),
        ('"${x |> f}"', [5]),
        ('"a |> b" + (x |> f)', [14]),
    ],
)
def test_pipe_operators_are_masked_and_never_a_problem(text, sites):
    source = text.encode()
    tree = parse_nix(source)
    assert list(tree.pipe_sites) == sites
    assert problems_of(source) == []
    assert tree.text(tree.root) == text


@pytest.mark.parametrize(
    "text",
    [
        '"a |> b <| c"',
        "# x |> f\n1",
        "/* f <| x */ 1",
        "''\n  cat |> grep <| x\n''",
    ],
)
def test_pipes_in_strings_and_comments_stay_text(text):
    source = text.encode()
    tree = parse_nix(source)
    assert tree.pipe_sites == ()
    assert problems_of(source) == []


def test_pipe_in_an_indented_string_keeps_its_text():
    source = b"''\n  x |> f\n''"
    tree = parse_nix(source)
    string = tree.root.named_child(0)
    assert string.type == "indented_string_expression"
    assert tree.text(string.named_child(0)) == "\n  x |> f\n"


def test_pipe_expression_has_operands_where_the_text_has_them():
    tree = parse_nix(b"xs |> map f")
    pipe = tree.root.named_child(0)
    assert pipe.type == "binary_expression"
    left = pipe.child_by_field_name("left")
    right = pipe.child_by_field_name("right")
    assert (tree.text(left), tree.text(right)) == ("xs", "map f")


# Bad input


def test_binary_files_are_recognised():
    assert looks_binary(b"\x7fELF\x00\x01")
    assert not looks_binary(b"{ }\n")
    assert not looks_binary(b"x" * 9000 + b"\x00")

    decoded = decode_source(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert decoded.binary
    assert decoded.source == b""
    assert decoded.problem == "binary file (contains NUL bytes); not read as Nix"


def test_byte_order_mark_is_dropped():
    decoded = decode_source(b"\xef\xbb\xbf{ a = 1; }")
    assert decoded.source == b"{ a = 1; }"
    assert decoded.text == "{ a = 1; }"
    assert decoded.had_bom
    assert decoded.problem is None


def test_invalid_utf8_is_described_and_replaced():
    decoded = decode_source(b'{\n  a = "\xff";\n}')
    assert decoded.source == b'{\n  a = "\xff";\n}'
    assert decoded.text == '{\n  a = "\ufffd";\n}'
    assert decoded.problem == (
        "not valid UTF-8 (byte 0xff on line 2); invalid bytes are read as U+FFFD"
    )
    assert problems_of(decoded.source) == []


def test_plain_source_has_no_problem():
    decoded = decode_source(b"{ }")
    assert decoded == decode_source(b"{ }")
    assert (decoded.source, decoded.text, decoded.problem) == (b"{ }", "{ }", None)


# Deep nesting. str() of such a tree recurses in C and overflows the stack,
# so these tests only look at the tree through iteration.

DEPTH = 10_000


@pytest.mark.parametrize(
    "source",
    [
        b"(" * DEPTH + b"1" + b")" * DEPTH,
        b"[" * DEPTH + b"]" * DEPTH,
        b"{ a = " * DEPTH + b"1" + b"; }" * DEPTH,
        b"x: " * DEPTH + b"x",
    ],
    ids=["parentheses", "lists", "attribute-sets", "lambdas"],
)
def test_deep_nesting_parses_without_problems(source):
    tree = parse_nix(source)
    assert syntax_problems(tree) == []
    index = LineIndex(source)
    assert index.position(len(source)) == (0, len(source))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (b"(" * DEPTH + b"1", "unexpected end of file inside this parenthesis"),
        (b"[" * DEPTH, "unexpected end of file inside this list"),
        (b")" * DEPTH, "unexpected `)`"),
    ],
)
def test_deep_unbalanced_nesting_is_one_problem(source, message):
    [problem] = syntax_problems(parse_nix(source))
    assert problem.message == message
    assert problem.end_byte - problem.start_byte == 1


def test_edit_deep_inside_a_deep_document():
    text = "(" * DEPTH + "1" + ")" * DEPTH
    document = Document.from_text("file:///deep.nix", text)
    document.apply_change(((0, DEPTH), (0, DEPTH + 1)), "2 + 3")
    assert document.source[DEPTH : DEPTH + 5] == b"2 + 3"
    assert syntax_problems(document.tree) == []
    document.apply_change(((0, DEPTH), (0, DEPTH)), "(")
    assert len(syntax_problems(document.tree)) == 1
