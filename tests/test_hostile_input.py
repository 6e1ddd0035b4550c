"""Hostile and broken input: a diagnostic or a log line, never a hang or a crash.

What a repository or a client can throw at den-lsp, and what it must get back:

- expressions nested 20,000 deep, of every shape the extractor looks
  through: read with a stack far below Python's recursion limit;
- definitions that multiply each other's work (each line doubling the last):
  given up after a bounded number of steps, with a log line;
- input on which tree-sitter's parse is quadratic: given up after a bounded
  time, with a diagnostic;
- files that cannot be read (a FIFO, a symlink to /dev/zero or out of the
  workspace, a symlink loop, a folder named ``.nix``), and files deleted,
  renamed or made unreadable while the workspace is indexed: skipped, with
  the reason kept and logged;
- invalid UTF-8 and NUL bytes, a file over the size limit, a 10 MB file
  opened in the editor, a 200,000-line file, a folder of 100,000 files;
- requests for unknown documents, positions past the end, stale and repeated
  versions, messages that are not JSON or not UTF-8, parameters of the
  wrong type, ``$/cancelRequest`` during a long request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcRequestCancelled
from pygls.uris import from_fs_path

from client_text import seed_files
from den_lsp.facts.evaluate import BASE_STEPS, STEPS_PER_BYTE
from den_lsp.features import completion, hover, inlay, lens, navigation, symbols
from den_lsp.features.cache import decode, encode
from den_lsp.features.project import Project, analyse_source
from den_lsp.syntax import parse
from den_lsp.syntax.document import Document
from server_harness import every_request, session, state
from test_server import FIXTURE, change, codes, published

N = 20_000


def frame_depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    return depth


@contextmanager
def bounded_stack(headroom: int):
    """Python's recursion limit, this many frames above the caller's depth.

    The server's threads start a few dozen frames deep and Python allows
    1,000: code that passes with 600 frames to spare cannot reach the limit
    in the server, whatever the input.
    """
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(frame_depth() + headroom)
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


# Each shape nests N deep; the ones that end in a den fact at the bottom must
# still read it.
DEEP = {
    "parentheses": "{ den.schema.guest = "
    + "(" * N
    + "{ isolated = true; }"
    + ")" * N
    + "; }",
    "lists": "{ den.aspects.a.includes = " + "[" * N + "]" * N + "; }",
    "attribute sets": "{ den.aspects.a = " + "{ b = " * N + "1" + "; }" * N + "; }",
    "rec sets": "{ den.aspects.a = " + "rec { b = " * N + "1" + "; }" * N + "; }",
    "lets": "{ den.schema.guest = " + "let x = 1; in " * N + "{ isolated = true; }; }",
    "withs": "{ den.schema.guest = " + "with x; " * N + "{ isolated = true; }; }",
    "asserts": "{ den.aspects.a = " + "assert x; " * N + "{ }; }",
    "ifs in then": "{ den.schema.guest = "
    + "if c then " * N
    + "{ isolated = true; }"
    + " else { }" * N
    + "; }",
    "ifs in else": "{ den.schema.guest = "
    + "if c then { } else " * N
    + "{ isolated = true; }; }",
    "lambdas": "{ den.aspects.a = " + "x: " * N + "{ }; }",
    "applications": "{ den.aspects.a = " + "f (" * N + "1" + ")" * N + "; }",
    "list concatenation": "{ den.aspects.a.includes = " + "[ ] ++ " * N + "[ ]; }",
    "set updates": "{ den.aspects.a = " + "{ } // " * N + "{ }; }",
    "mkIf": "{ lib, ... }: { den.schema.guest = "
    + "lib.mkIf c ("
    + "lib.mkIf c (" * (N - 1)
    + "{ isolated = true; }"
    + ")" * N
    + "; }",
    "mkDefault": "{ lib, ... }: { den.schema.guest = "
    + "lib.mkDefault (" * N
    + "{ isolated = true; }"
    + ")" * N
    + "; }",
    "mkMerge": "{ lib, ... }: { den.aspects.a = "
    + "lib.mkMerge [ " * N
    + "{ }"
    + " ]" * N
    + "; }",
    "imports": "{ "
    + "imports = [ { " * N
    + "den.schema.guest.isolated = true;"
    + " } ];" * N
    + " }",
    "selects": "{ den.aspects.a = " + "(" * N + "x" + ").a" * N + "; }",
    "interpolations": "{ den.aspects.a = " + '"${' * N + '"x"' + '}"' * N + "; }",
    "negations": "{ den.aspects.a = " + "!" * N + "true; }",
    "has-attribute": "{ den.aspects.a = x" + " ? a" * N + "; }",
    "or defaults": "{ den.aspects.a = x.a" + " or x.a" * N + "; }",
    "let chain": "{ den, ... }: let "
    + "".join(f"a{i + 1} = a{i}; " for i in range(N))
    + f"a0 = den.lib.policy.route; in {{ den.policies.p = {{ host }}: [ (a{N} {{ }}) ]; }}",
    "policy lambdas": "{ den, ... }: { den.policies.p = "
    + "{ host }: " * N
    + "[ (den.lib.policy.route { }) ]; }",
    "include wrappers": "{ den, ... }: { den.aspects.a.includes = [ "
    + "(den.lib.x " * N
    + "den.aspects.b"
    + ")" * N
    + " ]; }",
    "unclosed parentheses": "{ den.aspects.a = " + "(" * N,
    "unclosed sets": "{ den.aspects.a = " + "{ " * N,
    "unclosed strings": "{ den.aspects.a = ''" + "${''" * N,
}

# Shapes whose innermost value is `{ isolated = true; }` for kind `guest`.
READS_THE_BOTTOM = {
    "parentheses",
    "lets",
    "withs",
    "ifs in then",
    "ifs in else",
    "mkIf",
    "mkDefault",
}


@pytest.mark.slow
@pytest.mark.parametrize("shape", DEEP)
def test_nesting_20000_deep_is_read_within_a_bounded_stack(shape, caplog):
    source = DEEP[shape].encode()
    project = Project(Path("/nonexistent-root"))
    with caplog.at_level(logging.INFO), bounded_stack(600):
        state = analyse_source("deep.nix", source)
        facts = state.facts
        assert decode(encode((facts, state.syntax))) == (facts, state.syntax)
        project.set_source("deep.nix", source)
        project.findings()
        project.set_source("deep.nix", source + b"\n")  # an edit
        findings = project.findings()
        middle = len(source) // 2
        hover.hover_at(project, "deep.nix", 0, middle)
        symbols.document_symbols(project, "deep.nix")
        symbols.workspace_symbols(project, "a")
        inlay.hints_in(project, "deep.nix", 0, len(source))
        lens.lenses_in(project, "deep.nix")
        navigation.definitions(project, "deep.nix", 0, middle)
        completion.completions_at(project, "deep.nix", 0, middle)

    assert [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING
    ] == []
    if shape in READS_THE_BOTTOM:
        assert [(f.kind, f.name, f.value) for f in facts.kind_fields] == [
            ("guest", "isolated", True)
        ]
        assert [f.code for f in findings["deep.nix"]] == ["den/isolated-not-entity"]
    if shape.startswith("unclosed"):
        assert [f.code for f in findings["deep.nix"]] == ["den/syntax"]


# Each line doubles what reading the last one costs: 2**40 ways through.
DOUBLING = 40
MULTIPLYING = {
    "conditionals": "{ lib, ... }: let x0 = { nixos = { }; };\n"
    + "".join(f"  x{i} = if c then x{i - 1} else x{i - 1};\n" for i in range(1, 41))
    + "in { den.aspects.a = x40; }\n",
    "mkMerge": "{ lib, ... }: let x0 = { nixos = { }; };\n"
    + "".join(f"  x{i} = lib.mkMerge [ x{i - 1} x{i - 1} ];\n" for i in range(1, 41))
    + "in { den.aspects.a = x40; }\n",
    "includes": "{ den, ... }: let x0 = [ den.aspects.b ];\n"
    + "".join(f"  x{i} = x{i - 1} ++ x{i - 1};\n" for i in range(1, 41))
    + "in { den.aspects.a.includes = x40; }\n",
    "lists": "{ den, ... }: let x0 = [ 1 ];\n"
    + "".join(f"  x{i} = x{i - 1} ++ x{i - 1};\n" for i in range(1, 41))
    + "in { den.schema.guest.isolated = builtins.elem 2 x40; }\n",
    "strings": '{ den, ... }: let s0 = "guest";\n'
    + "".join(f"  s{i} = s{i - 1} + s{i - 1};\n" for i in range(1, 41))
    + "in { den.schema.${s40}.isolated = true; }\n",
}


@pytest.mark.parametrize("name", MULTIPLYING)
def test_definitions_that_multiply_work_are_cut_short(name, caplog):
    source = MULTIPLYING[name].encode()
    started = time.perf_counter()
    with caplog.at_level(logging.INFO):
        facts = analyse_source("blowup.nix", source).facts
    assert time.perf_counter() - started < 20
    gave_up = [
        r.getMessage() for r in caplog.records if "too complex" in r.getMessage()
    ]
    if name in ("conditionals", "mkMerge", "includes"):
        limit = BASE_STEPS + STEPS_PER_BYTE * len(source)
        expected = (
            f"blowup.nix: too complex to read (more than {limit} steps); "
            "its den facts are left out"
        )
        assert gave_up == [expected]
        assert (facts.aspects, facts.includes) == ((), ())
        assert "aspects" in facts.open_sections
    else:
        # A list or string too long to build is an unknown value, not an error.
        assert gave_up == []


def test_every_den_document_of_the_repository_is_far_below_the_step_bound():
    from den_lsp.facts import evaluate

    used = []
    original = evaluate.Evaluator.tick

    def tick(self):
        original(self)
        used.append(self.steps / self.max_steps)

    evaluate.Evaluator.tick = tick
    try:
        for path in seed_files():
            assert analyse_source("m.nix", path.read_bytes()).facts is not None
    finally:
        evaluate.Evaluator.tick = original
    assert max(used) < 0.01


@pytest.mark.parametrize(
    "expression",
    ["x" + ".a" * 60_000, "-" * 60_000 + "1"],
    ids=["a select chain", "a run of minus signs"],
)
def test_input_the_parser_would_take_minutes_over_is_not_parsed(expression, caplog):
    # Both take tree-sitter time quadratic in their length: minutes at this
    # size, and an edit in such a file would cost as much again.
    source = f"{{ den.aspects.a = {expression}; }}".encode()
    started = time.perf_counter()
    with caplog.at_level(logging.WARNING):
        state = analyse_source("slow.nix", source)
    assert time.perf_counter() - started < 6
    ((code, start, message),) = [
        (f.code, (f.span.start_line, f.span.start_character), f.message)
        for f in state.syntax
    ]
    assert (code, start) == ("den/syntax", (0, 0))
    assert message.startswith("den-lsp gave up parsing this file: it holds a selection")
    assert state.facts.aspects == ()
    budget = 1 + len(source) / (1 << 20)  # seconds: 1 s, and 1 s per MB
    logged = f"gave up parsing {len(source)} bytes after {budget:.1f} s: a run of 128"
    assert [r.getMessage() for r in caplog.records] == [
        f"{logged} or more selections or minus signs; the file is not analysed"
    ]

    # The editor's document follows edits to it, and reads it again once an
    # edit makes it parseable.
    document = Document("file:///slow.nix", source)
    assert document.tree.gave_up
    document.apply_change(((0, 18), (0, 18 + len(expression))), "{ }")
    assert not document.tree.gave_up
    assert document.text == "{ den.aspects.a = { }; }"


@pytest.mark.parametrize(
    ("text", "bounded"),
    [
        ("{ a = x" + ".a" * 127 + "; }", False),  # as long as a run may be
        ("{ a = x" + ".a" * 128 + "; }", True),
        ("{ a = " + "-" * 127 + "1; }", False),
        ("{ a = " + "-" * 128 + "1; }", True),
        ("# " + "-" * 400 + "\n{ a = 1; }", False),  # a separator comment
        ("{ a = x" + ' . "a"' * 5000 + "; }", False),  # spaced and quoted: linear
        ("{ a = " + "b" * 5000 + "; }", False),  # a long name
        ("{ a = ''\n" + "-" * 400 + "\n''; }", True),  # dashes in a string
    ],
    ids=[
        "127 selections",
        "128",
        "127 minus",
        "128 minus",
        "comment",
        "spaced",
        "name",
        "string",
    ],
)
def test_which_runs_get_a_parse_bounded_by_the_clock(text, bounded):
    assert parse.slow_run(text.encode()) is bounded
    # Each of these is short enough to parse within the bound, and does.
    tree = parse.parse_nix(text.encode())
    assert not tree.gave_up and not tree.root.has_error


def test_a_line_of_dashes_in_a_string_is_valid_nix_and_read():
    source = "{ den.aspects.motd.nixos.users.motd = ''\n" + "-" * 60_000 + "\n''; }"
    state = analyse_source("motd.nix", source.encode())
    assert state.syntax == ()
    assert [a.path for a in state.facts.aspects] == [("motd",)]


def test_a_file_of_runs_just_short_of_the_bound_still_parses_in_time():
    # The worst a file can do within the bound: each run costs the square of
    # MAX_RUN, so 1 MB of them takes about a second.
    chains = " ".join("x" + ".a" * (parse.MAX_RUN - 1) for _ in range(4000))
    source = f"{{ a = [ {chains} ]; }}".encode()
    started = time.perf_counter()
    tree = parse.parse_nix(source)
    assert not tree.gave_up and not tree.root.has_error
    assert time.perf_counter() - started < 15


# -- files on disk ----------------------------------------------------------------------


@pytest.fixture
def tricky(tmp_path: Path) -> Path:
    """A workspace whose files cannot all be read, beside one outside it."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.nix").write_text("{ den.schema.guest.isolated = true; }\n")
    root = tmp_path / "workspace"
    modules = root / "modules"
    modules.mkdir(parents=True)
    (modules / "ok.nix").write_text("{ den.hosts.x86_64-linux.h = { }; }\n")
    os.mkfifo(modules / "fifo.nix")
    (modules / "zero.nix").symlink_to("/dev/zero")
    (modules / "outside.nix").symlink_to(outside / "secret.nix")
    (modules / "dangling.nix").symlink_to(tmp_path / "nowhere.nix")
    (modules / "loop.nix").symlink_to("loop.nix")
    (modules / "dir.nix").mkdir()
    (modules / "up").symlink_to("..")  # a folder symlink loop
    (modules / "outdir").symlink_to(outside)
    (modules / "inside.nix").symlink_to("ok.nix")  # inside: followed
    (root / ".gitignore").symlink_to(outside / "secret.nix")
    return root


