"""Go to definition, find references and rename by den's names, across files.

Each workspace marks with ``⟪ ⟫`` exactly the places the test expects: the
references of the symbol under test, or where the cursor goes. Rename tests
apply the edits and compare the files with the expected text.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from den_lsp.features.navigation import (
    RenameError,
    definitions,
    prepare_rename,
    references,
    rename,
)
from lsp_workspace import as_marked, located, server_config, start
from nixfixture import apply_edits, project, strip_markers

FLAKE = {"flake.nix": "{ outputs = _: { }; }\n"}

# Every place that names the kind `guest`: its declaration, `resolve.to`, the
# resolve's binding key (the context key) and a policy argument.
KIND = {
    **FLAKE,
    "modules/guest-kind.nix": """{ ... }:
{
  den.schema.⟪guest⟫ = {
    isEntity = true;
    parent = "host";
  };
}
""",
    "modules/guest-policies.nix": """{ den, lib, ... }:
let
  inherit (den.lib.policy) resolve route;
in
{
  den.schema.host.includes = [ den.policies.host-guests ];

  den.policies.host-guests =
    { host, ... }:
    map (
      g: resolve.to.withIncludes "⟪guest⟫" [ den.policies.deliver-guest ] { ⟪guest⟫ = g; }
    ) (host.guestNames or [ ]);

  den.policies.deliver-guest =
    { ⟪guest⟫, ... }:
    [
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
}


def spans(found) -> list[tuple[str, tuple[int, int], tuple[int, int]]]:
    return [
        (s.path, (s.start_line, s.start_character), (s.end_line, s.end_character))
        for s in found
    ]


def at(marks, path: str, number: int = 0) -> tuple[str, int, int]:
    mark = [m for m in marks if m.path == path][number]
    return path, mark.start[0], mark.start[1]


# -- definition and references ------------------------------------------------------


def test_kind_references_are_every_place_that_names_it(tmp_path):
    proj, marks = project(tmp_path, KIND)

    found = references(proj, *at(marks, "modules/guest-policies.nix", 0))

    assert spans(found) == as_marked(marks)


def test_kind_references_without_the_declaration(tmp_path):
    proj, marks = project(tmp_path, KIND)

    found = references(proj, *at(marks, "modules/guest-kind.nix"), False)

    assert spans(found) == as_marked(marks[1:])


@pytest.mark.parametrize("use", [0, 1, 2])
def test_kind_definition_from_each_use(tmp_path, use):
    proj, marks = project(tmp_path, KIND)

    found = definitions(proj, *at(marks, "modules/guest-policies.nix", use))

    assert spans(found) == as_marked(marks[:1])


POLICY = {
    **FLAKE,
    "modules/policies.nix": """{ den, ... }:
{
  den.policies.⟪deliver-guest⟫ = { guest, ... }: [ ];
}
""",
    "modules/schema.nix": """{ den, config, ... }:
{
  den.schema.guest.includes = [ den.policies.⟪deliver-guest⟫ ];
  den.schema.user.excludes = [ config.den.policies.⟪deliver-guest⟫ ];
}
""",
}


def test_policy_definition_from_an_includes_list(tmp_path):
    proj, marks = project(tmp_path, POLICY)

    found = definitions(proj, *at(marks, "modules/schema.nix", 0))

    assert spans(found) == as_marked(marks[:1])


def test_policy_references_are_its_includes_and_excludes(tmp_path):
    proj, marks = project(tmp_path, POLICY)

    found = references(proj, *at(marks, "modules/policies.nix"))

    assert spans(found) == as_marked(marks)


# An aspect defined in two files, dotted and nested, and included from a third.
ASPECT = {
    **FLAKE,
    "modules/metrics.nix": """{ ... }:
{
  den.aspects.⟪node-metrics⟫.nixos.services.prometheus.exporters.node.enable = true;
}
""",
    "modules/metrics-firewall.nix": """{ ... }:
{
  den.aspects = {
    ⟪node-metrics⟫ = {
      nixos.services.prometheus.exporters.node.openFirewall = true;
    };
  };
}
""",
    "modules/berg.nix": """{ den, ... }:
{
  den.aspects.berg.includes = [ den.aspects.⟪node-metrics⟫ ];
}
""",
}


def test_aspect_definition_is_every_defining_file(tmp_path):
    proj, marks = project(tmp_path, ASPECT)

    found = definitions(proj, *at(marks, "modules/berg.nix"))

    assert spans(found) == as_marked([m for m in marks if m.path != "modules/berg.nix"])


def test_aspect_references(tmp_path):
    proj, marks = project(tmp_path, ASPECT)

    found = references(proj, *at(marks, "modules/metrics.nix"))

    assert spans(found) == as_marked(marks)


CLASS = {
    **FLAKE,
    "modules/classes.nix": """{ ... }:
{
  den.classes.⟪vm-os⟫.description = "A guest's own system";
}
""",
    "modules/use.nix": """{ den, ... }:
{
  den.aspects.cache-vm.⟪vm-os⟫.services.nix-serve.enable = true;
  den.policies.deliver = { guest, ... }: [
    (den.lib.policy.route {
      fromClass = "⟪vm-os⟫";
      intoClass = "nixos";
    })
  ];
}
""",
}


def test_class_definition_and_references(tmp_path):
    proj, marks = project(tmp_path, CLASS)

    assert spans(definitions(proj, *at(marks, "modules/use.nix", 1))) == as_marked(
        marks[:1]
    )
    assert spans(references(proj, *at(marks, "modules/use.nix", 0))) == as_marked(marks)


HOST = {
    **FLAKE,
    "modules/hosts.nix": """{ ... }:
{
  den.hosts.x86_64-linux.⟪igloo⟫ = {
    users.⟪tux⟫ = { };
  };
}
""",
    "modules/igloo.nix": """{ den, ... }:
{
  den.aspects.⟪igloo⟫ = {
    nixos.networking.hostName = "igloo";
    ⟪tux⟫.homeManager.programs.git.enable = true;
  };
  den.aspects.⟪tux⟫.homeManager.programs.fish.enable = true;
}
""",
}


def test_host_definition_is_its_aspect(tmp_path):
    proj, marks = project(tmp_path, HOST)

    found = definitions(proj, *at(marks, "modules/hosts.nix", 0))

    assert spans(found) == as_marked([marks[2]])


def test_host_aspect_references_include_the_host(tmp_path):
    proj, marks = project(tmp_path, HOST)

    found = references(proj, *at(marks, "modules/igloo.nix", 0))

    assert spans(found) == as_marked([marks[0], marks[2]])


def test_user_is_linked_to_its_aspects(tmp_path):
    proj, marks = project(tmp_path, HOST)

    found = definitions(proj, *at(marks, "modules/hosts.nix", 1))
    assert spans(found) == as_marked([marks[3], marks[4]])

    found = references(proj, *at(marks, "modules/igloo.nix", 2))
    assert spans(found) == as_marked([marks[1], marks[4]])


# -- rename ------------------------------------------------------------------------------

RENAME_KIND = {
    **FLAKE,
    "modules/kinds.nix": """{ ... }:
{
  den.schema.guest = {
    isEntity = true;
    parent = "host";
  };
  den.schema.guest.isolated = true;
}
""",
    "modules/policies.nix": """{ den, lib, ... }:
let
  inherit (den.lib.policy) resolve route;
in
{
  den.schema.host.includes = [ den.policies.host-guests ];

  den.policies.host-guests =
    { host, ... }:
    map (
      guest: resolve.to.withIncludes "guest" [ den.policies.deliver-guest ] { inherit guest; }
    ) (host.guestNames or [ ]);

  den.policies.deliver-guest =
    { guest, ... }@args:
    let
      inherit (guest) name;
      label = "${guest.name}-vm";
      ports = map (guest: guest.port) (args.guest.forwards or [ ]);
    in
    lib.optionals (args ? guest && !(args ? user)) [
      (route {
        fromClass = "nixos";
        intoClass = "nixos";
        path = [ "microvm" "vms" name "config" ];
        collectSubtree = true;
        appendToParent = true;
      })
    ];
}
""",
    "modules/aspects.nix": """{ den, ... }:
{
  den.aspects.cache-vm = { guest, ... }: {
    nixos.networking.hostName = guest.name;
  };
  den.aspects.berg.nixos = { guest ? null, ... }: { };
}
""",
}

RENAMED_KIND = {
    "modules/kinds.nix": """{ ... }:
{
  den.schema.vm = {
    isEntity = true;
    parent = "host";
  };
  den.schema.vm.isolated = true;
}
""",
    "modules/policies.nix": """{ den, lib, ... }:
let
  inherit (den.lib.policy) resolve route;
in
{
  den.schema.host.includes = [ den.policies.host-guests ];

  den.policies.host-guests =
    { host, ... }:
    map (
      guest: resolve.to.withIncludes "vm" [ den.policies.deliver-guest ] { vm = guest; }
    ) (host.guestNames or [ ]);

  den.policies.deliver-guest =
    { vm, ... }@args:
    let
      inherit (vm) name;
      label = "${vm.name}-vm";
      ports = map (guest: guest.port) (args.vm.forwards or [ ]);
    in
    lib.optionals (args ? vm && !(args ? user)) [
      (route {
        fromClass = "nixos";
        intoClass = "nixos";
        path = [ "microvm" "vms" name "config" ];
        collectSubtree = true;
        appendToParent = true;
      })
    ];
}
""",
    # The class module's `guest` is a module argument, not den's context.
    "modules/aspects.nix": """{ den, ... }:
{
  den.aspects.cache-vm = { vm, ... }: {
    nixos.networking.hostName = vm.name;
  };
  den.aspects.berg.nixos = { guest ? null, ... }: { };
}
""",
}


def renamed(tmp_path: Path, files: dict[str, str], edits) -> dict[str, str]:
    """The workspace's files (without markers) after applying ``edits``."""
    result = {}
    for name, text in files.items():
        clean, _ = strip_markers(name, text)
        mine = [e for e in edits if e.span.path == name]
        if mine:
            result[name] = apply_edits(clean, mine)
    return result


def cursor(files: dict[str, str], path: str, needle: str, nth: int = 0):
    """(path, line, character) of the ``nth`` occurrence of ``needle`` in ``path``."""
    text, _ = strip_markers(path, files[path])
    offset = -1
    for _ in range(nth + 1):
        offset = text.index(needle, offset + 1)
    before = text[:offset]
    return path, before.count("\n"), len(before) - (before.rfind("\n") + 1)


def test_rename_kind_renames_context_keys_and_argument_uses(tmp_path):
    proj, _ = project(tmp_path, RENAME_KIND)

    edits = rename(proj, *cursor(RENAME_KIND, "modules/kinds.nix", "guest"), "vm")

    assert renamed(tmp_path, RENAME_KIND, edits) == RENAMED_KIND


def test_rename_kind_from_a_policy_argument(tmp_path):
    proj, _ = project(tmp_path, RENAME_KIND)
    place = cursor(RENAME_KIND, "modules/policies.nix", "{ guest, ...")

    edits = rename(proj, place[0], place[1], place[2] + 2, "vm")

    assert renamed(tmp_path, RENAME_KIND, edits) == RENAMED_KIND


def test_prepare_rename_names_the_range_and_text(tmp_path):
    proj, marks = project(tmp_path, KIND)

    span, text = prepare_rename(proj, *at(marks, "modules/guest-policies.nix", 0))

    assert text == "guest"
    assert spans([span]) == as_marked([marks[1]])


def test_rename_policy_across_files(tmp_path):
    proj, _ = project(tmp_path, POLICY)

    edits = rename(proj, *cursor(POLICY, "modules/schema.nix", "deliver"), "guests")

    assert renamed(tmp_path, POLICY, edits) == {
        "modules/policies.nix": """{ den, ... }:
{
  den.policies.guests = { guest, ... }: [ ];
}
""",
        "modules/schema.nix": """{ den, config, ... }:
{
  den.schema.guest.includes = [ den.policies.guests ];
  den.schema.user.excludes = [ config.den.policies.guests ];
}
""",
    }


NESTED_ASPECTS = {
    **FLAKE,
    "modules/roles.nix": """{ den, ... }:
{
  den.aspects.roles.inference.includes = [ den.aspects.roles.gpu ];
  den.aspects.roles = {
    gpu.nixos.hardware.graphics.enable = true;
  };
}
""",
    "modules/berg.nix": """{ den, ... }:
{
  den.aspects.berg.includes = [ den.aspects.roles.inference ];
}
""",
}


def test_rename_aspect_path_element_renames_its_sub_aspects(tmp_path):
    proj, _ = project(tmp_path, NESTED_ASPECTS)

    edits = rename(proj, *cursor(NESTED_ASPECTS, "modules/berg.nix", "roles"), "jobs")

    assert renamed(tmp_path, NESTED_ASPECTS, edits) == {
        "modules/roles.nix": """{ den, ... }:
{
  den.aspects.jobs.inference.includes = [ den.aspects.jobs.gpu ];
  den.aspects.jobs = {
    gpu.nixos.hardware.graphics.enable = true;
  };
}
""",
        "modules/berg.nix": """{ den, ... }:
{
  den.aspects.berg.includes = [ den.aspects.jobs.inference ];
}
""",
    }


def test_rename_last_element_of_an_aspect_path(tmp_path):
    proj, _ = project(tmp_path, NESTED_ASPECTS)

    edits = rename(proj, *cursor(NESTED_ASPECTS, "modules/roles.nix", "gpu"), "cuda")

    assert renamed(tmp_path, NESTED_ASPECTS, edits) == {
        "modules/roles.nix": """{ den, ... }:
{
  den.aspects.roles.inference.includes = [ den.aspects.roles.cuda ];
  den.aspects.roles = {
    cuda.nixos.hardware.graphics.enable = true;
  };
}
""",
    }


def test_rename_class(tmp_path):
    proj, _ = project(tmp_path, CLASS)

    edits = rename(proj, *cursor(CLASS, "modules/classes.nix", "vm-os"), "vm-system")

    assert renamed(tmp_path, CLASS, edits) == {
        "modules/classes.nix": """{ ... }:
{
  den.classes.vm-system.description = "A guest's own system";
}
""",
        "modules/use.nix": """{ den, ... }:
{
  den.aspects.cache-vm.vm-system.services.nix-serve.enable = true;
  den.policies.deliver = { guest, ... }: [
    (den.lib.policy.route {
      fromClass = "vm-system";
      intoClass = "nixos";
    })
  ];
}
""",
    }


# -- refusals -----------------------------------------------------------------------------


def refusal(tmp_path, files, place, new_name="vm") -> str:
    proj, _ = project(tmp_path, files)
    with pytest.raises(RenameError) as raised:
        rename(proj, *place, new_name)
    return raised.value.message


def test_refuses_a_computed_kind_name(tmp_path):
    files = {
        **KIND,
        "modules/computed.nix": """{ den, ... }:
let
  kind = "guest";
in
{
  den.policies.more-guests = { host, ... }: [
    (den.lib.policy.resolve.to kind { guest = host; })
  ];
}
""",
    }

    message = refusal(tmp_path, files, cursor(files, "modules/guest-kind.nix", "guest"))

    assert message == (
        "`guest` is computed at modules/computed.nix:7 (`kind`), so den-lsp cannot "
        "rename it safely. Write the name there plainly, then rename."
    )


def test_refuses_a_built_in_kind(tmp_path):
    # The policy argument `{ host, ... }`: the cursor on `host`.
    place = cursor(KIND, "modules/guest-policies.nix", "{ host, ...")

    message = refusal(tmp_path, KIND, (place[0], place[1], place[2] + 2))

    assert message == (
        "`host` is one of den's built-in kinds; renaming it would break den's own "
        "policies."
    )


@pytest.mark.parametrize(
    ("new_name", "message"),
    [
        (
            "9lives",
            "`9lives` is not a valid kind name: use letters, digits, `_`, `-` and "
            "`'`, starting with a letter or `_`, and no Nix keyword.",
        ),
        (
            "let",
            "`let` is not a valid kind name: use letters, digits, `_`, `-` and "
            "`'`, starting with a letter or `_`, and no Nix keyword.",
        ),
        (
            "_vm",
            "`_vm` cannot name a kind: den.schema reserves names starting with `_`, "
            "and `kind` and `__functor`.",
        ),
        (
            "home",
            "`home` is already taken here (an existing kind, a reserved key or "
            "another argument of a renamed function); choose another name.",
        ),
    ],
)
def test_refuses_an_invalid_or_taken_name(tmp_path, new_name, message):
    place = cursor(KIND, "modules/guest-kind.nix", "guest")

    assert refusal(tmp_path, KIND, place, new_name) == message


def test_refuses_a_name_a_nearer_binding_would_capture(tmp_path):
    files = {
        **KIND,
        "modules/more.nix": """{ den, ... }:
{
  den.policies.name-guest = { guest, ... }:
    let
      vm = "microvm";
    in
    [ (den.lib.policy.include { name = "${vm}-${guest.name}"; }) ];
}
""",
    }

    message = refusal(tmp_path, files, cursor(files, "modules/guest-kind.nix", "guest"))

    assert message == (
        "`vm` is bound between the argument and its use at modules/more.nix:7, "
        "which would then read that binding instead; choose another name."
    )


def test_refuses_a_function_it_cannot_place(tmp_path):
    files = {
        **KIND,
        "modules/helper.nix": """{ den, ... }:
let
  guestModule = { guest, ... }: { networking.hostName = guest.name; };
in
{
  den.aspects.cache-vm.includes = [ guestModule ];
}
""",
    }

    message = refusal(tmp_path, files, cursor(files, "modules/guest-kind.nix", "guest"))

    assert message == (
        "`{ guest, ... }` at modules/helper.nix:3 is a function den-lsp cannot place "
        "(inside another function, or bound in a `let`, and not read as a policy), "
        "so it cannot tell whether `guest` there is den's context. Rename it by "
        "hand first."
    )


def test_refuses_when_the_argument_set_is_handed_on(tmp_path):
    files = {
        **KIND,
        "modules/on.nix": """{ den, lib, ... }:
{
  den.policies.pass-on = { guest, ... }@args: lib.optionals (check args) [ ];
}
""",
    }

    message = refusal(tmp_path, files, cursor(files, "modules/guest-kind.nix", "guest"))

    assert message == (
        "The policy at modules/on.nix:3 hands its whole argument set `args` on "
        "(modules/on.nix:3), and whatever receives it may read `guest` by name; "
        "den-lsp cannot follow it. Rename by hand."
    )


def test_refuses_a_string_it_does_not_read(tmp_path):
    files = {
        **CLASS,
        "modules/forward.nix": """{ den, ... }:
{
  den.aspects.cache-vm.includes = [
    (den.batteries.forward { fromClass = "vm-os"; intoClass = "nixos"; })
  ];
}
""",
    }

    message = refusal(tmp_path, files, cursor(files, "modules/classes.nix", "vm-os"))

    assert message == (
        "`vm-os` is also written at modules/forward.nix:4 (a string), where "
        "den-lsp cannot tell whether it names the same class. Change it by hand or "
        "make it a use den-lsp reads, then rename."
    )


def test_refuses_a_host_own_aspect(tmp_path):
    message = refusal(tmp_path, HOST, cursor(HOST, "modules/igloo.nix", "igloo"))

    assert message == (
        "`den.aspects.igloo` is the own aspect of host `igloo` (modules/hosts.nix:3); "
        "den finds it by that name, so renaming it would detach it."
    )


def test_refuses_a_host(tmp_path):
    message = refusal(tmp_path, HOST, cursor(HOST, "modules/hosts.nix", "igloo"))

    assert message == (
        "`igloo` is a host, and den finds its aspect `den.aspects.igloo` by the same "
        "name; den-lsp renames kinds, policies, aspects and classes only."
    )


def test_refuses_den_own_class_and_policy(tmp_path):
    files = {
        **FLAKE,
        "modules/x.nix": """{ den, ... }:
{
  den.schema.host.includes = [ den.policies.host-to-users ];
  den.aspects.berg.nixos = { };
}
""",
    }

    policy = refusal(tmp_path, files, cursor(files, "modules/x.nix", "host-to"))
    klass = refusal(tmp_path, files, cursor(files, "modules/x.nix", "nixos"))

    assert policy == (
        "`host-to-users` is one of den's built-in policies; it is defined by den, "
        "not in this workspace."
    )
    assert klass == (
        "`nixos` is one of den's built-in classes; den and its batteries read it by "
        "this name."
    )


def test_refuses_an_aspect_path_given_as_new_name(tmp_path):
    place = cursor(NESTED_ASPECTS, "modules/roles.nix", "gpu")

    message = refusal(tmp_path, NESTED_ASPECTS, place, "roles.cuda")

    assert message == (
        "`roles.cuda`: renaming an aspect changes the last element of its path; "
        "give one name (`gpu`), not a path."
    )


# -- through the protocol -------------------------------------------------------------------


@pytest_lsp.fixture(config=server_config())
async def client(lsp_client: LanguageClient):
    yield
    import asyncio; await asyncio.wait_for(lsp_client.shutdown_session(), 5)


async def test_definition_and_references_over_stdio(client, tmp_path):
    ws = await start(client, tmp_path, KIND)
    rel = "modules/guest-policies.nix"
    await ws.open(rel)

    found = await client.text_document_definition_async(
        types.DefinitionParams(
            text_document=ws.document(rel), position=ws.position(rel)
        )
    )
    assert [located(loc, tmp_path) for loc in found] == as_marked(ws.marks[:1])

    found = await client.text_document_references_async(
        types.ReferenceParams(
            text_document=ws.document(rel),
            position=ws.position(rel),
            context=types.ReferenceContext(include_declaration=False),
        )
    )
    assert [located(loc, tmp_path) for loc in found] == as_marked(ws.marks[1:])


async def test_rename_over_stdio_is_one_workspace_edit(client, tmp_path):
    ws = await start(client, tmp_path, RENAME_KIND)
    rel = "modules/kinds.nix"
    await ws.open(rel)
    _, line, character = cursor(RENAME_KIND, rel, "guest")
    position = types.Position(line=line, character=character)

    prepared = await client.text_document_prepare_rename_async(
        types.PrepareRenameParams(text_document=ws.document(rel), position=position)
    )
    edit = await client.text_document_rename_async(
        types.RenameParams(
            text_document=ws.document(rel), position=position, new_name="vm"
        )
    )

    assert prepared.placeholder == "guest"
    assert (prepared.range.start.line, prepared.range.start.character) == (2, 13)
    result = {}
    for uri, edits in edit.changes.items():
        path = located(types.Location(uri=uri, range=edits[0].range), tmp_path)[0]
        clean, _ = strip_markers(path, RENAME_KIND[path])
        lines = clean.split("\n")
        for e in sorted(
            edits, key=lambda e: (e.range.start.line, e.range.start.character)
        )[::-1]:
            first, last = e.range.start, e.range.end
            assert first.line == last.line
            text = lines[first.line]
            lines[first.line] = (
                text[: first.character] + e.new_text + text[last.character :]
            )
        result[path] = "\n".join(lines)
    assert result == RENAMED_KIND


async def test_rename_refusal_over_stdio_is_an_error_with_the_reason(client, tmp_path):
    ws = await start(client, tmp_path, HOST)
    rel = "modules/igloo.nix"
    await ws.open(rel)

    with pytest.raises(JsonRpcException) as raised:
        await client.text_document_prepare_rename_async(
            types.PrepareRenameParams(
                text_document=ws.document(rel), position=ws.position(rel)
            )
        )

    assert raised.value.code == types.LSPErrorCodes.RequestFailed
    assert raised.value.message.startswith("`den.aspects.igloo` is the own aspect")
