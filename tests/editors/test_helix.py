"""README.md's Helix set-up, checked as far as this machine can without Helix.

Helix is in no package registry this project's CI can reach (not in
Debian 12, PyPI or npm), so no test drives a real Helix. What can be
checked is checked: the snippet is valid TOML in the shape Helix reads
(a ``[language-server.den-lsp]`` table and a ``nix`` language that lists
den-lsp beside a Nix server), and the command it names, started the way
Helix starts a server, answers a session in which the client offers the
position encodings Helix offers (UTF-8, then UTF-32, then UTF-16) and publishes den's finding.
"""

from __future__ import annotations

import asyncio
import shutil
import tomllib
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.uris import from_fs_path

from conftest import readme_snippet

GUEST_KIND = "modules/guest-kind.nix"
NIX_SERVERS = {"nil", "nixd"}
# What Helix offers, in its order of preference.
OFFERED = (
    types.PositionEncodingKind.Utf8,
    types.PositionEncodingKind.Utf32,
    types.PositionEncodingKind.Utf16,
)


def helix_config() -> dict:
    return tomllib.loads(readme_snippet("helix"))


def test_snippet_is_a_language_server_and_a_nix_language_beside_nil():
    config = helix_config()

    server = config["language-server"]["den-lsp"]
    assert server == {"command": "den-lsp", "args": ["serve"]}
    (nix,) = [lang for lang in config["language"] if lang["name"] == "nix"]
    servers = nix["language-servers"]
    assert "den-lsp" in servers
    assert NIX_SERVERS & set(servers), "den-lsp must run beside nil or nixd"
    assert set(servers) <= {"den-lsp"} | NIX_SERVERS


async def _session(command: list[str], env: dict, workspace: Path) -> tuple:
    client = LanguageClient("helix-like", "1")
    published: asyncio.Queue = asyncio.Queue()

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def _diagnostics(params: types.PublishDiagnosticsParams) -> None:
        published.put_nowait(params)

    await client.start_io(*command, env=env, cwd=str(workspace))
    uri = from_fs_path(str(workspace / GUEST_KIND))
    try:
        result = await asyncio.wait_for(
            client.initialize_async(
                types.InitializeParams(
                    capabilities=types.ClientCapabilities(
                        general=types.GeneralClientCapabilities(
                            position_encodings=list(OFFERED)
                        )
                    ),
                    root_uri=from_fs_path(str(workspace)),
                    workspace_folders=[
                        types.WorkspaceFolder(
                            uri=from_fs_path(str(workspace)), name=workspace.name
                        )
                    ],
                )
            ),
            timeout=30,
        )
        client.initialized(types.InitializedParams())
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri,
                    language_id="nix",
                    version=0,
                    text=(workspace / GUEST_KIND).read_text(encoding="utf-8"),
                )
            )
        )
        while True:
            params = await asyncio.wait_for(published.get(), timeout=30)
            if params.uri == uri and params.diagnostics:
                break
        await asyncio.wait_for(client.shutdown_async(None), timeout=10)
        client.exit(None)
    finally:
        await client.stop()
    return result, params


async def test_snippet_command_serves_a_helix_like_client(editor_env, leak_workspace):
    server = helix_config()["language-server"]["den-lsp"]
    program = shutil.which(server["command"], path=editor_env["PATH"])
    assert program is not None, "den-lsp is not on the editor's PATH"

    result, params = await _session(
        [program, *server["args"]], editor_env, leak_workspace
    )

    # Any encoding Helix offers is one it handles; the file is ASCII, so the
    # finding's column is the same in each.
    assert result.capabilities.position_encoding in OFFERED
    assert [
        (d.code, d.range.start.line, d.range.start.character)
        for d in params.diagnostics
    ] == [("den/isolation-leak", 4, 13)]
