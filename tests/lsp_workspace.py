"""A den-lsp session over stdio on a small Nix workspace written by the test.

Each test writes its own workspace (a dict of file name to Nix text with
``⟪ ⟫`` markers, see ``nixfixture``), then starts the session with the
client capabilities pytest-lsp recorded for a real editor. ``Workspace``
names the marked ranges and turns them into LSP positions and locations.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from lsprotocol import types
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from nixfixture import Marked, write_workspace
from test_server import _make_client, published

SERVER_DIR = Path(__file__).resolve().parents[1] / "server"


def server_config() -> ClientServerConfig:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(SERVER_DIR), env.get("PYTHONPATH")) if p
    )
    return ClientServerConfig(
        server_command=[
            sys.executable,
            "-c",
            "from den_lsp.server import serve; serve()",
        ],
        server_env=env,
        client_factory=_make_client,
    )


@dataclass
class Workspace:
    client: LanguageClient
    root: Path
    marks: list[Marked]
    # What the server answered to `initialize`: its capabilities.
    initialized: types.InitializeResult | None = None

    def uri(self, rel: str) -> str:
        return from_fs_path(str(self.root / rel))

    def mark(self, rel: str, number: int = 0) -> Marked:
        return [m for m in self.marks if m.path == rel][number]

    def marked(self, rel: str | None = None) -> list[Marked]:
        return [m for m in self.marks if rel is None or m.path == rel]

    def position(self, rel: str, number: int = 0) -> types.Position:
        line, character = self.mark(rel, number).start
        return types.Position(line=line, character=character)

    def document(self, rel: str) -> types.TextDocumentIdentifier:
        return types.TextDocumentIdentifier(uri=self.uri(rel))

    async def open(self, rel: str) -> str:
        """Open a document and wait until the server has analysed it."""
        uri = self.uri(rel)
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri,
                    language_id="nix",
                    version=1,
                    text=(self.root / rel).read_text(encoding="utf-8"),
                )
            )
        )
        await published(self.client, uri, version=1)
        return uri


async def start(
    client: LanguageClient,
    root: Path,
    files: dict[str, str],
    spec: str = "visual-studio-code",
    capabilities: types.ClientCapabilities | None = None,
) -> Workspace:
    """Write ``files`` under ``root`` and initialize a session on it."""
    marks = write_workspace(root, files)
    uri = from_fs_path(str(root))
    initialized = await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities or client_capabilities(spec),
            root_uri=uri,
            workspace_folders=[types.WorkspaceFolder(uri=uri, name="workspace")],
        )
    )
    return Workspace(client, root, marks, initialized)


def located(location: types.Location, root: Path) -> tuple[str, tuple, tuple]:
    """A location as (path relative to ``root``, start, end) for assertions."""
    path = Path(location.uri.removeprefix("file://")).relative_to(root).as_posix()
    r = location.range
    return path, (r.start.line, r.start.character), (r.end.line, r.end.character)


def as_marked(marks: list[Marked]) -> list[tuple[str, tuple, tuple]]:
    """Marks as (path, start, end), in the order den-lsp lists locations."""
    return sorted((m.path, m.start, m.end) for m in marks)