def test_files_that_cannot_be_read_are_skipped_with_their_reason(tricky, caplog):
    project = Project(tricky)
    project.use_cache = False
    started = time.perf_counter()
    with caplog.at_level(logging.INFO):
        project.index()
    assert time.perf_counter() - started < 10

    assert sorted(project.files) == ["modules/inside.nix", "modules/ok.nix"]
    outside = tricky.parent / "outside"
    assert project.unreadable == {
        "modules/dangling.nix": f"a symlink to {tricky.parent / 'nowhere.nix'}, "
        "outside the workspace; not followed",
        "modules/fifo.nix": "not a regular file",
        "modules/loop.nix": "[Errno 40] Too many levels of symbolic links: "
        f"'{tricky / 'modules' / 'loop.nix'}'",
        "modules/outside.nix": f"a symlink to {outside / 'secret.nix'}, "
        "outside the workspace; not followed",
        "modules/zero.nix": "a symlink to /dev/zero, outside the workspace; "
        "not followed",
    }
    logged = {r.getMessage() for r in caplog.records}
    for rel, reason in project.unreadable.items():
        assert f"{rel}: cannot read: {reason}" in logged
    # The rest of the workspace is analysed as usual (the symlink inside the
    # workspace is read as a file of its own: the host is written twice).
    assert {k: [f.code for f in v] for k, v in project.findings().items()} == {
        "modules/inside.nix": ["den/entity-without-aspect"],
        "modules/ok.nix": [],
    }


