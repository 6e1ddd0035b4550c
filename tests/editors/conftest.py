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


@pytest.fixture
def den_lsp_command() -> list[str]:
    """How the editors start den-lsp: the installed script, else the module."""
    script = venv_tool("den-lsp")
    if script is not None:
        return [script]
    return [sys.executable, "-m", "den_lsp"]


@pytest.fixture
def editor_env(tmp_path: Path) -> dict[str, str]:
    """An environment with den-lsp importable and no user editor config."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(REPO / "server"), env.get("PYTHONPATH")) if p
    )
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    home = tmp_path / "home"
    for name in (
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "XDG_STATE_HOME",
        "XDG_CACHE_HOME",
    ):
        env[name] = str(home / name.lower())
    env["HOME"] = str(home)
    home.mkdir()
    return env


@pytest.fixture
def leak_workspace(tmp_path: Path) -> Path:
    """A fresh copy of examples/microvm-guest-leak, free to edit."""
    root = tmp_path / "berg"
    shutil.copytree(EXAMPLES / "microvm-guest-leak", root)
    return root
