"""Hover, code actions, inlay hints and code lens through a real LSP client.

The workspace is a host that delivers a microvm guest through a `guest`
kind that is not isolated (so `den/isolation-leak` fires), plus a second
policy with a plain route that refactors apply to. ``⟪ ⟫`` mark the ranges
the assertions name; a range's start is where the cursor goes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from nixfixture import apply_edits, write_workspace
from test_server import _make_client

SERVER_DIR = Path(__file__).resolve().parents[1] / "server"

FILES = {
    "flake.nix": "{ outputs = _: { }; }\n",
    "modules/schema.nix": """{ den, ... }: {
  den.schema.⟪guest⟫ = {
    isEntity = true;
    parent = "host";
  };
}
""",
    "modules/guests.nix": """{ den, lib, ... }:
let
  inherit (den.lib.policy) route resolve;
in
{
  den.schema.host.includes = [ den.policies.⟪host-guests⟫ den.policies.motd ];

  den.policies.host-guests = { host, ... }:
    map (name: resolve.to.withIncludes ⟪"guest"⟫ [ den.policies.deliver-guest ] {
      guest = { inherit name; };
    }) (host.guestNames or [ ]);

  den.policies.deliver-guest = { host, guest, ... }: [
    (⟪route⟫ {
      fromClass = "nixos";
      intoClass = "nixos";
      path = [ "microvm" "vms" guest.name "config" ];
      collectSubtree = true;
      appendToParent = true;
      reinstantiate = true;
    })
  ];

  den.policies.motd = { host, ... }: [
    (⟪route⟫ {
      fromClass = "motd";
      intoClass = "nixos";
      path = [ "environment" "etc" ];
    })
  ];
}
""",
}


def _config() -> ClientServerConfig:
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


@pytest_lsp.fixture(config=_config(), params=["visual-studio-code", "neovim", "emacs"])
async def client(lsp_client: LanguageClient, request, tmp_path: Path):
    marks = write_workspace(tmp_path, FILES)
    lsp_client.root = tmp_path
    lsp_client.marks = marks
    lsp_client.spec = request.param
    uri = from_fs_path(str(tmp_path))
    lsp_client.initialized = await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities(request.param),
            root_uri=uri,
            workspace_folders=[types.WorkspaceFolder(uri=uri, name="ws")],
        )
    )
    yield
    await lsp_client.shutdown_session()


def mark(client, path: str, number: int):
    return [m for m in client.marks if m.path == path][number]


async def opened(client: LanguageClient, rel: str) -> str:
    uri = from_fs_path(str(client.root / rel))
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri,
                language_id="nix",
                version=1,
                text=(client.root / rel).read_text(),
            )
        )
    )
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return uri


def position(at: tuple[int, int]) -> types.Position:
    return types.Position(line=at[0], character=at[1])


async def hover(client, rel: str, at: tuple[int, int]) -> types.Hover:
    uri = await opened(client, rel)
    return await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri), position=position(at)
        )
    )


KIND_HOVER = """**kind `guest`** — entity

`flake › flake-system › host › guest`

- entity: yes — `isEntity = true` (modules/schema.nix:3)
- isolated: no
- created at: `host` by `host-guests` (modules/guests.nix:9)
- policies firing here:
  - `deliver-guest` — withIncludes (modules/guests.nix:9)
- routes collecting from it:
  - `nixos` → `nixos` at `microvm.vms.<name>.config`: collects at `guest` and its subtree, appends at `host` (modules/guests.nix:14)
- its content lands: in the `host` scope's own configuration (the parent's extraction collects it); also through `microvm.vms.<name>.config` at `host`
- class of its entities: `nixos` (what its delivery routes collect)

