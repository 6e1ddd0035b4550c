"""Document and workspace symbols: a configuration's den declarations by name.

The outline of each file is written out in full: every symbol's name, kind,
detail, range and the range of its name, as (line, character) pairs counted
from 0 in the fixture below.
"""

from __future__ import annotations

import asyncio
import copy

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from den_lsp.features.symbols import document_symbols, workspace_symbols
from lsp_workspace import server_config, start
from nixfixture import project

pytestmark = pytest.mark.filterwarnings(
    "error::pytest_lsp.checks.LspSpecificationWarning"
)

FILES = {
    "flake.nix": "{ outputs = _: { }; }\n",
    # `guest` is written twice with a class between: two pieces of the outline.
    "modules/schema.nix": """{ den, ... }: {
  den.schema.guest = {
    isEntity = true;
    parent = "host";
  };
  den.classes.vm-os = { };
  den.schema.guest.isolated = true;
  den.schema.host.includes = [
    den.policies.host-guests
    ({ host, ... }: [ (den.lib.policy.include den.aspects.base) ])
  ];
}
""",
    "modules/policies.nix": """{ den, ... }:
let
  inherit (den.lib.policy) resolve route;
in
{
  den.policies.host-guests = { host, ... }:
    map (g: resolve.to.withIncludes "guest" [ den.policies.deliver-guest ] {
      guest = g;
    }) host.guests;

  den.policies.deliver-guest = { guest, ... }: [
    (route {
      fromClass = "nixos";
      intoClass = "nixos";
      path = [ "microvm" "vms" guest.name "config" ];
      collectSubtree = true;
      appendToParent = true;
    })
  ];
}
""",
    # `base` is written twice in a row: one piece.
    "modules/igloo.nix": """{ den, ... }: {
  den.hosts.x86_64-linux.igloo = {
    users.tux = { };
    users.pingu = { };
  };
  den.homes.x86_64-linux."tux@igloo" = { };
  den.aspects.igloo = {
    nixos.networking.hostName = "igloo";
    gpu.nixos = { };
    includes = [ den.aspects.base ];
  };
  den.aspects.base.nixos = { };
  den.aspects.base.darwin = { };
}
""",
}


def outline(symbols) -> list[tuple]:
    """Symbols as (name, kind, detail, range, name range, children)."""
    return [
        (
            s.name,
            s.kind,
            s.detail,
            (
                (s.range.start_line, s.range.start_character),
                (s.range.end_line, s.range.end_character),
            ),
            (
                (s.selection.start_line, s.selection.start_character),
                (s.selection.end_line, s.selection.end_character),
            ),
            outline(s.children),
        )
        for s in symbols
    ]


def test_outline_of_kinds_classes_and_an_inline_policy(tmp_path):
    proj, _ = project(tmp_path, FILES)
    assert outline(document_symbols(proj, "modules/schema.nix")) == [
        (
            "guest",
            "kind",
            "entity, isolated, parent host",
            ((1, 2), (4, 4)),
            ((1, 13), (1, 18)),
            [
                ("isEntity", "field", "true", ((2, 4), (2, 20)), ((2, 4), (2, 12)), []),
                ("parent", "field", '"host"', ((3, 4), (3, 20)), ((3, 4), (3, 10)), []),
            ],
        ),
        ("vm-os", "class", None, ((5, 2), (5, 26)), ((5, 14), (5, 19)), []),
        (
            "guest",
            "kind",
            "entity, isolated, parent host",
            ((6, 2), (6, 35)),
            ((6, 13), (6, 18)),
            [("isolated", "field", "true", ((6, 2), (6, 35)), ((6, 19), (6, 27)), [])],
        ),
        (
            "host",
            "kind",
            "entity",
            ((7, 2), (10, 4)),
            ((7, 13), (7, 17)),
            [
                (
                    "includes",
                    "field",
                    None,
                    ((7, 2), (10, 4)),
                    ((7, 18), (7, 26)),
                    # A policy written in place sits in the list that activates it.
                    [
                        (
                            "inline policy",
                            "policy",
                            "inline, fires at host",
                            ((9, 5), (9, 65)),
                            ((9, 5), (9, 65)),
                            [
                                (
                                    "include",
                                    "effect",
                                    None,
                                    ((9, 23), (9, 62)),
                                    ((9, 23), (9, 45)),
                                    [],
                                )
                            ],
                        )
                    ],
                )
            ],
        ),
    ]


