"""den-lsp over stdio, started with test instruments inside the server process.

The server runs as ``python -c <bootstrap>``: the bootstrap imports this
module, installs what the test asks for, then calls ``den_lsp.server.serve``
exactly as ``den-lsp serve`` does. Nothing here is part of the package.

Instruments (keyword arguments of ``command``):

- ``audit``: a file to which an audit hook (``sys.addaudithook``) appends one
  JSON line per process, socket, file-open or directory-listing event.
- ``fail_rule``: the name of a rule family (``den_lsp.analysis.<name>``)
  whose ``check`` raises, to prove one broken rule cannot silence the others.
- ``fail_hover``: hover requests raise inside the handler.
- ``introspect``: test-only requests ``denTest/state`` (the server's text of
  a document and a comparison of its project with a fresh analysis) and
  ``denTest/memory`` (the process's resident set size).

``session`` starts such a server for a test and initializes it on a
workspace, with ``XDG_CACHE_HOME`` pointing at the test's own folder.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SERVER_DIR = HERE.parent / "server"

INTROSPECT_STATE = "denTest/state"
INTROSPECT_MEMORY = "denTest/memory"


# -- in the test process ------------------------------------------------------------


def command(**options: Any) -> list[str]:
    """The command line that starts den-lsp with ``options`` installed."""
    code = (
        f"import sys; sys.path.insert(0, {str(HERE)!r}); "
        f"import server_harness; server_harness.main({options!r})"
    )
    # -P: the server starts in the workspace folder, as editors start it, and
    # the current folder must not be searched for modules.
    return [sys.executable, "-P", "-c", code]


def environment(cache: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(SERVER_DIR), env.get("PYTHONPATH")) if p
    )
    env["XDG_CACHE_HOME"] = str(cache)
    # A crash in C code prints the Python stack of every thread on stderr.
    env["PYTHONFAULTHANDLER"] = "1"
    return env


@asynccontextmanager
async def session(
    root: Path | None,
    cache: Path,
    *,
    spec: str = "visual-studio-code",
    capabilities=None,
    initialization_options=None,
    shutdown: bool = True,
    server_command: list[str] | None = None,
    cwd: Path | None = None,
    **options: Any,
):
    """A client connected to an instrumented server, initialized on ``root``.

    ``server_command`` replaces the instrumented one (``options`` are then
    unused); ``cwd`` is the folder the server starts in, as an editor chooses.
    """
    from lsprotocol import types
    from pygls.uris import from_fs_path
    from pytest_lsp import client_capabilities

    from test_server import _make_client

    client = _make_client()
    await client.start_io(
        *(server_command or command(**options)),
        env=environment(cache),
        cwd=str(cwd) if cwd is not None else None,
    )
    try:
        uri = from_fs_path(str(root)) if root is not None else None
        folders = [types.WorkspaceFolder(uri=uri, name="workspace")] if uri else None
        client.initialize_result = await client.initialize_session(
            types.InitializeParams(
                capabilities=capabilities or client_capabilities(spec),
                root_uri=uri,
                workspace_folders=folders,
                initialization_options=initialization_options,
            )
        )
        yield client
        if shutdown:
            await asyncio.wait_for(client.shutdown_session(), 30)
    finally:
        server = client._server
        if server is not None and server.returncode is None:
            # The test failed before the session's end: the process is ended
            # here, or stopping the client would wait for it forever.
            server.terminate()
        await asyncio.wait_for(client.stop(), 30)


async def state(client, uri: str, timeout: float = 30.0) -> dict:
    """The server's view of ``uri`` (see ``_state``), once it has one."""
    deadline = time.monotonic() + timeout
    while True:
        answer = await client.protocol.send_request_async(
            INTROSPECT_STATE, {"uri": uri}
        )
        answer = _plain(answer)
        if answer.get("ready") or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.05)


async def memory(client) -> int:
    """The server's resident set size, in kilobytes."""
    answer = await client.protocol.send_request_async(INTROSPECT_MEMORY, {})
    return int(_plain(answer)["rss_kb"])


