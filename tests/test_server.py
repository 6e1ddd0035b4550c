"""End-to-end tests of ``den-lsp serve`` through a real LSP client.

Each test starts the server in a subprocess on a fresh copy of
``fixtures/server/microvm``: a host policy resolves a ``guest`` kind under
every host and delivers it with a route into ``microvm.vms.<name>.config``,
but ``den.schema.guest`` (in ``modules/schema.nix``) is not isolated. Every
test runs once with VS Code's client capabilities and once with Neovim's
(which prefers UTF-8 positions and has no dynamic registration).

pytest-lsp fails a test on anything the server writes to stdout that is not
protocol, so every test also checks that logging stays off stdout.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.protocol import default_converter
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

HERE = Path(__file__).parent
FIXTURE = HERE / "fixtures" / "server" / "microvm"
SERVER_DIR = HERE.parent / "server"
TIMEOUT = 15.0

SCHEMA = "modules/schema.nix"
GUESTS = "modules/guests.nix"

LEAK_MESSAGE = (
    "Kind `guest` is created under `host` scopes "
    '(`resolve.to "guest"` at modules/guests.nix:11) and delivered to '
    "`microvm.vms.<name>.config` by the route at modules/guests.nix:17, but it is "
    "not isolated."
)


def _server_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(SERVER_DIR), env.get("PYTHONPATH")) if p
    )
    return env


def _record_diagnostics(client: LanguageClient, params: types.PublishDiagnosticsParams):
    client.diagnostics[params.uri] = params.diagnostics
    client.published.setdefault(params.uri, []).append(params)


def _record_registration(client: LanguageClient, params: types.RegistrationParams):
    client.registrations.extend(params.registrations)


def _make_client() -> LanguageClient:
    """pytest-lsp's client, also keeping every publication and registration."""
    client = LanguageClient(converter_factory=default_converter)
    client.published = {}
    client.registrations = []
    register_lsp_features(
        client,
        {
            **DEFAULT_CLIENT_FEATURES,
            types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS: _record_diagnostics,
            types.CLIENT_REGISTER_CAPABILITY: _record_registration,
        },
    )
    return client


CONFIG = ClientServerConfig(
    server_command=[sys.executable, "-c", "from den_lsp.server import serve; serve()"],
    server_env=_server_env(),
    client_factory=_make_client,
)


@pytest_lsp.fixture(config=CONFIG, params=["visual-studio-code", "neovim"])
async def client(lsp_client: LanguageClient, request, tmp_path: Path):
    """A client initialized on a copy of the fixture workspace.

    ``@pytest.mark.init_options(...)`` sets initializationOptions,
    ``@pytest.mark.client_settings(...)`` the client's ``den`` configuration,
    and ``@pytest.mark.no_root`` starts the session without a workspace folder.
    """
    root = tmp_path / "workspace"
    shutil.copytree(FIXTURE, root)

    if (marker := request.node.get_closest_marker("client_settings")) is not None:
        lsp_client.set_configuration(marker.args[0], section="den")
    init_options = None
    if (marker := request.node.get_closest_marker("init_options")) is not None:
        init_options = marker.args[0]

    uri = from_fs_path(str(root))
    folders = [types.WorkspaceFolder(uri=uri, name="workspace")]
    if request.node.get_closest_marker("no_root") is not None:
        uri, folders = None, None
    lsp_client.initialize_result = await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities(request.param),
            root_uri=uri,
            workspace_folders=folders,
            initialization_options=init_options,
        )
    )
    yield
    await lsp_client.shutdown_session()


async def _start(client: LanguageClient, root: Path, spec: str = "visual-studio-code"):
    shutil.copytree(FIXTURE, root)
    uri = from_fs_path(str(root))
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities(spec),
            root_uri=uri,
            workspace_folders=[types.WorkspaceFolder(uri=uri, name="workspace")],
        )
    )


def _cli_config(*arguments: str) -> ClientServerConfig:
    return ClientServerConfig(
        server_command=[sys.executable, "-m", "den_lsp", *arguments],
        server_env=_server_env(),
        client_factory=_make_client,
    )


