"""The refactor "Move this route into the delivered kind's includes".

Each workspace marks with ``⟪ ⟫`` the route the cursor is on. Where the
refactor applies, the test applies its edits, compares every changed file
with the expected text, and analyses the result again: it parses, and the
route no longer collects at host scope. Where the edit would not be certain
the refactor is not offered, and each refusal names the shape it refuses.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from den_lsp.features.actions import FIX_ALL, REFACTOR, actions_at
from den_lsp.syntax.span import Span
from lsp_workspace import server_config, start
from nixfixture import apply_edits, project, strip_markers

FLAKE = {"flake.nix": "{ outputs = _: { }; }\n"}
TITLE = "Move this route into the delivered kind's includes (`guest`)"

# One guest per host, resolved at host scope; its delivery route fires at the
# host too, so it collects the host's own configuration (delivery-self-collect).
ONE_FILE = {
    **FLAKE,
    "modules/guests.nix": """{ den, lib, ... }:
let
  inherit (den.lib.policy) resolve route;
in
{
  den.schema.guest = { isEntity = true; isolated = true; };
  den.schema.host.includes = [ den.policies.web-guest den.policies.deliver-web ];

  den.policies.web-guest = { host, ... }: [
    (resolve.to.withIncludes "guest" [ ] { guest = { name = "web"; }; })
  ];

  den.policies.deliver-web = { host, ... }: [
    (⟪route⟫ {
      fromClass = "nixos";
      intoClass = "nixos";
      path = [ "microvm" "vms" "web" "config" ];
      collectSubtree = true;
      reinstantiate = true;
    })
  ];
}
""",
}

ONE_FILE_MOVED = {
    "modules/guests.nix": """{ den, lib, ... }:
let
  inherit (den.lib.policy) resolve route;
