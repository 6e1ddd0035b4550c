"""editors/vscode in a real VS Code host: code-server, driven in headless Chromium.

code-server (npm) is VS Code OSS served to a browser; its extension host
runs the packaged extension (editors/vscode/dist/den-lsp.vsix) as VS Code
does, and den-lsp is started by it. ``vscode-host/driver.mjs`` drives
Debian's Chromium through playwright-core, the way a user would: Quick Open,
Go to Line, the mouse over a name, Ctrl+. and the command palette. Every
assertion reads what the workbench shows (the Problems panel, the hover's
rendered markdown, the action menu, the editor's lines and tab) or the file
on disk.

VS Code OSS has no Nix language, so a test-only extension
(``vscode-host/nix-language``) declares ``nix`` for ``*.nix``, as the Nix
IDE extension would. When a step fails, the driver saves a screenshot and
the error names it; the last screen of every run is saved beside it
(``vscode/screenshots/`` in the test's tmp_path).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse
import zipfile
from pathlib import Path

import pytest

from conftest import REPO, missing, venv_tool

HERE = Path(__file__).parent
HOST = HERE / "vscode-host"
CODE_SERVER = HOST / "node_modules" / ".bin" / "code-server"
PLAYWRIGHT = HOST / "node_modules" / "playwright-core"
NIX_LANGUAGE = HOST / "nix-language"
VSIX = REPO / "editors" / "vscode" / "dist" / "den-lsp.vsix"

GUEST_KIND = "modules/guest-kind.nix"
QUICK_FIX = "Mark kind `guest` isolated"

LEAK_MESSAGE = (
    'Kind `guest` is created under `host` scopes (`resolve.to "guest"` at '
    "modules/guest-policies.nix:12) and delivered to `microvm.vms.<name>.config` "
    "by the route at modules/guest-policies.nix:29, but it is not isolated. den "
    "also collects its `nixos` content into the host's own configuration, so "
    "guest-only options break the host's build (e.g. \"option 'microvm.guest' "
    'does not exist"). Add `isolated = true;` to `den.schema.guest`.'
)
LEAK = {
    "severity": "warning",
    "message": LEAK_MESSAGE,
    "source": "den-lsp",
    "code": "den/isolation-leak",
    "position": "[Ln 5, Col 14]",
}

# The first blocks of den-lsp's hover on the kind, as VS Code renders them.
KIND_HOVER = [
    {"tag": "p", "html": "<strong>kind <code>guest</code></strong> — entity"},
    {"tag": "p", "html": "<code>flake › flake-system › host › guest</code>"},
    {
        "tag": "li",
        "html": "entity: yes — <code>isEntity = true</code> (modules/guest-kind.nix:6)",
    },
    {"tag": "li", "html": "isolated: no"},
]

DECLARATION = [
    "  den.schema.guest = {",
    "    isEntity = true;",
    '    parent = "host";',
    "    isolated = true;",
    "  };",
]

# Generous: the first diagnostics wait for the workbench, the extension host,
# den-lsp's start and its index, on a machine other jobs share.
SLOW = 120.0
QUICK = 30.0


class HostError(AssertionError):
    """A driver operation failed; the message names its screenshot."""


class VSCode:
    """The driver process: one request line out, one answer line back."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.answers: queue.Queue[dict | None] = queue.Queue()
        self.sent = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.answers.put(json.loads(line))
        self.answers.put(None)

    def __call__(self, op: str, timeout: float = 3 * QUICK + 10, **args):
        self.sent += 1
        request = {"id": self.sent, "op": op, **args}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            try:
                answer = self.answers.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise HostError(
                    f"{op}: no answer from the driver in {timeout}s"
                ) from None
            if answer is None:
                raise HostError(f"{op}: the driver exited ({self.process.wait()})")
            # An answer to an earlier request that timed out is dropped.
            if answer["id"] == self.sent:
                break
        if not answer["ok"]:
            raise HostError(f"{op}: {answer['error']} (screen: {answer['screenshot']})")
        return answer["result"]

    def wait_for(self, op: str, until, timeout: float = QUICK, **args):
        """Ask ``op`` again until ``until`` holds for its answer; return that answer."""
        deadline = time.monotonic() + timeout
        while True:
            result = self(op, **args)
            if until(result):
                return result
            if time.monotonic() > deadline:
                shot = self("screenshot", name=f"timeout-{op}")
                raise HostError(
                    f"{op} did not change as expected in {timeout}s; "
                    f"last answer {result!r} (screen: {shot})"
                )
            time.sleep(0.25)