def test_outline_of_policies_and_their_effects(tmp_path):
    proj, _ = project(tmp_path, FILES)
    assert outline(document_symbols(proj, "modules/policies.nix")) == [
        (
            "host-guests",
            "policy",
            "fires at host",
            ((5, 2), (8, 19)),
            ((5, 15), (5, 26)),
            [
                (
                    "resolve.to.withIncludes",
                    "effect",
                    '"guest" { guest }',
                    ((6, 12), (8, 5)),
                    ((6, 12), (6, 35)),
                    [],
                )
            ],
        ),
        (
            "deliver-guest",
            "policy",
            "fires at guest",
            ((10, 2), (18, 4)),
            ((10, 15), (10, 28)),
            [
                (
                    "route",
                    "effect",
                    "nixos → nixos · microvm.vms.<name>.config",
                    ((11, 5), (17, 5)),
                    ((11, 5), (11, 10)),
                    [],
                )
            ],
        ),
    ]


def test_outline_of_hosts_homes_and_aspects(tmp_path):
    proj, _ = project(tmp_path, FILES)
    assert outline(document_symbols(proj, "modules/igloo.nix")) == [
        (
            "igloo",
            "host",
            "x86_64-linux",
            ((1, 2), (4, 4)),
            ((1, 25), (1, 30)),
            [
                ("tux", "user", None, ((2, 4), (2, 20)), ((2, 10), (2, 13)), []),
                ("pingu", "user", None, ((3, 4), (3, 22)), ((3, 10), (3, 15)), []),
            ],
        ),
        (
            "tux@igloo",
            "home",
            "x86_64-linux",
            ((5, 2), (5, 43)),
            ((5, 25), (5, 36)),
            [],
        ),
        (
            "igloo",
            "aspect",
            None,
            ((6, 2), (10, 4)),
            ((6, 14), (6, 19)),
            [
                ("nixos", "key", None, ((7, 4), (7, 40)), ((7, 4), (7, 9)), []),
                # A key holding a sub-aspect is shown as that aspect.
                (
                    "igloo.gpu",
                    "aspect",
                    None,
                    ((8, 4), (8, 20)),
                    ((8, 4), (8, 7)),
                    [("nixos", "key", None, ((8, 4), (8, 20)), ((8, 8), (8, 13)), [])],
                ),
                ("includes", "key", None, ((9, 4), (9, 36)), ((9, 4), (9, 12)), []),
            ],
        ),
        (
            "base",
            "aspect",
            None,
            ((11, 2), (12, 32)),
            ((11, 14), (11, 18)),
            [
                ("nixos", "key", None, ((11, 2), (11, 31)), ((11, 19), (11, 24)), []),
                ("darwin", "key", None, ((12, 2), (12, 32)), ((12, 19), (12, 25)), []),
            ],
        ),
    ]


def test_outline_of_a_nested_den_set(tmp_path):
    files = {
        **FILES,
        "modules/nested.nix": """{ den, ... }: {
  den = {
    schema.vm.isEntity = true;
    classes = { vm-os = { }; };
  };
}
""",
    }
    proj, _ = project(tmp_path, files)
    assert outline(document_symbols(proj, "modules/nested.nix")) == [
        (
            "vm",
            "kind",
            "entity",
            ((2, 4), (2, 30)),
            ((2, 11), (2, 13)),
            [("isEntity", "field", "true", ((2, 4), (2, 30)), ((2, 14), (2, 22)), [])],
        ),
        ("vm-os", "class", None, ((3, 16), (3, 28)), ((3, 16), (3, 21)), []),
    ]


