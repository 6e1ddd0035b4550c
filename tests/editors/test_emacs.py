"""den-lsp through eglot in a real Emacs (Debian's emacs-nox and elpa-eglot).

Emacs runs in batch mode with ``eglot_test.el``: README.md's eglot snippet
as the init file, ``M-x eglot`` on an example file, then flymake's
diagnostics as JSON. The second test uses README.md's snippet that runs
den-lsp beside nil through the rassumfrassum multiplexer, since eglot runs
one server per buffer; ``nil`` on the test's PATH is a stand-in
(``fake_nix_server.py``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import missing, readme_snippet, venv_tool

HERE = Path(__file__).parent
GUEST_KIND = "modules/guest-kind.nix"

LEAK_TEXT = (
    "den-lsp [den/isolation-leak]: Kind `guest` is created under `host` scopes "
    '(`resolve.to "guest"` at modules/guest-policies.nix:12) and delivered to '
    "`microvm.vms.<name>.config` by the route at modules/guest-policies.nix:29, "
    "but it is not isolated. den also collects its `nixos` content into the "
    "host's own configuration, so guest-only options break the host's build "
    "(e.g. \"option 'microvm.guest' does not exist\"). Add `isolated = true;` to "
    "`den.schema.guest`."
)
LEAK = {
    "line": 5,
    "column": 13,
    "end-column": 18,
    "type": "eglot-warning",
    "text": LEAK_TEXT,
}
FAKE_NIL = {
    "line": 1,
    "column": 0,
    "end-column": 1,
    "type": "eglot-note",
    "text": "nil: fake nil: this file was read",
}


@pytest.fixture
def emacs() -> str:
    emacs = shutil.which("emacs")
    if emacs is None:
        missing("no emacs: apt-get install emacs-nox elpa-eglot")
    found = subprocess.run(
        [emacs, "--batch", "-q", "--eval", '(princ (locate-library "eglot"))'],
        check=False,
        capture_output=True,
        text=True,
    ).stdout
    if not found.strip() or found.strip() == "nil":
        missing("Emacs has no eglot: apt-get install elpa-eglot")
    return emacs


def git_workspace(root: Path) -> Path:
    """The example as a git checkout: eglot's project root is the VC root."""
    if shutil.which("git") is not None:
        subprocess.run(["git", "init", "-q", str(root)], check=True)
    else:
        (root / ".git").mkdir()
    return root


def run_eglot(emacs, env, workspace: Path, count: int, snippet: str) -> dict:
    init = workspace.parent / "init.el"
    init.write_text(readme_snippet(snippet))
    result = subprocess.run(
        [
            emacs,
            "--batch",
            "-q",
            "-l",
            str(HERE / "eglot_test.el"),
            str(count),
            str(workspace / GUEST_KIND),
            str(init),
        ],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_eglot_shows_den_findings_in_flymake(emacs, editor_env, leak_workspace):
    workspace = git_workspace(leak_workspace)

    shown = run_eglot(emacs, editor_env, workspace, 1, "eglot")

    assert shown == {
        "server": ["den-lsp", "serve"],
        "root": f"{workspace}/",
        "diagnostics": [LEAK],
    }


def test_eglot_beside_nil_through_rass(emacs, editor_env, leak_workspace):
    if venv_tool("rass") is None:
        missing("no rass: pip install rassumfrassum")
    workspace = git_workspace(leak_workspace)

    shown = run_eglot(emacs, editor_env, workspace, 2, "eglot-rass")

    assert shown == {
        "server": ["rass", "--", "nil", "--", "den-lsp", "serve"],
        "root": f"{workspace}/",
        "diagnostics": [FAKE_NIL, LEAK],
    }