@pytest_lsp.fixture(config=_cli_config("serve"))
async def cli_client(lsp_client: LanguageClient, tmp_path: Path):
    """The server as ``den-lsp serve`` starts it, with the CLI's default log level."""
    await _start(lsp_client, tmp_path / "workspace")
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=_cli_config("--log-level", "debug", "serve"))
async def debug_client(lsp_client: LanguageClient, tmp_path: Path):
    """The server logging everything, pygls' per-message records included."""
    await _start(lsp_client, tmp_path / "workspace")
    yield
    await lsp_client.shutdown_session()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "workspace"


# -- helpers ---------------------------------------------------------------------


def uri_of(root: Path, rel: str) -> str:
    return from_fs_path(str(root / rel))


def open_document(client: LanguageClient, root: Path, rel: str) -> str:
    uri = uri_of(root, rel)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri,
                language_id="nix",
                version=1,
                text=(root / rel).read_text(encoding="utf-8"),
            )
        )
    )
    return uri


def change(
    client: LanguageClient,
    uri: str,
    version: int,
    start: tuple[int, int],
    end: tuple[int, int],
    text: str,
) -> None:
    """Send one incremental edit: replace ``start``..``end`` by ``text``."""
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(
                uri=uri, version=version
            ),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(
                        start=types.Position(line=start[0], character=start[1]),
                        end=types.Position(line=end[0], character=end[1]),
                    ),
                    text=text,
                )
            ],
        )
    )


ANY = object()


async def published(
    client: LanguageClient,
    uri: str,
    *,
    version: int | None | object = ANY,
    after: int = 0,
) -> types.PublishDiagnosticsParams:
    """The first publication for ``uri`` after the ``after``-th one.

    With ``version``, the first one for that document version (``None``: the
    one sent when the document was closed).
    """
    deadline = time.monotonic() + TIMEOUT
    while True:
        for params in client.published.get(uri, [])[after:]:
            if version is ANY or params.version == version:
                return params
        if client.error is not None:
            raise AssertionError(f"the server failed: {client.error}")
        if time.monotonic() > deadline:
            seen = client.published.get(uri, [])
            raise AssertionError(f"no diagnostics for {uri} (v{version}); got {seen}")
        await asyncio.sleep(0.01)


def count(client: LanguageClient, uri: str) -> int:
    return len(client.published.get(uri, []))


def codes(params: types.PublishDiagnosticsParams) -> list[str]:
    return [d.code for d in params.diagnostics]


def span(diagnostic: types.Diagnostic) -> tuple[tuple[int, int], tuple[int, int]]:
    r = diagnostic.range
    return (r.start.line, r.start.character), (r.end.line, r.end.character)


# -- tests -------------------------------------------------------------------------


async def test_publishes_isolation_leak_for_opened_document(client, root):
    uri = open_document(client, root, SCHEMA)

    params = await published(client, uri, version=1)

    assert len(params.diagnostics) == 1
    diagnostic = params.diagnostics[0]
    assert diagnostic.code == "den/isolation-leak"
    assert diagnostic.severity == types.DiagnosticSeverity.Warning
    assert diagnostic.source == "den-lsp"
    # The kind's name in `den.schema.guest`, line 2 of schema.nix.
    assert span(diagnostic) == ((1, 13), (1, 18))
    assert diagnostic.message.startswith(LEAK_MESSAGE)
    assert diagnostic.message.endswith("Add `isolated = true;` to `den.schema.guest`.")
    assert diagnostic.data == [
        {
            "title": "Mark kind `guest` isolated",
            "safe": True,
            "edits": [
                {
                    "path": SCHEMA,
                    "uri": uri,
                    "range": {
                        "start": {"line": 2, "character": 20},
                        "end": {"line": 2, "character": 20},
                    },
                    "newText": "\n    isolated = true;",
                }
            ],
        }
    ]


async def test_positions_are_utf16_whatever_the_client_prefers(client, root):
    # Neovim's capabilities list UTF-8 first; den-lsp still answers UTF-16.
    encoding = client.initialize_result.capabilities.position_encoding
    assert encoding == types.PositionEncodingKind.Utf16
    uri = open_document(client, root, SCHEMA)
    await published(client, uri, version=1)

    # A crab is two UTF-16 code units (and four UTF-8 bytes).
    change(client, uri, 2, (1, 0), (1, 0), "/*🦀*/ ")

    (diagnostic,) = (await published(client, uri, version=2)).diagnostics
    assert span(diagnostic) == ((1, 20), (1, 25))