def test_files_that_change_while_the_workspace_is_indexed(tmp_path, monkeypatch):
    import den_lsp.features.project as project_module

    root = tmp_path / "workspace"
    root.mkdir()
    for name in ("a", "deleted", "renamed", "fifo", "denied", "z"):
        (root / f"{name}.nix").write_text(
            f"{{ den.hosts.x86_64-linux.{name} = {{ }}; }}\n"
        )
    real = project_module.read_workspace_file

    def racing(path, top, limit):
        # What another process does to each file just before den-lsp reads it.
        name = Path(path).name
        if name == "deleted.nix":
            os.unlink(path)
        elif name == "renamed.nix":
            os.rename(path, root / "moved.nix")
        elif name == "fifo.nix":
            os.unlink(path)
            os.mkfifo(path)
        elif name == "denied.nix":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, top, limit)

    monkeypatch.setattr(project_module, "read_workspace_file", racing)
    project = Project(root)
    project.use_cache = False
    project.index()

    assert sorted(project.files) == ["a.nix", "z.nix"]
    assert project.unreadable == {
        "deleted.nix": f"[Errno 2] No such file or directory: '{root / 'deleted.nix'}'",
        "renamed.nix": f"[Errno 2] No such file or directory: '{root / 'renamed.nix'}'",
        "fifo.nix": "not a regular file",
        "denied.nix": f"[Errno 13] Permission denied: '{root / 'denied.nix'}'",
    }
    assert sorted(f.code for f in project.findings()["z.nix"]) == [
        "den/entity-without-aspect"
    ]