in
{
  den.schema.guest = { isEntity = true; isolated = true; };
  den.schema.host.includes = [ den.policies.web-guest ];

  den.policies.web-guest = { host, ... }: [
    (resolve.to.withIncludes "guest" [ den.policies.deliver-web ] { guest = { name = "web"; }; })
  ];

  den.policies.deliver-web = { host, ... }: [
    (route {
      fromClass = "nixos";
      intoClass = "nixos";
      path = [ "microvm" "vms" "web" "config" ];
      collectSubtree = true;
      reinstantiate = true;
      appendToParent = true;
    })
  ];
}
""",
}


def _cursor(files: dict[str, str]) -> tuple[str, int]:
    """The file and byte offset of the marked route."""
    for rel, text in files.items():
        clean, marks = strip_markers(rel, text)
        if marks:
            line, character = marks[0].start
            lines = clean.split("\n")
            offset = sum(len(x.encode()) + 1 for x in lines[:line])
            return rel, offset + len(lines[line][:character].encode())
    raise AssertionError("no marked route")


def actions(root: Path, files: dict[str, str], **settings):
    proj, _ = project(root, files, **settings)
    rel, offset = _cursor(files)
    return proj, actions_at(proj, rel, offset, offset)


def moved(root: Path, files: dict[str, str], **settings) -> dict[str, str]:
    """Apply the move; the files it changed, as they read afterwards."""
    _, found = actions(root, files, **settings)
    [move] = [a for a in found if a.title == TITLE]
    assert (move.kind, move.safe) == (REFACTOR, False)
    changed: dict[str, str] = {}
    for path in dict.fromkeys(e.span.path for e in move.edits):
        text = (root / path).read_text()
        changed[path] = apply_edits(
            text, [e for e in move.edits if e.span.path == path]
        )
        (root / path).write_text(changed[path])
    return changed


def reanalysed(root: Path) -> list[tuple[str, str]]:
    """Findings of the workspace as it is on disk: (code, path)."""
    proj, _ = project(root, {})
    for state in proj.files.values():
        assert state.tree is not None and not state.tree.root.has_error
    return sorted((f.code, f.span.path) for fs in proj.findings().values() for f in fs)


def test_before_the_move_the_route_collects_at_host(tmp_path):
    proj, found = actions(tmp_path, ONE_FILE)
    assert [f.code for fs in proj.findings().values() for f in fs] == [
        "den/delivery-self-collect"
    ]
    assert [a.title for a in found] == [
        "Suppress den/delivery-self-collect on this line",
        "Add `appendToParent = true`",
        TITLE,
    ]


def test_move_into_the_resolve_with_includes(tmp_path):
    assert moved(tmp_path, ONE_FILE) == ONE_FILE_MOVED
    assert reanalysed(tmp_path) == []


def test_move_across_files_keeps_each_list_layout(tmp_path):
    files = {
        **FLAKE,
        "modules/hosts.nix": """{ den, ... }: {
  den.schema.host.includes = [
    den.policies.web-guest
    # delivers the guest
    den.policies.deliver-web
  ];
}
""",
        "modules/guests.nix": """{ den, ... }: {
  den.schema.guest = {
    isEntity = true;
    isolated = true;
  };
  den.policies.web-guest = { host, ... }: [
    (den.lib.policy.resolve.to.withIncludes "guest" [
      den.aspects.web
    ] { guest = { name = "web"; }; })
  ];
  den.aspects.web.nixos = { };
}
""",
        "modules/deliver.nix": """{ den, ... }: {
  den.policies.deliver-web = { host, ... }: [
    (⟪den.lib.policy.route⟫ { fromClass = "nixos"; intoClass = "nixos"; path = [ "microvm" "vms" "web" "config" ]; collectSubtree = true; reinstantiate = true; })
  ];
}
""",
    }
    assert moved(tmp_path, files) == {
        "modules/hosts.nix": """{ den, ... }: {
  den.schema.host.includes = [
    den.policies.web-guest
    # delivers the guest
  ];
}
""",
        "modules/guests.nix": """{ den, ... }: {
  den.schema.guest = {
    isEntity = true;
    isolated = true;
  };
  den.policies.web-guest = { host, ... }: [
    (den.lib.policy.resolve.to.withIncludes "guest" [
      den.aspects.web
      den.policies.deliver-web
    ] { guest = { name = "web"; }; })
  ];
  den.aspects.web.nixos = { };
}
""",
        "modules/deliver.nix": """{ den, ... }: {
  den.policies.deliver-web = { host, ... }: [
    (den.lib.policy.route { fromClass = "nixos"; intoClass = "nixos"; path = [ "microvm" "vms" "web" "config" ]; collectSubtree = true; reinstantiate = true; appendToParent = true; })
  ];
}
""",
    }
    assert reanalysed(tmp_path) == []


# A guest resolved without withIncludes: the route goes to the guest's schema.
PLAIN_RESOLVE = {
    **FLAKE,
    "modules/guests.nix": """{ den, ... }:
let
  inherit (den.lib.policy) resolve route;