def test_a_file_without_den_declarations_has_no_outline(tmp_path):
    proj, _ = project(tmp_path, FILES)
    assert document_symbols(proj, "flake.nix") == []


# -- workspace symbols ---------------------------------------------------------------------


def hits(root, query: str) -> list[tuple]:
    proj, _ = project(root, FILES)
    return [
        (
            h.name,
            h.category,
            h.container,
            h.span.path,
            h.span.start_line,
            h.span.start_character,
        )
        for h in workspace_symbols(proj, query)
    ]


def test_every_kind_policy_aspect_class_and_host(tmp_path):
    assert hits(tmp_path, "") == [
        ("base", "aspect", "den.aspects", "modules/igloo.nix", 11, 14),
        ("deliver-guest", "policy", "den.policies", "modules/policies.nix", 10, 15),
        ("guest", "kind", "den.schema", "modules/schema.nix", 1, 13),
        ("host", "kind", "den.schema", "modules/schema.nix", 7, 13),
        ("host-guests", "policy", "den.policies", "modules/policies.nix", 5, 15),
        ("igloo", "aspect", "den.aspects", "modules/igloo.nix", 6, 14),
        ("igloo", "host", "den.hosts", "modules/igloo.nix", 1, 25),
        ("igloo.gpu", "aspect", "den.aspects", "modules/igloo.nix", 8, 4),
        ("vm-os", "class", "den.classes", "modules/schema.nix", 5, 14),
    ]


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("guest", ["guest", "deliver-guest", "host-guests"]),
        ("gst", ["guest", "deliver-guest", "host-guests"]),
        ("IGLOO", ["igloo", "igloo", "igloo.gpu"]),
        ("vmos", ["vm-os"]),
        ("bse", ["base"]),
        ("zzz", []),
    ],
)
def test_fuzzy_query_best_match_first(tmp_path, query, names):
    assert [h[0] for h in hits(tmp_path, query)] == names


# -- through the protocol -------------------------------------------------------------------


@pytest_lsp.fixture(config=server_config())
async def client(lsp_client: LanguageClient):
    yield
    # A test that failed may leave the session unable to shut down cleanly.
    await asyncio.wait_for(lsp_client.shutdown_session(), 5)


def _range(r: types.Range) -> tuple:
    return (r.start.line, r.start.character), (r.end.line, r.end.character)


def _tree(symbols: list[types.DocumentSymbol]) -> list[tuple]:
    return [
        (
            s.name,
            s.kind,
            s.detail,
            _range(s.range),
            _range(s.selection_range),
            _tree(s.children or []),
        )
        for s in symbols
    ]


async def _document_symbols(client, ws, rel: str):
    await ws.open(rel)
    return await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=ws.document(rel))
    )


@pytest.mark.parametrize("spec", ["visual-studio-code", "neovim", "emacs"])
async def test_hierarchical_outline_over_stdio(client, tmp_path, spec):
    # All three editors take hierarchical symbols and every symbol kind.
    assert client_capabilities(
        spec
    ).text_document.document_symbol.hierarchical_document_symbol_support
    ws = await start(client, tmp_path, FILES, spec)
    found = await _document_symbols(client, ws, "modules/policies.nix")
    assert all(isinstance(s, types.DocumentSymbol) for s in found)
    assert _tree(found) == [
        (
            "host-guests",
            types.SymbolKind.Function,
            "fires at host",
            ((5, 2), (8, 19)),
            ((5, 15), (5, 26)),
            [
                (
                    "resolve.to.withIncludes",
                    types.SymbolKind.Event,
                    '"guest" { guest }',
                    ((6, 12), (8, 5)),
                    ((6, 12), (6, 35)),
                    [],
                )
            ],
        ),
        (
            "deliver-guest",
            types.SymbolKind.Function,
            "fires at guest",
            ((10, 2), (18, 4)),
            ((10, 15), (10, 28)),
            [
                (
                    "route",
                    types.SymbolKind.Event,
                    "nixos → nixos · microvm.vms.<name>.config",
                    ((11, 5), (17, 5)),
                    ((11, 5), (11, 10)),
                    [],
                )
            ],
        ),
    ]