async def every_request(client, uri: str, line: int, character: int) -> dict:
    """Send each request den-lsp serves about one place of a document.

    Returns, by method, the result, or the error response's exception: a
    request may fail properly, with an LSP error, but never go unanswered.
    """
    from lsprotocol import types

    document = types.TextDocumentIdentifier(uri=uri)
    at = types.Position(line=line, character=character)
    span = types.Range(start=at, end=at)
    p = client.protocol
    here = {"text_document": document, "position": at}
    requests = {
        types.TEXT_DOCUMENT_HOVER: types.HoverParams(**here),
        types.TEXT_DOCUMENT_COMPLETION: types.CompletionParams(**here),
        types.TEXT_DOCUMENT_DEFINITION: types.DefinitionParams(**here),
        types.TEXT_DOCUMENT_REFERENCES: types.ReferenceParams(
            **here, context=types.ReferenceContext(include_declaration=True)
        ),
        types.TEXT_DOCUMENT_PREPARE_RENAME: types.PrepareRenameParams(**here),
        types.TEXT_DOCUMENT_RENAME: types.RenameParams(**here, new_name="renamed"),
        types.TEXT_DOCUMENT_DOCUMENT_SYMBOL: types.DocumentSymbolParams(
            text_document=document
        ),
        types.WORKSPACE_SYMBOL: types.WorkspaceSymbolParams(query="a"),
        types.TEXT_DOCUMENT_CODE_ACTION: types.CodeActionParams(
            text_document=document,
            range=span,
            context=types.CodeActionContext(diagnostics=[]),
        ),
        types.TEXT_DOCUMENT_CODE_LENS: types.CodeLensParams(text_document=document),
        types.TEXT_DOCUMENT_INLAY_HINT: types.InlayHintParams(
            text_document=document,
            range=types.Range(
                start=types.Position(line=0, character=0),
                end=types.Position(line=min(line + 1, 2**31 - 1), character=0),
            ),
        ),
    }
    answers = {}
    for method, params in requests.items():
        try:
            answers[method] = await asyncio.wait_for(
                p.send_request_async(method, params), 120
            )
        except TimeoutError:
            raise
        except Exception as error:  # an error response, as LSP allows
            answers[method] = error
    return answers


def _plain(value: Any) -> Any:
    """A pygls result object (named tuples, for unknown methods) as plain data."""
    if isinstance(value, (list, tuple)) and hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class BackgroundSession:
    """A ``session`` kept open on an event loop of its own thread.

    For synchronous tests (Hypothesis drives its examples synchronously) that
    talk to one server across many examples: ``run`` runs a coroutine on the
    session's loop and returns its result.
    """

    def __init__(self, root: Path, cache: Path, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._context = session(root, cache, **options)
        self.client = self.run(self._context.__aenter__())

    def run(self, coroutine, timeout: float = 120.0):
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result(timeout)

    def close(self) -> None:
        try:
            self.run(self._context.__aexit__(None, None, None))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)