in
{
  den.schema.guest = {
    isEntity = true;
    isolated = true;
  };
  den.schema.host.includes = [ den.policies.deliver-web den.policies.web-guest ];
  den.policies.web-guest = { host, ... }: [ (resolve.to "guest" { guest = { name = "web"; }; }) ];
  den.policies.deliver-web = { host, ... }: [
    (⟪route⟫ { fromClass = "nixos"; intoClass = "nixos"; path = [ "microvm" "vms" "web" "config" ]; collectSubtree = true; reinstantiate = true; })
  ];
}
""",
}


def test_move_into_a_new_schema_includes_list(tmp_path):
    [changed] = moved(tmp_path, PLAIN_RESOLVE).values()
    assert changed.split("\n")[5:10] == [
        "  den.schema.guest = {",
        "    isEntity = true;",
        "    isolated = true;",
        "    includes = [ den.policies.deliver-web ];",
        "  };",
    ]
    assert "  den.schema.host.includes = [ den.policies.web-guest ];" in changed
    assert reanalysed(tmp_path) == []


def test_move_into_an_existing_schema_includes_list(tmp_path):
    files = {
        **PLAIN_RESOLVE,
        "modules/guest-schema.nix": """{ den, ... }: {
  den.schema.guest.includes = [ den.aspects.web ];
  den.aspects.web.nixos = { };
}
""",
    }
    changed = moved(tmp_path, files)
    assert (
        changed["modules/guest-schema.nix"]
        == """{ den, ... }: {
  den.schema.guest.includes = [ den.aspects.web den.policies.deliver-web ];
  den.aspects.web.nixos = { };
}
"""
    )
    assert reanalysed(tmp_path) == []


def test_a_guest_that_is_not_isolated_then_reports_its_leak(tmp_path):
    # Fired inside the guest, the route shows what the host-side route hid:
    # the guest's content also reaches the host, which has its own quick fix.
    files = {
        "flake.nix": FLAKE["flake.nix"],
        "modules/guests.nix": ONE_FILE["modules/guests.nix"].replace(
            " isolated = true;", ""
        ),
    }
    moved(tmp_path, files)
    assert reanalysed(tmp_path) == [("den/isolation-leak", "modules/guests.nix")]


def test_an_append_to_parent_already_written_stays(tmp_path):
    files = {
        "flake.nix": FLAKE["flake.nix"],
        "modules/guests.nix": ONE_FILE["modules/guests.nix"].replace(
            "      reinstantiate = true;\n",
            "      reinstantiate = true;\n      appendToParent = true;\n",
        ),
    }
    assert moved(tmp_path, files) == ONE_FILE_MOVED
    assert reanalysed(tmp_path) == []


def test_never_part_of_fix_all(tmp_path):
    proj, _ = project(tmp_path, ONE_FILE)
    assert actions_at(proj, "modules/guests.nix", 0, 0, {FIX_ALL}) == []


# -- where the edit would not be certain -------------------------------------------------------


def _variant(old: str, new: str) -> dict[str, str]:
    text = ONE_FILE["modules/guests.nix"]
    assert old in text
    return {**FLAKE, "modules/guests.nix": text.replace(old, new)}


REFUSED = {
    # One route per guest name: moved into each guest, every copy would fire.
    "route in a function of its own": _variant(
        """  den.policies.deliver-web = { host, ... }: [
    (⟪route⟫ {
      fromClass = "nixos";
      intoClass = "nixos";
      path = [ "microvm" "vms" "web" "config" ];
      collectSubtree = true;
      reinstantiate = true;
    })
  ];""",
        """  den.policies.deliver-web = { host, ... }:
    map (name: ⟪route⟫ {
      fromClass = "nixos";
      intoClass = "nixos";
      path = [ "microvm" "vms" name "config" ];
      collectSubtree = true;
      reinstantiate = true;
    }) host.guestNames;""",
    ),
    # Several guests per host: which guest the route delivers is not certain.
    "resolve in a function of its own": _variant(
        """    (resolve.to.withIncludes "guest" [ ] { guest = { name = "web"; }; })
  ];""",
        """  ] ++ map (name: resolve.to.withIncludes "guest" [ ] { guest = { inherit name; }; }) host.guestNames;""",
    ),
    # Inside the guest, `host` would be the guest's own host record.
    "resolve binds an argument again": _variant(
        '{ guest = { name = "web"; }; }',
        '{ guest = { name = "web"; }; host = { name = "web"; }; }',
    ),
    # The move would take the other effect along.
    "policy with a second effect": _variant(
        """      reinstantiate = true;
    })
  ];""",
        """      reinstantiate = true;
    })
    (route { fromClass = "motd"; intoClass = "nixos"; path = [ "environment" "etc" ]; })
  ];""",
    ),
    "policy activated twice": _variant(
        "  den.schema.guest = { isEntity = true; isolated = true; };",
        "  den.schema.guest = { isEntity = true; isolated = true; };\n"
        "  den.default.includes = [ den.policies.deliver-web ];",
    ),
    "conditional activation": _variant(
        "den.schema.host.includes = [ den.policies.web-guest den.policies.deliver-web ];",
        "den.schema.host.includes = [ den.policies.web-guest ]\n"
        "    ++ lib.optional true den.policies.deliver-web;",
    ),
    "two delivered kinds": _variant(
        """    (resolve.to.withIncludes "guest" [ ] { guest = { name = "web"; }; })""",
        """    (resolve.to.withIncludes "guest" [ ] { guest = { name = "web"; }; })
    (resolve.to "vm" { vm = { name = "db"; }; })""",
    ),
    # A policy listed for the guest would also fire in the scopes under it.
    "child kind with children": _variant(
        "  den.schema.guest = { isEntity = true; isolated = true; };",
        "  den.schema.guest = { isEntity = true; isolated = true; };\n"
        "  den.schema.guest.includes = [ den.policies.guest-users ];\n"
        '  den.policies.guest-users = { guest, ... }: [ (resolve.to "user" { user = { name = "root"; }; }) ];',
    ),
    "not a child system's slot": _variant(
        'path = [ "microvm" "vms" "web" "config" ];', 'path = [ "environment" "etc" ];'
    ),
    "withIncludes list computed": _variant(
        'resolve.to.withIncludes "guest" [ ] {',
        'resolve.to.withIncludes "guest" (lib.optional true den.aspects.web) {',
    ),
}


@pytest.mark.parametrize("files", REFUSED.values(), ids=REFUSED.keys())
def test_not_offered_where_the_edit_is_not_certain(tmp_path, files):
    _, found = actions(tmp_path, files)
    assert TITLE not in [a.title for a in found]
    assert [a.title for a in found if a.title.startswith("Move")] == []


def test_not_offered_when_the_module_does_not_take_den(tmp_path):
    files = {
        **FLAKE,
        "modules/resolve.nix": """{ config, ... }: {
  config.den.policies.web-guest = { host, ... }: [
    (config.den.lib.policy.resolve.to.withIncludes "guest" [ ] { guest = { name = "web"; }; })
  ];
}
""",
        "modules/guests.nix": ONE_FILE["modules/guests.nix"]
        .replace("  den.policies.web-guest = { host, ... }: [\n", "")
        .replace(
            '    (resolve.to.withIncludes "guest" [ ] { guest = { name = "web"; }; })\n  ];\n',
            "",
        ),
    }
    proj, found = actions(tmp_path, files)
    assert proj.models()  # the resolve is read from the other file
    assert TITLE not in [a.title for a in found]


def test_not_offered_in_the_design_profile(tmp_path):
    # There the route stays at the host and names the guest's scope.
    _, found = actions(tmp_path, ONE_FILE, profile="isolation-design")
    assert [a.title for a in found] == [
        "Suppress den/delivery-self-collect on this line",
        "Add `collectScopeId`",
    ]


class _Edit:
    """A protocol edit as ``apply_edits`` reads one."""

    def __init__(self, edit: types.TextEdit):
        r = edit.range
        self.span = Span(
            "", 0, 0, r.start.line, r.start.character, r.end.line, r.end.character
        )
        self.new_text = edit.new_text


# -- through the protocol -------------------------------------------------------------------


@pytest_lsp.fixture(config=server_config())
async def client(lsp_client: LanguageClient):
    yield
    # A test that failed may leave the session unable to shut down cleanly.
    await asyncio.wait_for(lsp_client.shutdown_session(), 5)


async def test_move_over_stdio_then_the_finding_goes(client, tmp_path):
    ws = await start(client, tmp_path, ONE_FILE)
    rel = "modules/guests.nix"
    uri = await ws.open(rel)
    mark = ws.mark(rel)
    position = types.Position(line=mark.start[0], character=mark.start[1])
    found = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=ws.document(rel),
            range=types.Range(start=position, end=position),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    [move] = [a for a in found if a.title == TITLE]
    assert move.kind == types.CodeActionKind.RefactorRewrite
    assert move.data == {"safe": False}
    assert move.diagnostics is None and move.is_preferred is None
    [(edit_uri, edits)] = move.edit.changes.items()
    assert edit_uri == uri

    text = (tmp_path / rel).read_text()
    assert apply_edits(text, [_Edit(e) for e in edits]) == ONE_FILE_MOVED[rel]
    text = ONE_FILE_MOVED[rel]

    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )
    params = await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    while params.uri != uri or params.version != 2:
        params = await client.wait_for_notification(
            types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS
        )
    assert list(params.diagnostics) == []