def test_invalid_utf8_and_nul_bytes(tmp_path, caplog):
    root = tmp_path / "workspace"
    root.mkdir()
    # Nix strings are bytes: invalid UTF-8 in one is no error.
    (root / "latin1.nix").write_bytes(
        b'{ den.hosts.x86_64-linux.h.description = "caf\xe9"; }'
    )
    (root / "stray.nix").write_bytes(b"{ a = 1; }\xff\xfe\n")
    (root / "nul.nix").write_bytes(b"{ a = \x00; }")
    project = Project(root)
    project.use_cache = False
    with caplog.at_level(logging.INFO):
        project.index()
    findings = project.findings()
    assert [f.code for f in findings["latin1.nix"]] == ["den/entity-without-aspect"]
    (stray,) = findings["stray.nix"]
    assert (stray.code, stray.span.start_line, stray.span.start_character) == (
        "den/syntax",
        0,
        10,
    )
    assert stray.message == "unexpected character `\ufffd\ufffd`"
    assert findings["nul.nix"] == []
    assert "nul.nix: binary file, not analysed" in {
        r.getMessage() for r in caplog.records
    }


def test_a_file_over_the_size_limit_is_skipped_with_its_size(tmp_path, caplog):
    root = tmp_path / "workspace"
    root.mkdir()
    size = 10 * 1024 * 1024
    (root / "huge.nix").write_bytes(
        b"{ a = [\n" + b"  1\n" * ((size - 12) // 4) + b"]; }\n"
    )
    actual = (root / "huge.nix").stat().st_size
    project = Project(root)
    project.use_cache = False
    with caplog.at_level(logging.INFO):
        project.index()
    reason = f"file is {actual} bytes, more than den-lsp reads"
    assert project.unreadable == {"huge.nix": reason}
    assert f"huge.nix: cannot read: {reason}" in {
        r.getMessage() for r in caplog.records
    }


@pytest.mark.slow
def test_a_folder_of_100000_files(tmp_path):
    root = tmp_path / "workspace"
    hosts = root / "hosts"
    hosts.mkdir(parents=True)
    for i in range(100_000):
        text = (
            f"{{ den.hosts.x86_64-linux.h{i} = {{ }}; }}\n" if i % 100 == 0 else "{ }\n"
        )
        (hosts / f"h{i}.nix").write_text(text)
    project = Project(root)
    project.use_cache = False
    started = time.perf_counter()
    project.index()
    findings = project.findings()
    assert time.perf_counter() - started < 180
    assert len(project.files) == 100_000
    assert sum(len(items) for items in findings.values()) == 1_000


# -- over stdio --------------------------------------------------------------------------


def _package_set(size: int) -> str:
    """A package collection in the style of nixpkgs' generated files."""
    parts = ["{ pkgs, lib, callPackage, fetchurl }: self: {\n"]
    written = 0
    n = 0
    while written < size:
        part = (
            f'  "pkg{n}" = callPackage ({{ mkDerivation, base }}: mkDerivation {{\n'
            f'    pname = "pkg{n}";\n    version = "1.0.{n}";\n'
            f'    src = fetchurl {{ url = "https://example.org/pkg{n}.tar.gz"; '
            'sha256 = "0000000000000000000000000000000000000000000000000000"; };\n'
            f'    description = "Package {n}";\n    license = lib.licenses.mit;\n'
            "  }) { };\n"
        )
        parts.append(part)
        written += len(part)
        n += 1
    parts.append("}\n")
    return "".join(parts)


def _lines(count: int) -> str:
    return "{\n" + "".join(f"  a{i} = {i};\n" for i in range(count)) + "}\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    shutil.copytree(FIXTURE, root)
    return root


def _open(client, uri: str, text: str, version: int = 1) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="nix", version=version, text=text
            )
        )
    )


