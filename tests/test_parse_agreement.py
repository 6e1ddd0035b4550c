"""den-lsp's syntax check agrees with Nix's own parser.

Every file in ``fixtures/parse/valid`` and ``fixtures/parse/pipes`` must be
accepted by ``nix-instantiate --parse`` and get no syntax problem from
den-lsp; every file in ``fixtures/parse/invalid`` must be rejected by both.

An invalid fixture starts with a header naming the first problem den-lsp
reports, 1-based line and UTF-16 column, and its message::

    # den-lsp: 9:17 unexpected `=`

Nix must report its syntax error on the same line, unless a second header
line names the line Nix uses and why it differs::

    # nix: line 7, where the file ends; den-lsp points at the `{` left open.

Nix is run only to parse: ``--store dummy://`` keeps it away from any Nix
store or daemon, and HOME and the Nix state, configuration and cache folders
point into a temporary directory, so the test needs no Nix installation
beyond the binary (Debian: ``apt-get install nix-bin``) and no network.
Without ``nix-instantiate`` the Nix half of these tests is skipped, unless
the environment variable ``CI`` is set: there a missing Nix is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from den_lsp.syntax import LineIndex, parse_nix, syntax_problems

FIXTURES = Path(__file__).parent / "fixtures" / "parse"
VALID = sorted((FIXTURES / "valid").glob("*.nix"))
INVALID = sorted((FIXTURES / "invalid").glob("*.nix"))
PIPES = sorted((FIXTURES / "pipes").glob("*.nix"))

_EXPECT = re.compile(r"^# den-lsp: (\d+):(\d+) (.+)$", re.MULTILINE)
_NIX_LINE = re.compile(r"^# nix: line (\d+),", re.MULTILINE)
_NIX_POSITION = re.compile(r"\bat (?:«[^»]*»|\S+?):(\d+):(\d+):")


def ids(paths: list[Path]) -> list[str]:
    return [path.name for path in paths]


def test_fixture_sets_are_large_enough():
    assert len(VALID) >= 15
    assert len(INVALID) >= 8
    assert PIPES


# den-lsp alone: these run everywhere.


@pytest.mark.parametrize("path", VALID + PIPES, ids=ids(VALID + PIPES))
def test_den_lsp_finds_no_problem_in_valid_fixture(path: Path):
    tree = parse_nix(path.read_bytes())
    assert syntax_problems(tree) == []
    assert not tree.root.has_error


@pytest.mark.parametrize("path", PIPES, ids=ids(PIPES))
def test_pipe_fixture_parses_through_masking(path: Path):
    source = path.read_bytes()
    tree = parse_nix(source)
    assert tree.pipe_sites
    assert {source[site : site + 2] for site in tree.pipe_sites} <= {b"|>", b"<|"}


@pytest.mark.parametrize("path", INVALID, ids=ids(INVALID))
def test_den_lsp_reports_the_expected_problem(path: Path):
    source = path.read_bytes()
    expected = _EXPECT.search(source.decode())
    assert expected, f"{path.name} lacks a `# den-lsp: LINE:COLUMN MESSAGE` header"

    problems = syntax_problems(parse_nix(source))
    assert problems
    line, character = LineIndex(source).position(problems[0].start_byte)
    assert (line + 1, character + 1, problems[0].message) == (
        int(expected[1]),
        int(expected[2]),
        expected[3],
    )


# Agreement with Nix.


@dataclass(frozen=True)
class NixParser:
    executable: str
    version: str
    home: Path

    def parse(self, path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        home = self.home
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "NIX_CONF_DIR": str(home / "etc"),
            "NIX_STATE_DIR": str(home / "state"),
            "NIX_LOG_DIR": str(home / "log"),
            "XDG_CACHE_HOME": str(home / "cache"),
            "XDG_CONFIG_HOME": str(home / "config"),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_STATE_HOME": str(home / "xdg-state"),
        }
        command = [self.executable, "--store", "dummy://", *extra, "--parse", str(path)]
        return subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=60, check=False
        )

    def supports_pipes(self, scratch: Path) -> bool:
        probe = scratch / "pipe-probe.nix"
        probe.write_text("[ 1 ] |> map (x: x)\n")
        return self.parse(probe, *PIPE_FEATURE).returncode == 0


PIPE_FEATURE = ("--extra-experimental-features", "pipe-operators")


@pytest.fixture(scope="module")
def nix(tmp_path_factory: pytest.TempPathFactory) -> NixParser:
    executable = shutil.which("nix-instantiate")
    if executable is None:
        message = (
            "nix-instantiate not found; the parse agreement tests need Nix's "
            "parser (Debian/Ubuntu: apt-get install nix-bin)"
        )
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must install it", pytrace=False)
        pytest.skip(message)

    home = tmp_path_factory.mktemp("nix-home")
    for folder in ("etc", "state", "log", "cache", "config", "data", "xdg-state"):
        (home / folder).mkdir()
    version = subprocess.run(
        [executable, "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return NixParser(executable, version, home)


def nix_error_line(result: subprocess.CompletedProcess[str]) -> int | None:
    found = _NIX_POSITION.search(result.stderr)
    return int(found[1]) if found else None


@pytest.mark.parametrize("path", VALID, ids=ids(VALID))
def test_nix_accepts_valid_fixture(nix: NixParser, path: Path):
    result = nix.parse(path)
    assert result.returncode == 0, (
        f"{nix.version} rejects {path.name}:\n{result.stderr}"
    )


@pytest.mark.parametrize("path", INVALID, ids=ids(INVALID))
def test_nix_rejects_invalid_fixture_where_den_lsp_does(nix: NixParser, path: Path):
    result = nix.parse(path)
    assert result.returncode != 0, f"{nix.version} accepts {path.name}"
    assert "syntax error" in result.stderr, result.stderr

    text = path.read_text()
    expected = _EXPECT.search(text)
    assert expected
    differs = _NIX_LINE.search(text)
    nix_line = int(differs[1]) if differs else int(expected[1])
    assert nix_error_line(result) == nix_line, result.stderr


@pytest.mark.parametrize("path", PIPES, ids=ids(PIPES))
def test_nix_accepts_pipe_fixture(
    nix: NixParser, path: Path, tmp_path_factory: pytest.TempPathFactory
):
    if not nix.supports_pipes(tmp_path_factory.mktemp("probe")):
        pytest.skip(f"{nix.version} does not know the pipe-operators feature")
    result = nix.parse(path, *PIPE_FEATURE)
    assert result.returncode == 0, (
        f"{nix.version} rejects {path.name}:\n{result.stderr}"
    )