async def test_edit_that_isolates_the_kind_clears_the_diagnostic(client, root):
    uri = open_document(client, root, SCHEMA)
    opened = await published(client, uri, version=1)
    (edit,) = opened.diagnostics[0].data[0]["edits"]
    at = (edit["range"]["start"]["line"], edit["range"]["start"]["character"])

    # Apply the fix the diagnostic carries, as an incremental change.
    change(client, uri, 2, at, at, edit["newText"])

    assert codes(await published(client, uri, version=2)) == []


async def test_rapid_edits_publish_for_the_latest_version(client, root):
    uri = open_document(client, root, SCHEMA)
    await published(client, uri, version=1)
    seen = count(client, uri)

    # Type `isolated = true;` one character at a time, faster than the debounce.
    text = "\n    isolated = true;"
    line, character = 2, 20
    for number, char in enumerate(text):
        change(client, uri, 2 + number, (line, character), (line, character), char)
        if char == "\n":
            line, character = line + 1, 0
        else:
            character += 1
    last = 1 + len(text)

    final = await published(client, uri, version=last)
    assert codes(final) == []
    # Debouncing folded the burst: far fewer publications than keystrokes.
    assert count(client, uri) - seen < len(text)


async def test_edit_in_one_file_updates_diagnostics_of_another(client, root):
    schema = open_document(client, root, SCHEMA)
    guests = open_document(client, root, GUESTS)
    assert codes(await published(client, schema, version=1)) == ["den/isolation-leak"]
    assert codes(await published(client, guests, version=1)) == []

    # Drop `appendToParent = true;` from the delivery route (line 27).
    change(client, guests, 2, (26, 0), (27, 0), "")
    assert codes(await published(client, guests, version=2)) == []
    before = count(client, guests)

    # Isolating the guest kind makes the route, in the other file, drop its result.
    change(client, schema, 2, (2, 20), (2, 20), "\n    isolated = true;")

    assert codes(await published(client, schema, version=2)) == []
    update = await published(client, guests, after=before)
    assert update.version == 2
    assert codes(update) == ["den/delivery-dropped"]
    (dropped,) = update.diagnostics
    assert dropped.severity == types.DiagnosticSeverity.Warning
    assert span(dropped) == ((16, 7), (16, 12))
    assert dropped.message.startswith(
        "This route fires inside isolated kind `guest` (policy `deliver-guest`)"
    )

    # Undoing the isolation takes the other file's diagnostic away again.
    before = count(client, guests)
    change(client, schema, 3, (2, 20), (3, 20), "")
    assert codes(await published(client, schema, version=3)) == ["den/isolation-leak"]
    assert codes(await published(client, guests, after=before)) == []


async def test_syntax_error_mid_edit_is_reported_then_cleared(client, root):
    uri = open_document(client, root, SCHEMA)
    await published(client, uri, version=1)

    # Delete the `;` after `isEntity = true`.
    change(client, uri, 2, (2, 19), (2, 20), "")
    broken = await published(client, uri, version=2)
    syntax = [d for d in broken.diagnostics if d.code == "den/syntax"]
    assert len(syntax) == 1
    assert syntax[0].severity == types.DiagnosticSeverity.Error
    assert span(syntax[0]) == ((2, 19), (2, 19))

    change(client, uri, 3, (2, 19), (2, 19), ";")
    fixed = await published(client, uri, version=3)
    assert codes(fixed) == ["den/isolation-leak"]


async def test_garbage_input_does_not_stop_the_server(client, root):
    uri = open_document(client, root, SCHEMA)
    await published(client, uri, version=1)

    garbage = "\x01{{{ ''${ \"\\u{d800} 🦀 let in in = ; |> <| ${"
    change(client, uri, 2, (0, 0), (4, 1), garbage)
    mangled = await published(client, uri, version=2)
    assert "den/syntax" in codes(mangled)

    # An edit far past the end of the text is clamped, not fatal.
    change(client, uri, 3, (99, 0), (99, 0), "\n")
    await published(client, uri, version=3)

    # The server still follows edits: back to the original text.
    original = (root / SCHEMA).read_text(encoding="utf-8")
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=4),
            content_changes=[
                types.TextDocumentContentChangeWholeDocument(text=original)
            ],
        )
    )
    assert codes(await published(client, uri, version=4)) == ["den/isolation-leak"]