def _failures(answers: dict) -> dict:
    """Requests answered with an error, other than a refused rename."""
    return {
        method: repr(answer)
        for method, answer in answers.items()
        if isinstance(answer, Exception)
        and not (
            method == types.TEXT_DOCUMENT_RENAME
            and isinstance(answer, JsonRpcException)
            and "no den kind" in str(answer)
        )
    }


async def _published_within(client, uri, version, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for params in client.published.get(uri, []):
            if params.version == version:
                return params
        await asyncio.sleep(0.05)
    raise AssertionError(f"no diagnostics for {uri} v{version} in {seconds} s")


@pytest.mark.slow
async def test_big_and_deep_documents_in_the_editor(root, tmp_path):
    documents = {
        "packages.nix": _package_set(7 * 1024 * 1024),
        "lines.nix": _lines(200_000),
        "deep.nix": DEEP["mkMerge"],
        "unclosed.nix": DEEP["unclosed strings"],
    }
    async with session(root, tmp_path / "cache", introspect=True) as client:
        for name, text in documents.items():
            uri = from_fs_path(str(root / "modules" / name))
            _open(client, uri, text)
            await _published_within(client, uri, 1, 120)
            last = max(0, text.count("\n") - 1)
            assert _failures(await every_request(client, uri, last, 3)) == {}, name

            # An edit near the end is followed and analysed.
            change(client, uri, 2, (last, 0), (last, 0), "  # edited\n")
            await _published_within(client, uri, 2, 120)
            seen = await state(client, uri, timeout=120)
            assert seen["findings_equal"] and seen["facts_equal"], name
            assert seen["source"] == seen["text"], name

        # A document over the limit of files read from disk is not analysed
        # either; it says so, and is analysed once an edit makes it small.
        uri = from_fs_path(str(root / "modules" / "huge.nix"))
        huge = _package_set(10 * 1024 * 1024)
        _open(client, uri, huge)
        started = time.monotonic()
        (only,) = (await _published_within(client, uri, 1, 30)).diagnostics
        assert time.monotonic() - started < 10
        assert (only.range.start.line, only.range.start.character) == (0, 0)
        assert only.severity == types.DiagnosticSeverity.Information
        size = len(huge.encode()) / (1024 * 1024)
        assert only.message == (
            f"den-lsp does not analyse this file: it is {size:.1f} MiB, and "
            "den-lsp reads files of up to 8 MiB"
        )
        assert _failures(await every_request(client, uri, 5, 3)) == {}
        change(
            client, uri, 2, (0, 0), (huge.count("\n"), 0), "{ den.aspects.h = { }; }"
        )
        assert list((await _published_within(client, uri, 2, 30)).diagnostics) == []
        assert (await state(client, uri))["findings_equal"]

        # The rest of the workspace is still served.
        schema = from_fs_path(str(root / "modules/schema.nix"))
        _open(client, schema, (root / "modules/schema.nix").read_text())
        assert codes(await published(client, schema, version=1)) == [
            "den/isolation-leak"
        ]
        errors = [
            m.message for m in client.log_messages if m.type == types.MessageType.Error
        ]
        assert errors == []


async def test_requests_for_unknown_documents_and_places(root, tmp_path):
    async with session(root, tmp_path / "cache") as client:
        schema = from_fs_path(str(root / "modules/schema.nix"))
        _open(client, schema, (root / "modules/schema.nix").read_text())
        await published(client, schema, version=1)
        places = [
            (schema, 10**6, 10**6),  # past the end of the document
            (schema, 2, 10**6),  # past the end of a line
            (schema, 2**31 - 1, 2**31 - 1),  # the largest position LSP allows
            (from_fs_path(str(root / "modules/never-opened.nix")), 0, 0),
            (from_fs_path("/nowhere/at/all.nix"), 3, 3),
            ("untitled:Untitled-9", 0, 0),
            ("vscode-notebook-cell:/x.ipynb#W1", 0, 0),
            ("file:///%00%ff.nix", 0, 0),
        ]
        for uri, line, character in places:
            answers = await every_request(client, uri, line, character)
            assert _failures(answers) == {}, (uri, line, character)
        # Nothing happened to the open document.
        assert codes(await published(client, schema, version=1)) == [
            "den/isolation-leak"
        ]
        assert client._server.returncode is None


async def test_stale_and_repeated_versions(root, tmp_path):
    async with session(root, tmp_path / "cache", introspect=True) as client:
        uri = from_fs_path(str(root / "modules/schema.nix"))
        text = (root / "modules/schema.nix").read_text()
        isolated = text.replace("isEntity = true;", "isEntity = true; isolated = true;")
        _open(client, uri, text)
        assert codes(await published(client, uri, version=1)) == ["den/isolation-leak"]

        def replace_all(version: int, new_text: str) -> None:
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(
                        uri=uri, version=version
                    ),
                    content_changes=[
                        types.TextDocumentContentChangeWholeDocument(text=new_text)
                    ],
                )
            )

        replace_all(5, isolated)
        assert codes(await published(client, uri, version=5)) == []
        # A version older than the last: still the client's latest text.
        replace_all(3, text)
        assert codes(await published(client, uri, version=3)) == ["den/isolation-leak"]
        # The same version again, with another text: analysed all the same.
        count = len(client.published[uri])
        replace_all(3, isolated)
        seen = await state(client, uri)
        assert seen["text"] == seen["source"] == isolated
        assert seen["findings"] == []
        assert codes(await published(client, uri, after=count)) == []


