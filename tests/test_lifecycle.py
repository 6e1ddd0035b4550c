"""Lifecycle: how the server ends, and what a restart finds in its cache.

- ``shutdown`` then ``exit`` ends the process with status 0, ``exit`` alone
  with status 1, and a client that closes the connection ends it too, at
  once, even while a long analysis runs and analysis processes work for it;
- a restart reads the cache the last run wrote and finds exactly what an
  analysis without the cache finds; a server killed at any moment of its
  cache write leaves a cache that reads back, or none;
- a cache that is corrupt, or planted to run code when it is read, is only
  a miss: nothing in it runs. Every test has ``XDG_CACHE_HOME`` in its own
  folder.
"""

from __future__ import annotations

import asyncio
import os
import pickle
import shutil
import signal
import time
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.uris import from_fs_path

from den_lsp.features import cache as facts_cache
from den_lsp.features.project import Project
from server_harness import environment, session
from test_server import FIXTURE, codes, published

SCHEMA = "modules/schema.nix"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    shutil.copytree(FIXTURE, root)
    return root


async def _ended(server, seconds: float = 10) -> int:
    return await asyncio.wait_for(server.wait(), seconds)


async def test_shutdown_then_exit_ends_with_status_0(root, tmp_path):
    async with session(root, tmp_path / "cache", shutdown=False) as client:
        await client.shutdown_async(None)
        client.exit(None)
        assert await _ended(client._server) == 0


async def test_exit_without_shutdown_ends_with_status_1(root, tmp_path):
    async with session(root, tmp_path / "cache", shutdown=False) as client:
        uri = from_fs_path(str(root / SCHEMA))
        _open(client, uri, (root / SCHEMA).read_text())
        await published(client, uri, version=1)
        client.exit(None)
        assert await _ended(client._server) == 1


def _open(client, uri: str, text: str) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="nix", version=1, text=text
            )
        )
    )


def _children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def test_a_closed_connection_ends_the_process(root, tmp_path):
    async with session(root, tmp_path / "cache", shutdown=False) as client:
        client._server.stdin.close()
        assert await _ended(client._server) == 1


@pytest.mark.slow
async def test_a_closed_connection_ends_a_busy_process_and_its_helpers(tmp_path):
    # Enough files for the analysis to start processes of its own, and a
    # module whose analysis takes seconds.
    root = tmp_path / "workspace"
    modules = root / "modules"
    modules.mkdir(parents=True)
    for i in range(3000):
        (modules / f"a{i}.nix").write_text(
            f"{{ den, ... }}: {{ den.aspects.a{i}.includes = [ den.aspects.a{i + 1} ]; }}\n"
        )
    async with session(root, tmp_path / "cache", shutdown=False) as client:
        server = client._server
        deadline = time.monotonic() + 30
        helpers: set[int] = set()
        while not helpers and time.monotonic() < deadline:
            helpers = _children(server.pid)
            await asyncio.sleep(0.02)
        server.stdin.close()
        closed = time.monotonic()
        assert await _ended(server) == 1
        assert time.monotonic() - closed < 5
        assert helpers, "the analysis started no process to end"
        while any(_alive(p) for p in helpers) and time.monotonic() < closed + 10:
            await asyncio.sleep(0.05)
        assert [p for p in helpers if _alive(p)] == []


# -- the cache across restarts -------------------------------------------------------------


def _uncached_findings(root: Path) -> dict:
    project = Project(root)
    project.use_cache = False
    project.index()
    return {
        rel: [(f.code, f.span.start_line, f.span.start_character) for f in items]
        for rel, items in project.findings().items()
    }


def _cached_findings(root: Path, cache: Path, monkeypatch) -> tuple[dict, int]:
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    project = Project(root)
    project.index()
    found = {
        rel: [(f.code, f.span.start_line, f.span.start_character) for f in items]
        for rel, items in project.findings().items()
    }
    return found, len(project.files)


async def test_a_restart_reads_the_cache_and_finds_the_same(
    root, tmp_path, monkeypatch
):
    cache = tmp_path / "cache"
    expected = _uncached_findings(root)
    for run in range(3):
        async with session(root, cache) as client:
            uri = from_fs_path(str(root / SCHEMA))
            # An edit that is never saved must not reach the cache.
            text = (root / SCHEMA).read_text()
            _open(
                client,
                uri,
                text.replace("isEntity = true;", "isEntity = true; isolated = true;"),
            )
            assert codes(await published(client, uri, version=1)) == []
            logged = [m.message for m in client.log_messages if "indexed" in m.message]
            if run:
                assert any("from the cache" in m for m in logged), logged
    found, _ = _cached_findings(root, cache, monkeypatch)
    assert found == expected