Declared at modules/schema.nix:2"""


async def test_hover_on_a_kind_shows_its_effective_scope(client):
    result = await hover(
        client, "modules/guests.nix", mark(client, "modules/guests.nix", 1).start
    )
    assert result.contents.kind == types.MarkupKind.Markdown
    assert result.contents.value == KIND_HOVER
    m = mark(client, "modules/guests.nix", 1)
    assert (result.range.start.line, result.range.start.character) == m.start
    assert (result.range.end.line, result.range.end.character) == m.end


async def test_hover_on_a_kind_declaration_adds_the_finding(client):
    result = await hover(
        client, "modules/schema.nix", mark(client, "modules/schema.nix", 0).start
    )
    kind, finding = result.contents.value.split("\n\n---\n\n")
    assert kind == KIND_HOVER
    assert finding.startswith(
        "**den/isolation-leak** (warning)\n\nKind `guest` is created under `host` scopes"
    )


async def test_hover_on_a_route(client):
    result = await hover(
        client, "modules/guests.nix", mark(client, "modules/guests.nix", 2).start
    )
    assert result.contents.value == (
        "**route** `nixos` → `nixos` at `microvm.vms.<name>.config`\n\n"
        "- fired at `guest`: collects `nixos` at `guest` and every scope below it; "
        "appends at `host` as `nixos` under `microvm.vms.<name>.config` handed over "
        "unevaluated (`reinstantiate`).\n\n"
        "In a build: the `nixos` modules of each `guest` scope become part of the "
        "host's `nixos` configuration at `microvm.vms.<name>.config`.\n\n"
        "Policy `deliver-guest` (modules/guests.nix:13)"
    )


async def test_hover_on_a_policy_reference(client):
    result = await hover(
        client, "modules/guests.nix", mark(client, "modules/guests.nix", 0).start
    )
    assert result.contents.value == (
        "**policy `host-guests`**\n\n"
        "Fires at: `host`\n"
        "- activated by:\n"
        "  - schema of `host` (modules/guests.nix:6)\n"
        "- needs in context: `host`\n"
        "- effects: `resolve.to.withIncludes`\n\n"
        "Defined at modules/guests.nix:8"
    )


async def _actions(client, rel, at, only=None):
    uri = await opened(client, rel)
    return await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=position(at), end=position(at)),
            context=types.CodeActionContext(diagnostics=[], only=only),
        )
    )


async def test_quick_fix_marks_the_kind_isolated_and_the_finding_goes(client):
    actions = await _actions(
        client, "modules/schema.nix", mark(client, "modules/schema.nix", 0).start
    )
    quick = [a for a in actions if a.kind == types.CodeActionKind.QuickFix]
    assert [(a.title, a.is_preferred) for a in quick] == [
        ("Mark kind `guest` isolated", True),
        ("Suppress den/isolation-leak on this line", False),
    ]
    fix = quick[0]
    assert [d.code for d in fix.diagnostics] == ["den/isolation-leak"]
    [(uri, edits)] = fix.edit.changes.items()
    assert uri == from_fs_path(str(client.root / "modules/schema.nix"))
    text = (client.root / "modules/schema.nix").read_text()
    fixed = apply_edits(text, [_edit(e) for e in edits])
    assert (
        fixed
        == """{ den, ... }: {
  den.schema.guest = {
    isEntity = true;
    parent = "host";
    isolated = true;
  };
}
"""
    )
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=fixed)],
        )
    )
    params = await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    while params.version != 2:
        params = await client.wait_for_notification(
            types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS
        )
    assert list(params.diagnostics) == []


async def test_fix_all_applies_only_safe_fixes(client):
    actions = await _actions(
        client, "modules/schema.nix", (0, 0), only=["source.fixAll.den"]
    )
    assert [(a.title, a.kind) for a in actions] == [
        ("Apply all safe den fixes", "source.fixAll.den")
    ]
    [edits] = actions[0].edit.changes.values()
    assert [e.new_text for e in edits] == ["\n    isolated = true;"]


async def test_refactors_on_a_route(client):
    actions = await _actions(
        client, "modules/guests.nix", mark(client, "modules/guests.nix", 3).start
    )
    titles = [(a.title, a.kind) for a in actions]
    assert titles == [
        ("Add `appendToParent = true`", types.CodeActionKind.RefactorRewrite),
        ("Convert `route` to `deliver`", types.CodeActionKind.RefactorRewrite),
    ]
    text = (client.root / "modules/guests.nix").read_text()
    [edits] = actions[1].edit.changes.values()
    converted = apply_edits(text, [_edit(e) for e in edits])
    assert (
        """    (den.lib.policy.deliver {
      from = "motd";
      to = "nixos";
      at = [ "environment" "etc" ];
      mode = "nest";
    })"""
        in converted
    )


async def test_mark_kind_isolated_at_a_resolve(client):
    actions = await _actions(
        client, "modules/guests.nix", mark(client, "modules/guests.nix", 1).start
    )
    assert [(a.title, a.kind) for a in actions] == [
        ("Mark kind `guest` isolated", types.CodeActionKind.RefactorRewrite)
    ]
    [(uri, edits)] = actions[0].edit.changes.items()
    assert uri.endswith("modules/schema.nix")


async def test_inlay_hints(client):
    uri = await opened(client, "modules/guests.nix")
    hints = await client.text_document_inlay_hint_async(
        types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=position((0, 0)), end=position((40, 0))),
        )
    )
    resolve_end = mark(client, "modules/guests.nix", 1).end
    route_end = mark(client, "modules/guests.nix", 2).end
    motd_end = mark(client, "modules/guests.nix", 3).end
    assert [((h.position.line, h.position.character), h.label) for h in hints] == [
        (resolve_end, "not isolated"),
        (route_end, "guest subtree ⇒ host · microvm.vms.<name>.config"),
        (motd_end, "host ⇒ host · environment.etc"),
    ]


async def test_code_lens_on_a_kind_declaration(client):
    uri = await opened(client, "modules/schema.nix")
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    assert [(lens.range.start.line, lens.command.title) for lens in lenses] == [
        (1, "1 delivery route · 1 policy active")
    ]
    assert lenses[0].command.command == "den.showReferences"
    locations = lenses[0].command.arguments[2]
    assert [
        (loc["uri"].endswith("guests.nix"), loc["range"]["start"]["line"])
        for loc in locations
    ] == [
        (True, 8),
        (True, 12),
    ]


async def test_responses_respect_the_recorded_client_capabilities(client):
    capabilities = client_capabilities(client.spec)
    result = await hover(
        client, "modules/schema.nix", mark(client, "modules/schema.nix", 0).start
    )
    formats = capabilities.text_document.hover.content_format
    assert result.contents.kind == formats[0]
    actions = await _actions(
        client, "modules/schema.nix", mark(client, "modules/schema.nix", 0).start
    )
    literal = capabilities.text_document.code_action.code_action_literal_support
    allowed = set(literal.code_action_kind.value_set)
    for action in actions:
        assert any(str(action.kind).startswith(str(k)) for k in allowed), action.kind

    # Workspace edits use `changes`, which every client applies; the
    # versioned `documentChanges` would need the client to support them.
    edit_support = capabilities.workspace.workspace_edit
    assert (
        edit_support.document_changes
        == {
            "visual-studio-code": True,
            "neovim": None,
            "emacs": True,
        }[client.spec]
    )
    route_actions = await _actions(
        client, "modules/guests.nix", mark(client, "modules/guests.nix", 3).start
    )
    for action in [*actions, *route_actions]:
        assert action.edit.document_changes is None
        assert action.edit.changes

    # Neovim and Emacs offer UTF-8 and UTF-32 too; den-lsp answers in UTF-16,
    # the encoding every client takes.
    offered = capabilities.general.position_encodings
    assert (
        offered
        == {
            "visual-studio-code": None,
            "neovim": ("utf-8", "utf-16", "utf-32"),
            "emacs": ("utf-32", "utf-8", "utf-16"),
        }[client.spec]
    )
    assert (
        client.initialized.capabilities.position_encoding
        == types.PositionEncodingKind.Utf16
    )


async def test_positions_count_utf16_code_units_for_every_client(client):
    uri = await opened(client, "modules/guests.nix")
    text = (client.root / "modules/guests.nix").read_text()
    # A crab (two UTF-16 code units, four UTF-8 bytes, one code point) in
    # front of the kind's name on its line.
    at = mark(client, "modules/guests.nix", 1)
    lines = text.split("\n")
    line = lines[at.start[0]]
    lines[at.start[0]] = line[: at.start[1]] + "/*🦀*/ " + line[at.start[1] :]
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                types.TextDocumentContentChangeWholeDocument(text="\n".join(lines))
            ],
        )
    )
    shift = len("/*🦀*/ ".encode("utf-16-le")) // 2
    assert shift == 7
    result = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=position((at.start[0], at.start[1] + shift)),
        )
    )
    assert result.contents.value.startswith("**kind `guest`** — entity")
    assert (result.range.start.character, result.range.end.character) == (
        at.start[1] + shift,
        at.end[1] + shift,
    )


@pytest_lsp.fixture(config=_config())
async def plain_client(lsp_client: LanguageClient, tmp_path: Path):
    marks = write_workspace(tmp_path, FILES)
    lsp_client.root = tmp_path
    lsp_client.marks = marks
    capabilities = client_capabilities("neovim")
    capabilities.text_document.hover.content_format = [types.MarkupKind.PlainText]
    uri = from_fs_path(str(tmp_path))
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities,
            root_uri=uri,
            workspace_folders=[types.WorkspaceFolder(uri=uri, name="ws")],
        )
    )
    yield
    await lsp_client.shutdown_session()


@pytest_lsp.fixture(config=_config())
async def formatless_client(lsp_client: LanguageClient, tmp_path: Path):
    marks = write_workspace(tmp_path, FILES)
    lsp_client.root = tmp_path
    lsp_client.marks = marks
    capabilities = client_capabilities("neovim")
    capabilities.text_document.hover.content_format = None
    uri = from_fs_path(str(tmp_path))
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities,
            root_uri=uri,
            workspace_folders=[types.WorkspaceFolder(uri=uri, name="ws")],
        )
    )
    yield
    await lsp_client.shutdown_session()


async def test_plain_string_hover_for_clients_that_name_no_format(formatless_client):
    result = await hover(
        formatless_client,
        "modules/guests.nix",
        mark(formatless_client, "modules/guests.nix", 0).start,
    )
    assert isinstance(result.contents, str)
    assert result.contents.startswith("policy host-guests\n\nFires at: host\n")


async def test_plain_text_hover_for_clients_without_markdown(plain_client):
    result = await hover(
        plain_client,
        "modules/guests.nix",
        mark(plain_client, "modules/guests.nix", 0).start,
    )
    assert result.contents.kind == types.MarkupKind.PlainText
    assert result.contents.value.startswith("policy host-guests\n\nFires at: host\n")


class _Edit:
    def __init__(self, edit: types.TextEdit):
        from den_lsp.syntax.span import Span

        r = edit.range
        self.span = Span(
            "", 0, 0, r.start.line, r.start.character, r.end.line, r.end.character
        )
        self.new_text = edit.new_text


def _edit(edit: types.TextEdit) -> _Edit:
    return _Edit(edit)


@pytest_lsp.fixture(config=_config())
async def outside_client(lsp_client: LanguageClient, tmp_path: Path):
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "flake.nix").write_text("{ outputs = _: { }; }\n")
    elsewhere = tmp_path / "elsewhere"
    lsp_client.marks = write_workspace(elsewhere, FILES)
    lsp_client.root = elsewhere
    uri = from_fs_path(str(workspace))
    await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("neovim"),
            root_uri=uri,
            workspace_folders=[types.WorkspaceFolder(uri=uri, name="ws")],
        )
    )
    yield
    await lsp_client.shutdown_session()


async def test_file_outside_the_workspace_is_analysed_with_its_own_flake(
    outside_client,
):
    uri = from_fs_path(str(outside_client.root / "modules/schema.nix"))
    outside_client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri,
                language_id="nix",
                version=1,
                text=(outside_client.root / "modules/schema.nix").read_text(),
            )
        )
    )
    params = await outside_client.wait_for_notification(
        types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS
    )
    assert [d.code for d in params.diagnostics] == ["den/isolation-leak"]