async def test_broken_messages_are_answered_or_logged(root, tmp_path):
    async with session(root, tmp_path / "cache") as client:
        uri = from_fs_path(str(root / "modules/schema.nix"))
        _open(client, uri, (root / "modules/schema.nix").read_text())
        await published(client, uri, version=1)
        writer = client.protocol.writer

        def send(body: bytes) -> None:
            writer.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

        def request(msg_id: int, method: str, params) -> bytes:
            message = {
                "jsonrpc": "2.0",
                "id": msg_id,
                "method": method,
                "params": params,
            }
            return json.dumps(message).encode()

        answers: dict = {}
        original = client.protocol._handle_response

        def keep(msg_id, result=None, error=None):
            answers[msg_id] = error
            return original(msg_id, result, error)

        client.protocol._handle_response = keep
        opened = {"uri": "file:///bad.nix", "languageId": "nix", "version": 1}
        send(  # not UTF-8: read as nothing, logged
            b'{"jsonrpc":"2.0","method":"textDocument/didOpen","params":'
            b'{"textDocument":{"uri":"file:///bad.nix","languageId":"nix",'
            b'"version":1,"text":"\xff\xfe{ }"}}}'
        )
        send(b'{"jsonrpc": "2.0", "id": 900, "method": ')  # not JSON
        send(b"[1, 2, 3]")  # JSON, not a message
        send(request(901, "textDocument/hover", {"textDocument": "x", "position": "y"}))
        send(
            request(
                902,
                "textDocument/hover",
                {
                    "textDocument": {"uri": uri},
                    "position": {"line": -1, "character": -5},
                },
            )
        )
        send(request(903, "den/noSuchMethod", {}))
        nul = {**opened, "uri": "file:///nul.nix", "text": "{ a = \u0000; }"}
        send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "method": "textDocument/didOpen",
                    "params": {"textDocument": nul},
                }
            ).encode()
        )
        writer.write(b"Content-Length: nonsense\r\n\r\n")

        deadline = time.monotonic() + 15
        while len(answers) < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert {k: v.code for k, v in answers.items() if k in (901, 902, 903)} == {
            901: -32602,  # invalid params
            902: -32602,
            903: -32601,  # method not found
        }
        await published(client, "file:///nul.nix", version=1)
        logged = " ".join(m.message for m in client.log_messages)
        assert "nul.nix: binary file, not analysed" in logged

        # And the session goes on.
        hover = await client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=1, character=15),
            )
        )
        assert hover is not None
        assert client._server.returncode is None


