"""Shared set-up of the real-editor tests: where the editors and den-lsp are.

An editor that is not installed skips its tests, unless DEN_LSP_EDITOR_TESTS
is ``require`` (as ``scripts/test`` sets it): then a missing editor fails the
run, so CI cannot pass by skipping.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
HERE = Path(__file__).parent


def missing(what: str) -> None:
    """Skip, or fail when the editor tests are required."""
    if os.environ.get("DEN_LSP_EDITOR_TESTS") == "require":
        pytest.fail(f"{what} (DEN_LSP_EDITOR_TESTS=require)")
    pytest.skip(what)


def venv_tool(name: str) -> str | None:
    """``name`` from this interpreter's environment, else from PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which(name)


def readme_snippet(name: str) -> str:
    """The code block README.md marks with ``<!-- editor-snippet: NAME -->``."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    marker = f"<!-- editor-snippet: {name} -->\n"
    assert marker in text, f"README.md has no {name} snippet"
    block = text.split(marker, 1)[1]
    assert block.startswith("```"), f"the {name} snippet is not a code block"
    return block.split("\n", 1)[1].split("\n```\n", 1)[0] + "\n"


def _script(path: Path, command: list[str]) -> None:
    quoted = " ".join(f"'{part}'" for part in command)
    path.write_text(f'#!/bin/sh\nexec {quoted} "$@"\n')
    path.chmod(0o755)


@pytest.fixture
def editor_env(tmp_path: Path) -> dict[str, str]:
    """What an editor started by a user has: ``den-lsp`` and ``nil`` on PATH.

    ``den-lsp`` is the installed script beside this interpreter, or one that
    runs the module from the source tree; ``nil`` is ``fake_nix_server.py``.
    HOME and the XDG folders are fresh, so no user config is read.
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    if venv_tool("den-lsp") is None:
        _script(bin_dir / "den-lsp", [sys.executable, "-m", "den_lsp"])
    _script(bin_dir / "nil", [sys.executable, str(HERE / "fake_nix_server.py")])

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO / "server"), env.get("PYTHONPATH")) if p
    )
    env["PATH"] = os.pathsep.join(
        [str(bin_dir), str(Path(sys.executable).parent), env["PATH"]]
    )
    home = tmp_path / "home"
    home.mkdir()
    env["HOME"] = str(home)
    for name in (
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_STATE_HOME",
        "XDG_CACHE_HOME",
    ):
        env[name] = str(home / name.lower())
    return env


@pytest.fixture
def leak_workspace(tmp_path: Path) -> Path:
    """A fresh copy of examples/microvm-guest-leak, free to edit."""
    root = tmp_path / "berg"
    shutil.copytree(EXAMPLES / "microvm-guest-leak", root)
    return root