async def test_close_clears_diagnostics_and_rereads_the_disk(client, root):
    schema = open_document(client, root, SCHEMA)
    guests = open_document(client, root, GUESTS)
    await published(client, schema, version=1)
    change(client, guests, 2, (26, 0), (27, 0), "")
    await published(client, guests, version=2)
    before = count(client, guests)
    change(client, schema, 2, (2, 20), (2, 20), "\n    isolated = true;")
    assert codes(await published(client, guests, after=before)) == [
        "den/delivery-dropped"
    ]
    before = count(client, guests)

    # Closing the unsaved schema puts the file on disk (not isolated) back.
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=schema)
        )
    )

    assert codes(await published(client, schema, version=None)) == []
    assert codes(await published(client, guests, after=before)) == []


async def test_watched_file_change_on_disk_is_read(client, root):
    guests = open_document(client, root, GUESTS)
    change(client, guests, 2, (26, 0), (27, 0), "")
    assert codes(await published(client, guests, version=2)) == []
    before = count(client, guests)

    schema = root / SCHEMA
    schema.write_text(
        schema.read_text().replace(
            "isEntity = true;", "isEntity = true;\n    isolated = true;"
        )
    )
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[
                types.FileEvent(
                    uri=uri_of(root, SCHEMA), type=types.FileChangeType.Changed
                )
            ]
        )
    )

    assert codes(await published(client, guests, after=before)) == [
        "den/delivery-dropped"
    ]


async def test_watchers_are_registered_when_the_client_allows(client, root, request):
    uri = open_document(client, root, SCHEMA)
    await published(client, uri, version=1)

    globs = sorted(
        w["globPattern"]
        for r in client.registrations
        if r.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES
        for w in r.register_options["watchers"]
    )
    dynamic = (
        client.capabilities.workspace.did_change_watched_files.dynamic_registration
    )
    assert globs == (["**/*.nix", "**/den-lsp.toml"] if dynamic else [])


@pytest.mark.init_options({"den": {"severity": {"den/isolation-leak": "off"}}})
async def test_severity_off_in_initialization_options(client, root):
    uri = open_document(client, root, SCHEMA)

    assert codes(await published(client, uri, version=1)) == []


@pytest.mark.init_options({"severity": {"den/isolation-leak": "off"}})
@pytest.mark.client_settings({"severity": {"den/isolation-leak": "information"}})
async def test_workspace_configuration_overrides_initialization_options(client, root):
    uri = open_document(client, root, SCHEMA)

    params = await published(client, uri, version=1)

    assert [(d.code, d.severity) for d in params.diagnostics] == [
        ("den/isolation-leak", types.DiagnosticSeverity.Information)
    ]


async def test_configuration_change_is_applied(client, root):
    uri = open_document(client, root, SCHEMA)
    assert codes(await published(client, uri, version=1)) == ["den/isolation-leak"]
    before = count(client, uri)

    client.set_configuration({"severity": {"den/isolation-leak": "off"}}, section="den")
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings=None)
    )

    assert codes(await published(client, uri, after=before)) == []


async def test_indexing_reports_progress_and_logs_to_the_client(client, root):
    uri = open_document(client, root, SCHEMA)
    await published(client, uri, version=1)

    indexed = [m for m in client.log_messages if "indexed" in m.message]
    assert len(indexed) == 1
    assert indexed[0].type == types.MessageType.Info
    assert "3 files" in indexed[0].message

    (reports,) = client.progress_reports.values()
    assert isinstance(reports[0], types.WorkDoneProgressBegin)
    assert reports[0].title == "Indexing den workspace"
    assert isinstance(reports[-1], types.WorkDoneProgressEnd)
    assert reports[-1].message == "3 files indexed"