@pytest.mark.slow
async def test_a_server_killed_during_its_cache_write_leaves_a_readable_cache(
    tmp_path, monkeypatch
):
    root = tmp_path / "workspace"
    modules = root / "modules"
    modules.mkdir(parents=True)
    for i in range(600):
        (modules / f"h{i}.nix").write_text(
            f"{{ den.hosts.x86_64-linux.h{i} = {{ }}; }}\n"
        )
    expected = _uncached_findings(root)
    cache = tmp_path / "cache"
    client_cache = cache / "den-lsp"

    # Killed at ever later moments, from before the first write to after it.
    for delay in (0.2, 0.5, 0.8, 1.1, 1.5, 2.0, 3.0):
        async with session(root, cache, shutdown=False) as client:
            await asyncio.sleep(delay)
            client._server.send_signal(signal.SIGKILL)
            await _ended(client._server)
        for pack in client_cache.glob("*.pack"):
            assert isinstance(facts_cache._read_pack(pack), (dict, type(None)))
        found, files = _cached_findings(root, cache, monkeypatch)
        assert files == 600
        assert found == expected, delay

    # Files of writes cut short do not pile up.
    leftovers = list(client_cache.glob(".pack-*.tmp"))
    assert len(leftovers) <= 1, leftovers


class _Planted:
    """A pickle that runs a command when it is read (if the reader lets it)."""

    def __init__(self, mark: Path):
        self.mark = mark

    def __reduce__(self):
        return (os.system, (f"touch {self.mark}",))


@pytest.mark.parametrize(
    "damage", ["random bytes", "truncated", "planted pack", "planted entry"]
)
def test_a_corrupt_or_planted_cache_is_only_a_miss(damage, root, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    mark = tmp_path / "the-cache-ran-code"
    expected = _uncached_findings(root)
    _cached_findings(root, cache, monkeypatch)  # writes the cache
    packs = facts_cache.FactsCache(root, cache / "den-lsp")
    good = packs.path.read_bytes()

    if damage == "random bytes":
        packs.path.write_bytes(os.urandom(4096))
        packs.findings_path.write_bytes(os.urandom(64))
    elif damage == "truncated":
        packs.path.write_bytes(good[: len(good) // 2])
        packs.findings_path.write_bytes(packs.findings_path.read_bytes()[:10])
    elif damage == "planted pack":
        planted = {
            "magic": facts_cache._MAGIC,
            "code": facts_cache.code_fingerprint(),
            "files": _Planted(mark),
        }
        packs.path.write_bytes(pickle.dumps(planted))
        packs.findings_path.write_bytes(pickle.dumps({"workspace": _Planted(mark)}))
    else:
        # A well-formed pack whose entries, read later one by one, are not.
        pack = facts_cache._read_pack(packs.path)
        pack["files"] = {k: pickle.dumps(_Planted(mark)) for k in pack["files"]}
        packs.path.write_bytes(pickle.dumps(pack))
        packs.findings_path.unlink()

    found, _ = _cached_findings(root, cache, monkeypatch)
    assert found == expected
    assert not mark.exists()
    # The cache was written again, and reads back.
    assert facts_cache._read_pack(packs.path) is not None


def test_the_cache_reader_refuses_everything_but_den_lsp_data():
    from den_lsp.analysis.findings import Severity

    assert facts_cache.decode(pickle.dumps(Severity.ERROR)) is Severity.ERROR
    for value in (os.system, Path("/etc"), print, pickle.loads, _Planted(Path("/x"))):
        assert facts_cache.decode(pickle.dumps(value)) is None
    # A den-lsp module that is not data: its functions are refused too.
    assert facts_cache.decode(pickle.dumps(facts_cache.cache_root)) is None


def test_environment_of_the_tests_keeps_the_cache_in_their_folder(tmp_path):
    assert environment(tmp_path)["XDG_CACHE_HOME"] == str(tmp_path)


def _take_the_terminal() -> None:
    import fcntl
    import termios

    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _in_a_terminal(
    arguments: list[str], cwd: Path, env: dict, wait_for: bytes, delay: float
):
    """Run den-lsp on a pseudo-terminal; Ctrl-C ``delay`` s after ``wait_for``."""
    import pty
    import subprocess
    import sys

    leader, follower = pty.openpty()
    den_lsp = str(Path(sys.executable).parent / "den-lsp")
    process = subprocess.Popen(
        [den_lsp, *arguments],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=cwd,
        env=env,
        start_new_session=True,  # the terminal is its controlling terminal
        preexec_fn=_take_the_terminal,
    )
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + 30
    while wait_for not in seen and time.monotonic() < deadline:
        try:
            seen += os.read(leader, 4096)
        except OSError:
            break
    time.sleep(delay)
    os.write(leader, b"\x03")  # what the terminal sends for Ctrl-C
    status = process.wait(timeout=30)
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    return status, seen.decode(errors="replace")


@pytest.mark.parametrize("delay", [0, 2], ids=["while it starts", "once it serves"])
@pytest.mark.parametrize("arguments", [[], ["serve"]], ids=["den-lsp", "den-lsp serve"])
def test_ctrl_c_in_a_terminal_ends_the_server_at_once(arguments, delay, tmp_path):
    # The message says the server reads the terminal; at 0 s it may still be
    # importing, at 2 s it waits in its loop.
    status, output = _in_a_terminal(
        arguments,
        tmp_path,
        environment(tmp_path / "cache"),
        b"starting the language",
        delay,
    )
    assert status == 130, output
    assert "Traceback" not in output and "Fatal Python error" not in output
    assert output.rstrip().endswith("den-lsp: interrupted"), output