def _flat_client() -> types.ClientCapabilities:
    """Neovim's capabilities, without hierarchical symbols and with only the
    protocol's first eighteen symbol kinds (File to Array)."""
    capabilities = copy.deepcopy(client_capabilities("neovim"))
    symbols = capabilities.text_document.document_symbol
    symbols.hierarchical_document_symbol_support = False
    symbols.symbol_kind = types.ClientSymbolKindOptions(
        value_set=[types.SymbolKind(k) for k in range(1, 19)]
    )
    capabilities.workspace.symbol.symbol_kind = symbols.symbol_kind
    return capabilities


async def test_flat_outline_for_a_client_without_hierarchy(client, tmp_path):
    ws = await start(client, tmp_path, FILES, capabilities=_flat_client())
    found = await _document_symbols(client, ws, "modules/schema.nix")
    assert all(isinstance(s, types.SymbolInformation) for s in found)
    uri = ws.uri("modules/schema.nix")
    assert {s.location.uri for s in found} == {uri}
    assert [
        (s.name, s.kind, s.container_name, _range(s.location.range)) for s in found
    ] == [
        # Kinds are structs and effects events in the protocol's later kinds:
        # this client gets classes and functions instead.
        ("guest", types.SymbolKind.Class, None, ((1, 2), (4, 4))),
        ("isEntity", types.SymbolKind.Field, "guest", ((2, 4), (2, 20))),
        ("parent", types.SymbolKind.Field, "guest", ((3, 4), (3, 20))),
        ("vm-os", types.SymbolKind.Class, None, ((5, 2), (5, 26))),
        ("guest", types.SymbolKind.Class, None, ((6, 2), (6, 35))),
        ("isolated", types.SymbolKind.Field, "guest", ((6, 2), (6, 35))),
        ("host", types.SymbolKind.Class, None, ((7, 2), (10, 4))),
        ("includes", types.SymbolKind.Field, "host", ((7, 2), (10, 4))),
        ("inline policy", types.SymbolKind.Function, "includes", ((9, 5), (9, 65))),
        ("include", types.SymbolKind.Function, "inline policy", ((9, 23), (9, 62))),
    ]


@pytest.mark.parametrize("spec", ["visual-studio-code", "emacs"])
async def test_workspace_symbols_over_stdio(client, tmp_path, spec):
    ws = await start(client, tmp_path, FILES, spec)
    await ws.open("modules/schema.nix")
    found = await client.workspace_symbol_async(
        types.WorkspaceSymbolParams(query="igl")
    )
    kinds = client_capabilities(spec).workspace.symbol.symbol_kind
    # Emacs lists no symbol kinds: a host shows as a namespace there.
    host = types.SymbolKind.Object if kinds else types.SymbolKind.Namespace
    assert [
        (s.name, s.kind, s.container_name, s.location.uri, _range(s.location.range))
        for s in found
    ] == [
        (
            "igloo",
            types.SymbolKind.Module,
            "den.aspects",
            ws.uri("modules/igloo.nix"),
            ((6, 14), (6, 19)),
        ),
        ("igloo", host, "den.hosts", ws.uri("modules/igloo.nix"), ((1, 25), (1, 30))),
        (
            "igloo.gpu",
            types.SymbolKind.Module,
            "den.aspects",
            ws.uri("modules/igloo.nix"),
            ((8, 4), (8, 7)),
        ),
    ]


async def test_workspace_symbols_follow_an_edit(client, tmp_path):
    ws = await start(client, tmp_path, FILES)
    uri = await ws.open("modules/schema.nix")
    text = (tmp_path / "modules/schema.nix").read_text().replace("vm-os", "vm-guest-os")
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )
    found = await client.workspace_symbol_async(
        types.WorkspaceSymbolParams(query="vmos")
    )
    assert [(s.name, s.kind) for s in found] == [
        ("vm-guest-os", types.SymbolKind.Class)
    ]