@pytest.mark.slow
async def test_cancel_during_a_long_request(root, tmp_path):
    async with session(root, tmp_path / "cache") as client:
        schema = from_fs_path(str(root / "modules/schema.nix"))
        _open(client, schema, (root / "modules/schema.nix").read_text())
        await published(client, schema, version=1)

        # A big document keeps the analysis thread busy for a while; a hover
        # on it waits behind that analysis, and is cancelled meanwhile.
        big = from_fs_path(str(root / "modules/packages.nix"))
        _open(client, big, _package_set(7 * 1024 * 1024))
        request = asyncio.ensure_future(
            client.protocol.send_request_async(
                types.TEXT_DOCUMENT_HOVER,
                types.HoverParams(
                    text_document=types.TextDocumentIdentifier(uri=big),
                    position=types.Position(line=1, character=5),
                ),
                msg_id="long-hover",
            )
        )
        await asyncio.sleep(0.05)
        cancelled_at = time.monotonic()
        client.protocol.notify("$/cancelRequest", types.CancelParams(id="long-hover"))
        with pytest.raises(JsonRpcRequestCancelled):
            await asyncio.wait_for(request, 60)
        assert time.monotonic() - cancelled_at < 5

        # The server is still there, and answers once the analysis is done.
        await _published_within(client, big, 1, 120)
        hover = await client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=schema),
                position=types.Position(line=1, character=15),
            )
        )
        assert hover is not None
