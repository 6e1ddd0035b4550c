"""Positions are right in every encoding a client may offer.

den-lsp counts characters in UTF-16 code units, the encoding LSP makes
mandatory: whatever a client offers (UTF-8 first, as Neovim does, or UTF-32),
the server answers ``utf-16``, and a client that follows the negotiation gets
every position right. Each test checks that on text where the encodings
disagree: CJK (3 UTF-8 bytes, 1 UTF-16 unit), characters beyond the BMP
(4 bytes, 2 units), combining marks (one glyph, several code points), tabs,
CRLF and lone CR line ends, and a byte-order mark the client keeps.

For each, the diagnostic's range, the hover's range and the quick fix's edit
are read back from the client's copy of the text, converted here (see
``client_text``), and must name exactly the characters intended. The fix is
then applied the way a UTF-16 client applies it, and sent back: the server's
text equals the client's, and the diagnostic is gone.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.uris import from_fs_path
from pytest_lsp import client_capabilities

from client_text import ClientText
from server_harness import session, state
from test_server import FIXTURE, published

SCHEMA = "modules/schema.nix"

FIX = "Mark kind `guest` isolated"

# The schema, spelled so that UTF-8, UTF-16 and code points disagree before
# the kind's name and around the fix's insertion point. `§` marks where the
# quick fix must insert, and the second item is what it must insert there.
VARIANTS = {
    "ascii": (
        "{\n  den.schema.guest = {\n    isEntity = true;§\n  };\n}\n",
        "\n    isolated = true;",
    ),
    "cjk": (
        "{\n  /* 日本語 */ den.schema.guest = {\n    isEntity = true; # 設定§\n  };\n}\n",
        "\n    isolated = true;",
    ),
    "beyond the BMP": (
        "{\n  /* 🦀𝄞👩‍👩‍👧 */ den.schema.guest = {\n    isEntity = true; # 🦀§\n  };\n}\n",
        "\n    isolated = true;",
    ),
    "combining marks": (
        "{\n  /* e\u0301a\u0308\u0301 */ den.schema.guest = {\n    isEntity = true;§\n  };\n}\n",
        "\n    isolated = true;",
    ),
    "tabs": (
        "{\n\t\tden.schema.guest = {\n\t\t\tisEntity = true;§\n\t};\n}\n",
        "\n\t\t\tisolated = true;",
    ),
    "crlf": (
        "{\r\n  /* 日本 */ den.schema.guest = {\r\n    isEntity = true;§\r\n  };\r\n}\r\n",
        "\r\n    isolated = true;",
    ),
    # With lone CRs the fix goes on the binding's line: den-lsp finds line
    # breaks in a set by its `\n`s. Still only the insertion, at its place.
    "lone cr": (
        "{\r  /* 🦀 */ den.schema.guest = {\r    isEntity = true;§\r  };\r}\r",
        " isolated = true;",
    ),
    # JSON lets a client send half a surrogate pair ("\\ud800"): one unit.
    "lone surrogate": (
        "{\n  /* \ud800 */ den.schema.guest = {\n    isEntity = true;§\n  };\n}\n",
        "\n    isolated = true;",
    ),
    "byte-order mark": (
        "\ufeff{\n  /* é */ den.schema.guest = {\n    isEntity = true;§\n  };\n}\n",
        "\n    isolated = true;",
    ),
}


# What clients offer in general.positionEncodings.
OFFERS = {
    "none": None,
    "utf-16": ["utf-16"],
    "utf-8 only": ["utf-8"],
    "utf-8 first": ["utf-8", "utf-16"],
    "utf-32 only": ["utf-32"],
    "all, utf-32 first": ["utf-32", "utf-8", "utf-16"],
}


def capabilities(offer: list[str] | None) -> types.ClientCapabilities:
    caps = client_capabilities("visual-studio-code")
    caps.general = types.GeneralClientCapabilities(
        position_encodings=[types.PositionEncodingKind(o) for o in offer]
        if offer is not None
        else None
    )
    return caps


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    shutil.copytree(FIXTURE, root)
    return root


@pytest.mark.parametrize("offer", OFFERS.values(), ids=OFFERS.keys())
async def test_the_server_always_negotiates_utf16(offer, root, tmp_path):
    async with session(
        root, tmp_path / "cache", capabilities=capabilities(offer)
    ) as client:
        encoding = client.initialize_result.capabilities.position_encoding
        assert encoding == types.PositionEncodingKind.Utf16


def _range(r: types.Range) -> tuple[tuple[int, int], tuple[int, int]]:
    return (r.start.line, r.start.character), (r.end.line, r.end.character)


def _replace_all(client, uri: str, version: int, text: str) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(
                uri=uri, version=version
            ),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def _send_edits(client, uri: str, version: int, edits: list[types.TextEdit]) -> None:
    """The edits of a fix, as the incremental change a client sends after it."""
    ordered = sorted(edits, key=lambda e: _range(e.range), reverse=True)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(
                uri=uri, version=version
            ),
            content_changes=[
                types.TextDocumentContentChangePartial(range=e.range, text=e.new_text)
                for e in ordered
            ],
        )
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "offer",
    [OFFERS["none"], OFFERS["utf-8 first"], OFFERS["all, utf-32 first"]],
    ids=["none", "utf-8 first", "all, utf-32 first"],
)
async def test_diagnostics_hovers_and_fixes_land_on_the_right_characters(
    offer, root, tmp_path
):
    async with session(
        root, tmp_path / "cache", capabilities=capabilities(offer), introspect=True
    ) as client:
        uri = from_fs_path(str(root / SCHEMA))
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="nix", version=1, text=""
                )
            )
        )
        version = 1
        for name, (template, inserted) in VARIANTS.items():
            text, fixed = template.replace("§", ""), template.replace("§", inserted)
            version += 1
            _replace_all(client, uri, version, text)
            params = await published(client, uri, version=version)
            document = ClientText(text)

            found = {d.code: d for d in params.diagnostics}
            expected = {"den/isolation-leak"}
            if name == "byte-order mark":
                expected.add("den/syntax")
                assert document.text_in(*_range(found["den/syntax"].range)) == "\ufeff"
            assert set(found) == expected, name
            leak = found["den/isolation-leak"]
            assert document.text_in(*_range(leak.range)) == "guest", name

            # Hover in the middle of the name covers exactly the name.
            start = leak.range.start
            hover = await client.text_document_hover_async(
                types.HoverParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=types.Position(
                        line=start.line, character=start.character + 2
                    ),
                )
            )
            assert document.text_in(*_range(hover.range)) == "guest", name
            assert hover.contents.value.startswith("**kind `guest`**"), name

            # The quick fix, applied by a UTF-16 client, changes only what it
            # names: the text after it is exactly the intended one.
            actions = await client.text_document_code_action_async(
                types.CodeActionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    range=leak.range,
                    context=types.CodeActionContext(
                        diagnostics=[leak], only=[types.CodeActionKind.QuickFix]
                    ),
                )
            )
            (action,) = [a for a in actions if a.title == FIX]
            edits = action.edit.changes[uri]
            document.apply_edits(edits)
            assert document.text == fixed, name

            version += 1
            _send_edits(client, uri, version, edits)
            after = await published(client, uri, version=version)
            remaining = [d.code for d in after.diagnostics]
            assert remaining == (["den/syntax"] if name == "byte-order mark" else [])
            seen = await state(client, uri)
            assert seen["text"] == fixed, name


@pytest.mark.slow
async def test_a_syntax_error_after_wide_characters_points_at_its_place(root, tmp_path):
    text = '{\n  x = "🦀日本e\u0301"; y = ;\n}\n'
    async with session(root, tmp_path / "cache") as client:
        uri = from_fs_path(str(root / "modules/wide.nix"))
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="nix", version=1, text=text
                )
            )
        )
        (syntax,) = (await published(client, uri, version=1)).diagnostics
        assert syntax.code == "den/syntax"
        assert syntax.message == "expected an expression"
        # Right after `y =`: 🦀 is 2 units; 日, 本, e and U+0301 one each.
        assert _range(syntax.range) == ((1, 19), (1, 19))
        document = ClientText(text)
        assert document.text[: document.index(1, 19)].endswith("; y =")