def _harness() -> tuple[str, str, str]:
    """node, chromium and den-lsp, or a skip (a failure when required)."""
    machine = platform.machine()
    if machine not in ("x86_64", "aarch64"):
        pytest.skip(
            f"the VS Code host is set up for x86_64 and aarch64 only (this is "
            f"{machine}): scripts/test seeds code-server's ripgrep for those"
        )
    node = shutil.which("node")
    if node is None:
        missing("no node: the VS Code host needs Node 20")
    if not CODE_SERVER.exists() or not PLAYWRIGHT.is_dir():
        missing(
            "the VS Code host is not installed: npm ci in tests/editors/vscode-host "
            "(scripts/test does it, with the Debian packages it needs)"
        )
    chromium = shutil.which("chromium")
    if chromium is None:
        missing("no chromium: apt-get install chromium")
    if not VSIX.is_file():
        missing("no .vsix: cd editors/vscode && npm ci && npm run package")
    den_lsp = venv_tool("den-lsp")
    if den_lsp is None:
        missing("no den-lsp: pip install -e . in this environment")
    return node, chromium, den_lsp


def _pack(folder: Path, vsix: Path) -> Path:
    """A folder as a .vsix: the zip VS Code installs, with it under extension/."""
    with zipfile.ZipFile(vsix, "w") as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, f"extension/{file.relative_to(folder)}")
    return vsix