async def test_document_outside_the_root_is_analysed_alone(client, root, tmp_path):
    schema = open_document(client, root, SCHEMA)
    assert codes(await published(client, schema, version=1)) == ["den/isolation-leak"]
    before = count(client, schema)

    # Isolating the kind in a file outside the workspace must not touch it.
    outside = tmp_path / "elsewhere" / "guest.nix"
    outside.parent.mkdir()
    outside.write_text("{\n  den.schema.guest.isolated = true\n}\n")
    stray = open_document(client, outside.parent, outside.name)

    alone = await published(client, stray, version=1)
    # Without the workspace's `isEntity = true`, the file's own kind is no entity.
    assert codes(alone) == ["den/isolated-not-entity", "den/syntax"]
    assert span(alone.diagnostics[1]) == ((1, 34), (1, 34))
    await asyncio.sleep(0.3)
    assert count(client, schema) == before


async def test_untitled_buffers_are_analysed_and_other_languages_ignored(client, root):
    def open_text(uri: str, language: str, text: str) -> None:
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id=language, version=1, text=text
                )
            )
        )

    open_text(uri_of(root, "den-lsp.toml"), "toml", "[severity]\n")
    open_text("untitled:Untitled-1", "nix", "{ den.schema.guest = { }\n")

    (syntax,) = (await published(client, "untitled:Untitled-1", version=1)).diagnostics
    assert syntax.code == "den/syntax"
    assert uri_of(root, "den-lsp.toml") not in client.published


@pytest.mark.no_root
async def test_without_a_workspace_each_file_is_analysed_alone(client, root):
    uri = open_document(client, root, SCHEMA)

    # Alone, the schema declares a kind nothing creates: nothing to report.
    assert codes(await published(client, uri, version=1)) == []

    change(client, uri, 2, (2, 19), (2, 20), "")
    assert codes(await published(client, uri, version=2)) == ["den/syntax"]
    assert client.progress_reports == {}


async def test_cli_serve_logs_info_to_the_client(cli_client, root):
    uri = open_document(cli_client, root, SCHEMA)

    assert codes(await published(cli_client, uri, version=1)) == ["den/isolation-leak"]
    # stderr shows only warnings by default; the client's log still gets INFO.
    assert any("indexed" in m.message for m in cli_client.log_messages)


async def test_debug_logging_stays_off_stdout(debug_client, root):
    uri = open_document(debug_client, root, SCHEMA)
    change(debug_client, uri, 2, (2, 20), (2, 20), "\n    isolated = true;")

    assert codes(await published(debug_client, uri, version=2)) == []
    assert debug_client.error is None
    assert any(m.type == types.MessageType.Log for m in debug_client.log_messages)


# -- in-process --------------------------------------------------------------------


def test_fixes_of_a_finding_in_another_file_name_that_file():
    from den_lsp.analysis.findings import Finding, Fix, Severity, Span, TextEdit
    from den_lsp.features.diagnostics import document_uri, to_diagnostic

    root = Path("/work/config")
    here = Span("modules/host.nix", 0, 4, 0, 0, 0, 4)
    there = Span("/elsewhere/schema.nix", 10, 10, 2, 3, 2, 3)
    finding = Finding(
        "den/isolated-not-entity",
        Severity.HINT,
        here,
        "message",
        (Fix("Add it", (TextEdit(there, "x = 1;"),), safe=False),),
    )

    diagnostic = to_diagnostic(finding, root)

    assert (
        document_uri(root, "modules/host.nix") == "file:///work/config/modules/host.nix"
    )
    assert diagnostic.severity == types.DiagnosticSeverity.Hint
    assert diagnostic.data == [
        {
            "title": "Add it",
            "safe": False,
            "edits": [
                {
                    "path": "/elsewhere/schema.nix",
                    "uri": "file:///elsewhere/schema.nix",
                    "range": {
                        "start": {"line": 2, "character": 3},
                        "end": {"line": 2, "character": 3},
                    },
                    "newText": "x = 1;",
                }
            ],
        }
    ]


def test_analysis_failure_is_logged_not_raised(caplog):
    from den_lsp.server import DenLanguageServer

    server = DenLanguageServer()

    def broken():
        raise ValueError("model exploded")

    try:
        assert server._guarded(broken, (), []) is None
    finally:
        server.shutdown()
    assert "analysis failed" in caplog.text
    assert "model exploded" in caplog.text
