"""No crash: a failure inside den-lsp is logged, answered properly, and survived.

Each test starts the server through ``server_harness`` with a failure
injected into the server process before it serves: a rule family whose
``check`` raises, or a request handler that raises. The other rules must
still publish, the failing request must come back as an LSP error response
(not a dead connection), and the server must go on answering.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInternalError

from den_lsp.features.logging import REQUEST_FAILED, setup_logging
from server_harness import session
from test_server import FIXTURE, change, codes, open_document, published

SCHEMA = "modules/schema.nix"
HOSTS = "modules/hosts.nix"
EXTRA = "modules/extra.nix"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """The server fixture, plus a host with no aspect (an aspects-family finding)."""
    root = tmp_path / "workspace"
    shutil.copytree(FIXTURE, root)
    (root / EXTRA).write_text("{\n  den.hosts.x86_64-linux.lonely = { };\n}\n")
    return root


async def _publications(client, root: Path) -> dict[str, list[str]]:
    found = {}
    for rel in (SCHEMA, HOSTS, EXTRA):
        uri = open_document(client, root, rel)
        found[rel] = codes(await published(client, uri, version=1))
    return found


async def test_all_rule_families_publish_without_a_failure(root, tmp_path):
    async with session(root, tmp_path / "cache") as client:
        assert await _publications(client, root) == {
            SCHEMA: ["den/isolation-leak"],
            HOSTS: ["den/entity-without-aspect"],
            EXTRA: ["den/entity-without-aspect"],
        }


async def test_a_failing_rule_family_leaves_the_others_publishing(root, tmp_path):
    async with session(root, tmp_path / "cache", fail_rule="aspects") as client:
        # The aspects family broke: only its findings are missing.
        assert await _publications(client, root) == {
            SCHEMA: ["den/isolation-leak"],
            HOSTS: [],
            EXTRA: [],
        }
        errors = [
            m.message for m in client.log_messages if m.type == types.MessageType.Error
        ]
        assert any("rule family 'aspects' failed" in m for m in errors), errors

        # The server goes on following edits and answering requests.
        uri = open_document(client, root, SCHEMA)
        change(client, uri, 2, (2, 19), (2, 20), "")
        assert codes(await published(client, uri, version=2)) == [
            "den/isolation-leak",
            "den/syntax",
        ]
        hover = await client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=1, character=15),
            )
        )
        assert hover is not None and "guest" in hover.contents.value
        assert client._server.returncode is None


async def test_a_failing_request_is_an_error_response_and_the_server_lives_on(
    root, tmp_path
):
    async with session(root, tmp_path / "cache", fail_hover=True) as client:
        uri = open_document(client, root, SCHEMA)
        await published(client, uri, version=1)
        hover = types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=1, character=15),
        )

        for _ in range(3):
            with pytest.raises(JsonRpcInternalError, match="hover broke"):
                await client.text_document_hover_async(hover)

        # Other requests and notifications are served as before.
        symbols = await client.text_document_document_symbol_async(
            types.DocumentSymbolParams(
                text_document=types.TextDocumentIdentifier(uri=uri)
            )
        )
        assert symbols
        change(client, uri, 2, (2, 20), (2, 20), "\n    isolated = true;")
        assert codes(await published(client, uri, version=2)) == []
        assert client._server.returncode is None
        # A request failure is the reply's business: no pop-up for it.
        assert client.messages == []


def test_a_declined_request_is_one_info_line_not_a_traceback(caplog):
    # pygls logs each error answer as an exception; a rename den-lsp declines
    # on purpose is an answer to the user, not a failure of the server.
    setup_logging("INFO")
    rpc = logging.getLogger("pygls.protocol.json_rpc")
    declined = JsonRpcException(
        message="`guest` is also written in a string", code=REQUEST_FAILED
    )
    broken = JsonRpcException(message="boom", code=-32603)
    with caplog.at_level(logging.INFO, logger="pygls"):
        for error in (declined, broken):
            try:
                raise error
            except JsonRpcException:
                rpc.exception('Exception occurred for message "%s"', 7)
    assert [
        (r.levelname, r.getMessage(), r.exc_info is None) for r in caplog.records
    ] == [
        ("INFO", "request declined: `guest` is also written in a string", True),
        ("ERROR", 'Exception occurred for message "7"', False),
    ]


async def test_notifications_leave_nothing_behind(root, tmp_path):
    # pygls keeps the future of each notification it hands to a handler that
    # is not a plain function (every didOpen, didChange, didSave, didClose);
    # den-lsp drops it once the handler is done.
    from server_harness import INTROSPECT_MEMORY, _plain

    async with session(root, tmp_path / "cache", introspect=True) as client:
        uri = open_document(client, root, SCHEMA)
        for version in range(2, 302):
            change(client, uri, version, (0, 0), (0, 0), " " if version % 2 else "")
        await published(client, uri, version=301)
        client.text_document_did_close(
            types.DidCloseTextDocumentParams(
                text_document=types.TextDocumentIdentifier(uri=uri)
            )
        )
        answer = _plain(await client.protocol.send_request_async(INTROSPECT_MEMORY, {}))
        # The one left is this request's own.
        assert answer["futures"] == 1