def _install(root: Path, den_lsp: str, env: dict[str, str]) -> list[str]:
    """A fresh VS Code profile with both extensions; the options that select it."""
    user_data = root / "user-data"
    extensions = root / "extensions"
    settings = user_data / "User" / "settings.json"
    settings.parent.mkdir(parents=True)
    settings.write_text(
        json.dumps(
            {
                "den.server.path": den_lsp,
                "workbench.startupEditor": "none",
                "workbench.tips.enabled": False,
                "extensions.ignoreRecommendations": True,
                "extensions.autoCheckUpdates": False,
                "extensions.autoUpdate": False,
                "telemetry.telemetryLevel": "off",
                "update.mode": "none",
                # code-server saves a second after each change by default;
                # desktop VS Code does not, and the test saves as a step.
                "files.autoSave": "off",
            },
            indent=2,
        )
    )
    (root / "config.yaml").write_text("")
    profile = [
        "--config",
        str(root / "config.yaml"),
        "--user-data-dir",
        str(user_data),
        "--extensions-dir",
        str(extensions),
    ]
    nix_language = _pack(NIX_LANGUAGE, root / "nix-language.vsix")
    installed = subprocess.run(
        [
            str(CODE_SERVER),
            *profile,
            "--install-extension",
            str(VSIX),
            "--install-extension",
            str(nix_language),
        ],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    listed = subprocess.run(
        [str(CODE_SERVER), *profile, "--list-extensions"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    ).stdout.split()
    assert sorted(listed) == ["den-lsp-tests.nix-language", "den-lsp.den-lsp"]
    return profile


def _serve(profile: list[str], log: Path, env: dict[str, str]):
    """Start code-server on a free port of 127.0.0.1; its process and address."""
    with log.open("w") as out:
        server = subprocess.Popen(
            [
                str(CODE_SERVER),
                *profile,
                "--bind-addr",
                "127.0.0.1:0",
                "--auth",
                "none",
                "--disable-telemetry",
                "--disable-update-check",
                "--disable-workspace-trust",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(
            r"HTTP server listening on (http://127\.0\.0\.1:\d+/)", log.read_text()
        )
        if found:
            return server, found[1]
        if server.poll() is not None:
            break
        time.sleep(0.1)
    _stop(server)
    pytest.fail(f"code-server did not start:\n{log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    """End a process started in its own session, and what it started there."""
    _signal_group(process, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    # The extension host and den-lsp may outlive code-server itself.
    _signal_group(process, signal.SIGKILL)
    process.wait(timeout=15)


def _signal_group(process: subprocess.Popen, number: int) -> None:
    try:
        os.killpg(process.pid, number)
    except ProcessLookupError:
        pass


@pytest.fixture
def vscode(tmp_path, editor_env, leak_workspace):
    """code-server with the extension, and the workspace open in Chromium."""
    node, chromium, den_lsp = _harness()
    root = tmp_path / "vscode"
    root.mkdir()
    screenshots = root / "screenshots"
    profile = _install(root, den_lsp, editor_env)
    server, address = _serve(profile, root / "code-server.log", editor_env)
    driver = None
    try:
        config = {
            "chromium": chromium,
            "profile": str(root / "chromium"),
            "screenshots": str(screenshots),
        }
        with (root / "driver.log").open("w") as errors:
            driver = subprocess.Popen(
                [node, str(HOST / "driver.mjs"), json.dumps(config)],
                cwd=HOST,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
                env=editor_env,
                start_new_session=True,
            )
        host = VSCode(driver)
        url = f"{address}?{urllib.parse.urlencode({'folder': str(leak_workspace)})}"
        host("open", timeout=SLOW + 30, url=url)
        yield host
        with contextlib.suppress(HostError):
            host("screenshot", name="final")
            host("quit")
    finally:
        if driver is not None:
            driver.stdin.close()
            try:
                driver.wait(timeout=20)
            except subprocess.TimeoutExpired:
                _stop(driver)
        _stop(server)


def test_finding_hover_quick_fix_and_scope_graph(vscode, leak_workspace):
    source = leak_workspace / GUEST_KIND
    before = source.read_text()

    # 1. Open the file with Quick Open: it opens as a nix document.
    vscode("quickOpen", name="guest-kind.nix")
    editor = vscode.wait_for("activeEditor", lambda shown: len(shown["lines"]) > 20)
    assert (editor["tab"], editor["language"]) == ("guest-kind.nix", "Nix")
    assert editor["lines"][4] == "  den.schema.guest = {"

    # 2. den-lsp's finding in the Problems panel (Ctrl+Shift+M), at line 5.
    vscode("press", keys=["Control+Shift+M"])
    problems = vscode.wait_for("problems", lambda rows: bool(rows), timeout=SLOW)
    assert problems == [LEAK]

    # 3. The mouse on the kind's name: the finding, then den-lsp's hover,
    # rendered from its markdown.
    vscode("press", keys=["Control+1"])
    vscode("goTo", line=5, column=16)
    hover = vscode("hoverAtCursor")
    assert hover["diagnostics"] == [f"{LEAK_MESSAGE}den-lsp(den/isolation-leak)"]
    kind = hover["markdown"][0]
    assert kind[: len(KIND_HOVER)] == KIND_HOVER
    assert {"tag": "p", "html": "Declared at modules/guest-kind.nix:5"} in kind
    vscode("unhover")

    # 4. Ctrl+. on the name offers the quick fix; choosing it edits the
    # document, and saving writes exactly the new line.
    vscode("goTo", line=5, column=14)
    vscode("press", keys=["Control+."])
    assert QUICK_FIX in vscode("menu")
    vscode("choose", label=QUICK_FIX)
    editor = vscode.wait_for(
        "activeEditor",
        lambda shown: shown["dirty"] and "    isolated = true;" in shown["lines"],
    )
    assert editor["lines"][4:9] == DECLARATION
    assert source.read_text() == before

    vscode("press", keys=["Control+S"])
    vscode.wait_for("activeEditor", lambda shown: not shown["dirty"])
    lines = before.splitlines(keepends=True)
    assert lines[6] == '    parent = "host";\n'
    assert source.read_text() == "".join(
        [*lines[:7], "    isolated = true;\n", *lines[7:]]
    )
    assert vscode.wait_for("problems", lambda rows: rows == []) == []

    # 5. "den: Show scope graph" from the command palette: a read-only
    # document with den-lsp's scope graph of the saved workspace.
    vscode("runCommand", label="den: Show scope graph")
    graph = vscode.wait_for(
        "activeEditor",
        lambda shown: (
            shown["tab"].startswith("Scope graph of")
            and any(line.startswith("kind guest") for line in shown["lines"])
        ),
    )
    assert graph["tab"] == f"Scope graph of {leak_workspace.name}.txt, preview"
    guest = next(
        i for i, line in enumerate(graph["lines"]) if line.startswith("kind guest")
    )
    assert graph["lines"][guest : guest + 3] == [
        "kind guest [entity, isolated]",
        "  scope chain: flake › flake-system › host › guest",
        "  entity: yes   isolated: yes",
    ]
    vscode("type", text="x")
    assert vscode("editorMessage") == "Cannot edit in read-only editor"
    assert vscode("activeEditor")["lines"] == graph["lines"]