def read_audit(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


# -- in the server process --------------------------------------------------------------


def main(options: dict[str, Any]) -> None:
    if options.get("tracemalloc"):
        import tracemalloc

        tracemalloc.start(options["tracemalloc"])
    if options.get("audit"):
        _install_audit(options["audit"])
    if options.get("fail_rule"):
        _break_rule_family(options["fail_rule"])

    import den_lsp.server

    create = den_lsp.server.create_server

    def create_server(*args, **kwargs):
        server = create(*args, **kwargs)
        if options.get("introspect"):
            _register_introspection(server)
        if options.get("fail_hover"):
            _break_hover(server)
        return server

    den_lsp.server.create_server = create_server
    den_lsp.server.serve()


# Audit events that start a process or a command.
PROCESS_EVENTS = frozenset(
    {
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.spawn",
        "os.posix_spawn",
        "os.fork",
        "os.forkpty",
        "pty.spawn",
        "os.startfile",
        "webbrowser.open",
    }
)

# Audit events that reach the network (a socket's creation alone is
# audited too, but asyncio's own loop makes a local pair).
NETWORK_EVENTS = frozenset(
    {
        "socket.bind",
        "socket.connect",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "socket.sendto",
        "socket.sendmsg",
        "urllib.Request",
        "http.client.connect",
        "ftplib.connect",
        "smtplib.connect",
    }
)

# Events that start a process, open a connection or touch a file.
_AUDITED = (
    PROCESS_EVENTS
    | NETWORK_EVENTS
    | {
        "open",
        "os.listdir",
        "os.scandir",
        "socket.__new__",
        "ctypes.dlopen",
        "os.symlink",
        "os.remove",
        "os.rename",
        "os.rmdir",
        "os.mkdir",
        "os.chmod",
        "os.truncate",
        "shutil.rmtree",
        "pickle.find_class",
        "marshal.loads",
    }
)


def _install_audit(path: str) -> None:
    # The log is opened before the hook is installed, and written with
    # os.write, which raises no audit event of its own.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    cwd = os.getcwd()

    def describe(value: Any) -> Any:
        if isinstance(value, (bytes, bytearray)):
            return os.fsdecode(bytes(value))
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        if isinstance(value, (str, int, float, bool)) or value is None:
            return value
        if isinstance(value, (list, tuple)):
            return [describe(v) for v in value][:20]
        return type(value).__name__

    def hook(event: str, args: tuple) -> None:
        if event not in _AUDITED:
            return
        if event == "socket.__new__":
            # (socket, family, type, proto): the family says local or network.
            args = tuple(args[1:])
        record = {"event": event, "args": [describe(a) for a in args], "cwd": cwd}
        os.write(fd, (json.dumps(record) + "\n").encode())

    sys.addaudithook(hook)


def _break_rule_family(name: str) -> None:
    import importlib

    family = importlib.import_module(f"den_lsp.analysis.{name}")

    def check(model):
        raise RuntimeError(f"rule family {name} broke (injected by the test)")

    family.check = check


def _break_hover(server) -> None:
    from lsprotocol import types

    def hover(params):
        raise RuntimeError("hover broke (injected by the test)")

    # The registered handler is replaced in place: its options (and so the
    # capability the server announces) stay as they were.
    server.protocol.fm.features[types.TEXT_DOCUMENT_HOVER] = hover


def _register_introspection(server) -> None:
    @server.feature(INTROSPECT_STATE)
    async def introspect_state(ls, params):
        uri = _field(params, "uri")
        document = ls.workspace.text_documents.get(uri)
        text = document.source if document is not None else None
        version = document.version if document is not None else None
        compared = await ls.query(uri, _compare)
        return {
            "ready": compared is not None,
            "text": text,
            "version": version,
            **(compared or {}),
        }

    @server.feature(INTROSPECT_MEMORY)
    def introspect_memory(ls, params):
        import tracemalloc

        # Futures pygls keeps for messages it has not finished with.
        answer = {"rss_kb": 0, "futures": len(ls.protocol._request_futures)}
        if tracemalloc.is_tracing():  # started with the option `tracemalloc`
            answer["traced_kb"] = tracemalloc.get_traced_memory()[0] // 1024
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    answer["rss_kb"] = int(line.split()[1])
        return answer


def _compare(project, rel: str) -> dict:
    """The project's state of ``rel`` against a fresh analysis of the same text."""
    from den_lsp.features.project import Project, analyse_source, loaded_by_import_tree

    state = project.files.get(rel)
    if state is None:
        return {"source": None}
    fresh_state = analyse_source(
        rel, state.source, with_facts=loaded_by_import_tree(rel)
    )
    fresh = Project(project.root, project._overrides)
    for other, other_state in project.files.items():
        fresh.set_source(other, other_state.source)
    findings = project.findings()
    expected = fresh.findings()
    tree = state.tree
    return {
        "source": state.source.decode("utf-8", "replace"),
        "tree_equal": tree is None or nodes(tree.tree) == nodes(fresh_state.tree.tree),
        "facts_equal": state.facts == fresh_state.facts,
        "findings_equal": findings == expected,
        "findings": [
            [f.code, f.span.start_line, f.span.start_character]
            for f in findings.get(rel, [])
        ],
    }


def nodes(tree) -> list[tuple]:
    """Every node of a tree-sitter tree, in order, with its range and errors.

    Walked with a cursor: ``str(node)`` recurses in C, and a tree 20,000
    deep overflows the thread's stack.
    """
    found = []
    cursor = tree.walk()
    while True:
        node = cursor.node
        found.append(
            (node.type, node.start_byte, node.end_byte, node.is_missing, node.is_error)
        )
        if cursor.goto_first_child() or cursor.goto_next_sibling():
            continue
        while cursor.goto_parent():
            if cursor.goto_next_sibling():
                break
        else:
            return found


def _field(params: Any, name: str) -> Any:
    if isinstance(params, dict):
        return params.get(name)
    return getattr(params, name, None)
