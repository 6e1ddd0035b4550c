"""The editor plugins' fallback lists of rule codes are den-lsp's own.

Both plugins ask `den-lsp explain` for the codes when they offer them; the
lists in their source are what they offer when that fails (an older
den-lsp), so they must not drift from the server's registry.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from conftest import REPO
from den_lsp.analysis.codes import CODES

# (file, the text that opens the list, the text that closes it)
LISTS = {
    "vscode": (
        REPO / "editors/vscode/src/cli.ts",
        "export const KNOWN_CODES = [",
        "];",
    ),
    "nvim": (REPO / "editors/nvim/lua/den_lsp/init.lua", "M.codes = {", "}"),
}


def _listed(name: str) -> list[str]:
    path, opening, closing = LISTS[name]
    text = path.read_text(encoding="utf-8")
    assert text.count(opening) == 1, f"{path} has no single {opening!r}"
    body = text.split(opening, 1)[1].split(closing, 1)[0]
    return re.findall(r'"(den/[\w-]+)"', body)


@pytest.mark.parametrize("name", sorted(LISTS))
def test_fallback_codes_are_den_lsps(name):
    assert _listed(name) == list(CODES)


def test_den_lsp_explain_lists_every_code_first_on_its_line():
    # What both plugins read: a line per rule, the code first, then spaces.
    listing = subprocess.run(
        [sys.executable, "-m", "den_lsp", "explain"],
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(REPO / "server"), "PATH": "/usr/bin:/bin"},
    ).stdout
    codes = [m[1] for m in re.finditer(r"^(den/[\w-]+)\s", listing, re.MULTILINE)]
    assert codes == list(CODES)
