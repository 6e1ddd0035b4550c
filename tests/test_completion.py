"""Completion of den's names and fields, at the function layer and over stdio.

Every case is a file typed into a small configuration (``BASE``). Its
``⟪ ⟫`` marks the text the completion replaces; the cursor sits at the
mark's end. Each case names the exact labels den-lsp offers, best first.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities

from den_lsp.features.completion import (
    DELIVER_FIELD_DOCS,
    FORWARD_FIELD_DOC,
    ROUTE_FIELD_DOCS,
    SCHEMA_FIELD_DOCS,
    completion_list,
    completions_at,
)
from den_lsp.features.hover import plain_text
from lsp_workspace import server_config, start
from nixfixture import project, strip_markers

# A response that breaks the client's capabilities fails the test.
pytestmark = pytest.mark.filterwarnings(
    "error::pytest_lsp.checks.LspSpecificationWarning"
)

TYPED = "modules/typing.nix"

BASE = {
    "flake.nix": "{ outputs = _: { }; }\n",
    "modules/schema.nix": """{ den, ... }: {
  den.schema.guest = {
    isEntity = true;
    parent = "host";
    isolated = true;
  };
  den.schema.host.includes = [ den.policies.host-guests ];
  den.classes.vm-os = { };
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
      reinstantiate = true;
    })
  ];
}
""",
    "modules/aspects.nix": """{ den, ... }: {
  den.hosts.x86_64-linux.igloo.users.tux = { };
  den.aspects.igloo.nixos = { };
  den.aspects.roles.gpu.nixos = { };
  den.aspects.roles.web.darwin = { };
}
""",
}

# Declared in the workspace first, then den's own, each by name.
KINDS = [
    "guest",
    "flake",
    "flake-parts",
    "flake-system",
    "fleet",
    "home",
    "host",
    "user",
]
CLASSES = [
    "vm-os",
    "apps",
    "checks",
    "darwin",
    "devShells",
    "flake",
    "flake-parts",
    "hjem",
    "homeManager",
    "legacyPackages",
    "maid",
    "nixos",
    "os",
    "packages",
    "systemManager",
    "user",
    "wsl",
]
POLICIES = [
    "deliver-guest",
    "host-guests",
    "apps-to-flake",
    "checks-to-flake",
    "devShells-to-flake",
    "flake-to-systems",
    "host-to-users",
    "host-to-wsl-host",
    "legacyPackages-to-flake",
    "os-to-host",
    "packages-to-flake",
    "packages-to-flake-parts",
    "system-to-flake-parts",
    "system-to-hm-outputs",
    "system-to-os-outputs",
    "user-to-host",
    "wsl-to-host",
]
ASPECTS = ["igloo", "igloo.tux", "roles.gpu", "roles.web", "tux"]
# Route fields den documents for users, then those its forwards set.
FORWARD_FIELDS = [
    "__complexForward",
    "adaptArgv",
    "adapterKey",
    "adapterModule",
    "freeformMod",
    "guardArgs",
    "intoPathArgs",
    "intoPathFn",
    "mapModule",
    "sourceAspect",
    "sourceScopeId",
    "staticIntoPath",
]
ROUTE_FIELDS = [
    "adaptArgs",
    "appendToParent",
    "collectSubtree",
    "guard",
    "instantiate",
    "intoClass",
    "intoPath",
    "path",
    "reinstantiate",
    *FORWARD_FIELDS,
]
DESIGN_ROUTE_FIELDS = [
    "adaptArgs",
    "collectScopeId",
    "collectSubtree",
    "guard",
    "instantiate",
    "intoClass",
    "intoPath",
    "path",
    *FORWARD_FIELDS,
]


def _module(body: str) -> str:
    return (
        "{ den, ... }:\nlet\n  inherit (den.lib.policy) resolve route;\nin\n{\n"
        f"{body}\n}}\n"
    )


def complete(root: Path, text: str, **settings):
    """(completions, replaced range) for ``text`` typed as modules/typing.nix."""
    proj, marks = project(root, {**BASE, TYPED: text}, **settings)
    [mark] = [m for m in marks if m.path == TYPED]
    found = completions_at(proj, TYPED, *mark.end)
    return found, (mark.start, mark.end)


def replaced(completion) -> tuple[tuple[int, int], tuple[int, int]]:
    r = completion.replace
    return (r.start_line, r.start_character), (r.end_line, r.end_character)


def labels(root: Path, text: str, **settings) -> list[str]:
    """The labels offered; each replaces exactly the marked text."""
    found, mark = complete(root, text, **settings)
    assert [replaced(c) for c in found] == [mark] * len(found)
    return [c.label for c in found]


# -- kind names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        '  den.policies.p = { host, ... }: [ (resolve.to "⟪⟫") ];',
        '  den.policies.p = { host, ... }: [ (resolve.to "⟪gu⟫") ];',
        '  den.policies.p = { host, ... }: [ (resolve.to.withIncludes "⟪⟫" [ ]) ];',
        '  den.policies.p = { host, ... }: [ (den.lib.policy.resolve.shared.to "⟪⟫") ];',
    ],
)
def test_kind_names_after_resolve_to(tmp_path, typed):
    assert labels(tmp_path, _module(typed)) == KINDS


@pytest.mark.parametrize(
    "typed",
    [
        '  den.schema.vm = { isEntity = true; parent = "⟪⟫"; };',
        '  den.schema.vm.parent = "⟪ho⟫";',
        '  config.den.schema.vm = { parent = "⟪⟫"; };',
    ],
)
def test_kind_names_in_parent_leave_out_the_kind_itself(tmp_path, typed):
    assert labels(tmp_path, _module(typed)) == KINDS


def test_no_kind_names_in_a_parent_that_is_not_a_kind_field(tmp_path):
    typed = '  den.aspects.igloo.nixos.services.foo.parent = "⟪⟫";'
    assert labels(tmp_path, _module(typed)) == []


def test_kind_names_after_den_schema(tmp_path):
    assert labels(tmp_path, _module("  den.schema.⟪⟫")) == KINDS
    assert labels(tmp_path, _module("  den.schema = { ⟪gu⟫ };")) == KINDS


# -- class names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        '(route { fromClass = "⟪⟫"; })',
        '(route { fromClass = "nixos"; intoClass = "⟪ni⟫"; })',
        '(den.lib.policy.deliver { from = "⟪⟫"; })',
        '(den.lib.policy.deliver { from = "nixos"; to = "⟪⟫"; })',
        '(den.lib.policy.provide { class = "⟪⟫"; module = { }; })',
    ],
)
def test_class_names_in_route_and_deliver_fields(tmp_path, typed):
    text = _module(f"  den.policies.p = {{ host, ... }}: [ {typed} ];")
    assert labels(tmp_path, text) == CLASSES


def test_from_and_to_name_classes_only_in_deliver(tmp_path):
    text = _module('  den.aspects.igloo.nixos.services.relay = { from = "⟪⟫"; };')
    assert labels(tmp_path, text) == []


def test_class_names_as_aspect_keys(tmp_path):
    # `nixos` is written already; `tux` is the key for user `tux` of `igloo`,
    # written inside the set of `den.aspects.igloo`.
    found, mark = complete(
        tmp_path, _module("  den.aspects.igloo = { nixos = { }; ⟪⟫ };")
    )
    expected = [(c, mark) for c in CLASSES if c != "nixos"]
    expected += [("tux", mark)]
    assert [(c.label, replaced(c)) for c in found] == expected
    assert found[-1].documentation.startswith("**aspect `den.aspects.igloo.tux`**")


def test_sub_aspects_replace_the_path_written_so_far(tmp_path):
    found, mark = complete(tmp_path, _module("  den.aspects.roles.⟪da⟫"))
    path_start = (mark[0][0], mark[0][1] - len("roles."))
    assert [(c.label, replaced(c)) for c in found] == [
        *((c, mark) for c in CLASSES),
        ("roles.gpu", (path_start, mark[1])),
        ("roles.web", (path_start, mark[1])),
    ]


def test_class_names_in_den_default(tmp_path):
    assert labels(tmp_path, _module("  den.default.⟪⟫")) == CLASSES


def test_no_class_names_inside_a_class_key(tmp_path):
    assert labels(tmp_path, _module("  den.aspects.igloo.nixos.⟪⟫")) == []


# -- route and deliver fields ----------------------------------------------------------------


def test_route_fields_of_the_isolation_profile_with_documentation(tmp_path):
    text = _module(
        '  den.policies.p = { host, ... }: [ (route { fromClass = "nixos"; ⟪⟫ }) ];'
    )
    found, _ = complete(tmp_path, text)
    assert [c.label for c in found] == ROUTE_FIELDS
    docs = {c.label: c.documentation for c in found}
    assert docs["appendToParent"] == (
        "Append the result at the parent of the scope where the policy fires "
        "instead of that scope itself: how an isolated kind's content reaches "
        "its parent."
    )
    assert docs["sourceAspect"] == FORWARD_FIELD_DOC
    for name in ROUTE_FIELDS:
        assert docs[name] == ROUTE_FIELD_DOCS.get(name, FORWARD_FIELD_DOC)
    assert {c.detail for c in found} == {"route field"}


def test_route_fields_of_the_design_profile(tmp_path):
    text = _module(
        '  den.policies.p = { host, ... }: [ (route { fromClass = "nixos"; ⟪⟫ }) ];'
    )
    assert labels(tmp_path, text, profile="isolation-design") == DESIGN_ROUTE_FIELDS


def test_no_route_fields_before_policies(tmp_path):
    text = _module("  den.policies.p = { host, ... }: [ (route { ⟪⟫ }) ];")
    assert labels(tmp_path, text, profile="ctx") == []


def test_deliver_fields_with_documentation(tmp_path):
    text = _module(
        "  den.policies.p = { host, ... }: [\n"
        '    (den.lib.policy.deliver { from = "nixos"; ⟪⟫ })\n'
        "  ];"
    )
    found, _ = complete(tmp_path, text)
    assert [c.label for c in found] == ["adaptArgs", "at", "guard", "mode", "to"]
    assert {c.label: c.documentation for c in found} == {
        name: DELIVER_FIELD_DOCS[name]
        for name in ("adaptArgs", "at", "guard", "mode", "to")
    }
    assert found[1].documentation == (
        "The path in `to` where the result lands; `[ ]` (the default) merges it."
    )


def test_no_deliver_fields_where_the_profile_has_no_deliver(tmp_path):
    text = _module(
        "  den.policies.p = { host, ... }: [ (den.lib.policy.deliver { ⟪⟫ }) ];"
    )
    assert labels(tmp_path, text, profile="isolation-design") == []


def test_a_field_name_whose_binding_follows_gets_no_snippet(tmp_path):
    before = _module(
        '  den.policies.p = { host, ... }: [ (route { ⟪into⟫ = "nixos"; }) ];'
    )
    found, _ = complete(tmp_path, before)
    assert {c.label: c.snippet for c in found}["intoClass"] is None
    fresh = _module("  den.policies.p = { host, ... }: [ (route { ⟪⟫ }) ];")
    found, _ = complete(tmp_path, fresh)
    snippets = {c.label: c.snippet for c in found}
    assert snippets["intoClass"] == 'intoClass = "$1";$0'
    assert snippets["path"] == "path = [ $1 ];$0"
    assert snippets["appendToParent"] == "appendToParent = ${1:true};$0"
    assert snippets["guard"] == "guard = $1;$0"


# -- den.schema fields ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "  den.schema.vm = { isEntity = true; ⟪⟫ };",
        "  den.schema.vm.isEntity = true;\n  den.schema.vm.⟪⟫",
        "  den.schema.vm.isEntity = true;\n  den.schema.vm.⟪is⟫",
    ],
)
def test_schema_fields_not_yet_written(tmp_path, typed):
    found, mark = complete(tmp_path, _module(typed))
    assert [c.label for c in found] == ["excludes", "includes", "isolated", "parent"]
    assert [replaced(c) for c in found] == [mark] * 4
    assert found[2].documentation == SCHEMA_FIELD_DOCS["isolated"]
    assert found[2].documentation.startswith(
        "Keep this kind's content out of its ancestors"
    )
    assert found[2].snippet == "isolated = ${1:true};$0"


def test_every_schema_field_on_a_new_kind(tmp_path):
    assert labels(tmp_path, _module("  den.schema.vm = { ⟪⟫ };")) == [
        "excludes",
        "includes",
        "isEntity",
        "isolated",
        "parent",
    ]


# -- policy and aspect names ----------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "  den.schema.guest.includes = [ den.policies.⟪⟫ ];",
        "  den.schema.guest.includes = [ den.policies.⟪ho⟫ ];",
        "  den.schema.guest.excludes = [ config.den.policies.⟪⟫ ];",
    ],
)
def test_policy_names_after_den_policies(tmp_path, typed):
    assert labels(tmp_path, _module(typed)) == POLICIES


def test_own_policies_carry_their_hover(tmp_path):
    text = _module("  den.schema.guest.includes = [ den.policies.⟪⟫ ];")
    found, _ = complete(tmp_path, text)
    assert found[1].label == "host-guests"
    assert found[1].documentation.startswith(
        "**policy `host-guests`**\n\nFires at: `host`"
    )
    assert found[2].documentation is None  # den's own: no declaration to summarise


def test_aspect_paths_after_den_aspects(tmp_path):
    text = _module("  den.aspects.igloo.includes = [ den.aspects.⟪⟫ ];")
    assert labels(tmp_path, text) == ASPECTS


def test_a_long_list_of_aspects_is_cut_to_those_holding_the_typed_word(tmp_path):
    many = "\n".join(f"  den.aspects.svc-{n:03d}.nixos = {{ }};" for n in range(300))
    files = {**BASE, "modules/many.nix": f"{{ den, ... }}: {{\n{many}\n}}\n"}
    every = ["svc-%03d" % n for n in range(300)]
    for typed in ("", "s1", "svc-2", "T"):
        in_order = re.compile(".*".join(re.escape(c) for c in typed.lower()))
        expected = [a for a in ASPECTS + every if in_order.search(a)]
        text = _module(f"  den.aspects.igloo.includes = [ den.aspects.⟪{typed}⟫ ];")
        proj, marks = project(tmp_path, {**files, TYPED: text})
        [mark] = [m for m in marks if m.path == TYPED]
        whole = [c.label for c in completions_at(proj, TYPED, *mark.end)]
        assert whole == sorted(ASPECTS + every)
        found, left_out = completion_list(proj, TYPED, *mark.end, limit=50)
        assert [c.label for c in found] == sorted(expected)[:50]
        assert left_out
        found, left_out = completion_list(proj, TYPED, *mark.end, limit=400)
        assert [c.label for c in found] == whole
        assert not left_out


def test_aspect_paths_below_a_written_element(tmp_path):
    found, mark = complete(
        tmp_path, _module("  den.aspects.igloo.includes = [ den.aspects.roles.⟪g⟫ ];")
    )
    path_start = (mark[0][0], mark[0][1] - len("roles."))
    assert [(c.label, replaced(c)) for c in found] == [
        ("roles.gpu", (path_start, mark[1])),
        ("roles.web", (path_start, mark[1])),
    ]


# -- where nothing is offered ----------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        '  # resolve.to "⟪⟫',
        '  den.policies.p = { host, ... }: [ (resolve.to "a b⟪⟫") ];',
        "  den.policies.p = { host, ... }: [ (route { fromClass = ⟪⟫ }) ];",
        "  den.hosts.x86_64-linux.igloo.⟪⟫",
        "  den.policies.p = { ⟪⟫ }: [ ];",
    ],
)
def test_nothing_where_no_den_name_fits(tmp_path, typed):
    assert labels(tmp_path, _module(typed)) == []


def test_ranges_count_utf16_code_units(tmp_path):
    # A crab is two UTF-16 code units and four UTF-8 bytes.
    text = _module('  den.policies.p = { host, ... }: [ /*🦀*/ (resolve.to "⟪gu⟫") ];')
    found, mark = complete(tmp_path, text)
    line = text.split("\n")[5]
    start = line.index('"⟪gu') + 1 + 1  # after the quote, plus the crab's second unit
    assert mark == ((5, start), (5, start + 2))
    assert [replaced(c) for c in found] == [mark] * len(KINDS)


# -- through the protocol -------------------------------------------------------------------


@pytest_lsp.fixture(config=server_config())
async def client(lsp_client: LanguageClient):
    yield
    # A test that failed may leave the session unable to shut down cleanly.
    await asyncio.wait_for(lsp_client.shutdown_session(), 5)


TYPING = _module(
    "  den.policies.p = { host, ... }: [\n"
    '    (resolve.to "⟪gu⟫")\n'
    "    (route { ⟪⟫ })\n"
    "  ];"
)


async def _complete(client, ws, number: int) -> types.CompletionList:
    mark = ws.mark(TYPED, number)
    return await client.text_document_completion_async(
        types.CompletionParams(
            text_document=ws.document(TYPED),
            position=types.Position(line=mark.end[0], character=mark.end[1]),
        )
    )


def _range(edit_range: types.Range) -> tuple[tuple[int, int], tuple[int, int]]:
    return (
        (edit_range.start.line, edit_range.start.character),
        (edit_range.end.line, edit_range.end.character),
    )


def _documentation(item: types.CompletionItem, formats) -> str:
    """The item's documentation, checked to be in a format the client reads.

    Markdown where the client lists it, plain text where it lists only that,
    and a plain string where it lists none (Emacs' eglot).
    """
    if types.MarkupKind.Markdown in formats:
        assert item.documentation.kind == types.MarkupKind.Markdown
        return item.documentation.value
    if formats:
        assert item.documentation.kind == types.MarkupKind.PlainText
        return item.documentation.value
    assert isinstance(item.documentation, str)
    return item.documentation


@pytest.mark.parametrize("spec", ["visual-studio-code", "neovim", "emacs"])
async def test_completion_over_stdio_respects_the_client(client, tmp_path, spec):
    ws = await start(client, tmp_path, {**BASE, TYPED: TYPING}, spec)
    await ws.open(TYPED)
    capabilities = client_capabilities(spec).text_document.completion
    item_support = capabilities.completion_item
    formats = (item_support.documentation_format if item_support else None) or ()
    snippets = bool(item_support and item_support.snippet_support)
    kinds = capabilities.completion_item_kind
    known_kinds = (
        set(kinds.value_set) if kinds and kinds.value_set else set(range(1, 19))
    )

    kind_list = await _complete(client, ws, 0)
    assert kind_list.is_incomplete is False
    assert [i.label for i in kind_list.items] == KINDS
    mark = ws.mark(TYPED, 0)
    for item in kind_list.items:
        assert _range(item.text_edit.range) == (mark.start, mark.end)
        assert item.text_edit.new_text == item.label
        assert item.insert_text_format is None
        assert item.kind in known_kinds
    guest = kind_list.items[0]
    assert guest.detail == "kind, isolated, parent host"
    # Emacs lists no completion item kinds: a kind shows as a class there.
    assert guest.kind == (
        types.CompletionItemKind.Struct
        if spec != "emacs"
        else types.CompletionItemKind.Class
    )
    first_line = "**kind `guest`** — entity, isolated"
    assert _documentation(guest, formats).split("\n")[0] == (
        first_line if types.MarkupKind.Markdown in formats else plain_text(first_line)
    )

    field_list = await _complete(client, ws, 1)
    assert [i.label for i in field_list.items] == [
        *ROUTE_FIELDS[:3],
        "fromClass",
        *ROUTE_FIELDS[3:],
    ]
    [into] = [i for i in field_list.items if i.label == "intoClass"]
    assert into.kind == types.CompletionItemKind.Field
    mark = ws.mark(TYPED, 1)
    assert _range(into.text_edit.range) == (mark.start, mark.end)
    if snippets:
        assert into.insert_text_format == types.InsertTextFormat.Snippet
        assert into.text_edit.new_text == 'intoClass = "$1";$0'
    else:
        assert into.insert_text_format is None
        assert into.text_edit.new_text == "intoClass"
    assert _documentation(into, formats) == (
        ROUTE_FIELD_DOCS["intoClass"]
        if types.MarkupKind.Markdown in formats
        else plain_text(ROUTE_FIELD_DOCS["intoClass"])
    )


async def test_completion_after_an_edit_over_stdio(client, tmp_path):
    ws = await start(client, tmp_path, {**BASE, TYPED: _module("")})
    uri = await ws.open(TYPED)
    text, marks = strip_markers(
        TYPED, _module("  den.schema.guest.includes = [ den.policies.⟪⟫ ];")
    )
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )
    result = await client.text_document_completion_async(
        types.CompletionParams(
            text_document=ws.document(TYPED),
            position=types.Position(line=marks[0].end[0], character=marks[0].end[1]),
            context=types.CompletionContext(
                trigger_kind=types.CompletionTriggerKind.TriggerCharacter,
                trigger_character=".",
            ),
        )
    )
    assert [i.label for i in result.items] == POLICIES
    assert {i.kind for i in result.items} == {types.CompletionItemKind.Function}


async def test_trigger_characters_are_advertised(client, tmp_path):
    ws = await start(client, tmp_path, BASE)
    provider = ws.initialized.capabilities.completion_provider
    assert list(provider.trigger_characters) == [".", '"']
