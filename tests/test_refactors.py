"""Refactors at a route and at a kind, applied and analysed again.

test_editor_features.py offers them over stdio; here each one is applied to
a workspace on disk, the result must parse, and the analysis of the result
is compared with what the refactor promises. "Move this route into the
delivered kind's includes" has its own module, test_move_route.py.
"""

from __future__ import annotations

from den_lsp.features.actions import REFACTOR, actions_at
from nixfixture import apply_edits, project
from test_move_route import FLAKE, actions, reanalysed

TITLES = (
    "Add `appendToParent = true`",
    "Add `collectScopeId`",
    "Convert `route` to `deliver`",
    "Mark kind `guest` isolated",
)


def applied(root, files, title, **settings) -> dict[str, str]:
    """Apply the refactor named ``title``; the changed files afterwards."""
    _, found = actions(root, files, **settings)
    [action] = [a for a in found if a.title == title]
    assert (action.kind, action.safe) == (REFACTOR, False)
    changed = {}
    for path in dict.fromkeys(e.span.path for e in action.edits):
        text = (root / path).read_text()
        changed[path] = apply_edits(
            text, [e for e in action.edits if e.span.path == path]
        )
        (root / path).write_text(changed[path])
    return changed


# A guest's own delivery route without appendToParent: the result stays in
# the isolated guest, where the host never reads it.
INSIDE_GUEST = {
    **FLAKE,
    "modules/guests.nix": """{ den, ... }:
let
  inherit (den.lib.policy) resolve route;
in
{
  den.schema.guest = { isEntity = true; isolated = true; };
  den.schema.host.includes = [ den.policies.host-guests ];
  den.policies.host-guests = { host, ... }:
    map (name: resolve.to.withIncludes "guest" [ den.policies.deliver-guest ] { guest = { inherit name; }; }) host.guestNames;
  den.policies.deliver-guest = { guest, ... }: [
    (⟪route⟫ { fromClass = "nixos"; intoClass = "nixos"; path = [ "microvm" "vms" guest.name "config" ]; reinstantiate = true; })
  ];
}
""",
}


def test_refactors_offered_at_a_route_inside_the_guest(tmp_path):
    _, found = actions(tmp_path, INSIDE_GUEST)
    assert [a.title for a in found] == [TITLES[0], TITLES[2]]


def test_add_append_to_parent(tmp_path):
    [changed] = applied(tmp_path, INSIDE_GUEST, TITLES[0]).values()
    assert changed.split("\n")[10] == (
        '    (route { fromClass = "nixos"; intoClass = "nixos"; path = [ "microvm" '
        '"vms" guest.name "config" ]; reinstantiate = true; appendToParent = true; })'
    )
    assert reanalysed(tmp_path) == []


def test_convert_route_to_deliver(tmp_path):
    [changed] = applied(tmp_path, INSIDE_GUEST, TITLES[2]).values()
    assert changed.split("\n")[10] == (
        '    (den.lib.policy.deliver { from = "nixos"; to = "nixos"; at = [ "microvm" '
        '"vms" guest.name "config" ]; mode = "verbatim"; })'
    )
    assert reanalysed(tmp_path) == []


# In the design profile a host-scope route names the scope it collects from.
AT_HOST = {
    **FLAKE,
    "modules/guests.nix": """{ den, ... }:
let
  inherit (den.lib.policy) resolve route;
in
{
  den.schema.guest = { isEntity = true; isolated = true; };
  den.schema.host.includes = [ den.policies.host-guests den.policies.deliver ];
  den.policies.host-guests = { host, ... }:
    map (name: resolve.to.withIncludes "guest" [ ] { guest = { inherit name; }; }) host.guestNames;
  den.policies.deliver = { host, ... }: [
    (⟪route⟫ { fromClass = "nixos"; intoClass = "nixos"; path = [ "microvm" "vms" "web" "config" ]; collectSubtree = true; })
  ];
}
""",
}


def test_add_collect_scope_id_in_the_design_profile(tmp_path):
    design = {"profile": "isolation-design"}
    proj, _ = actions(tmp_path, AT_HOST, **design)
    assert [f.code for fs in proj.findings().values() for f in fs] == [
        "den/delivery-self-collect"
    ]
    [changed] = applied(tmp_path, AT_HOST, TITLES[1], **design).values()
    assert changed.split("\n")[10].endswith(
        ' collectSubtree = true; collectScopeId = "guest"; })'
    )
    proj, _ = project(tmp_path, {}, **design)
    assert [f.code for fs in proj.findings().values() for f in fs] == []


# A kind named at a resolve, declared in another file and not isolated.
LEAKING = {
    **FLAKE,
    "modules/schema.nix": """{ den, ... }: {
  den.schema.guest.isEntity = true;
}
""",
    "modules/guests.nix": """{ den, ... }:
let
  inherit (den.lib.policy) resolve route;
in
{
  den.schema.host.includes = [ den.policies.host-guests ];
  den.policies.host-guests = { host, ... }:
    map (name: resolve.to.withIncludes ⟪"guest"⟫ [ den.policies.deliver-guest ] { guest = { inherit name; }; }) host.guestNames;
  den.policies.deliver-guest = { guest, ... }: [
    (route { fromClass = "nixos"; intoClass = "nixos"; path = [ "microvm" "vms" guest.name "config" ]; collectSubtree = true; appendToParent = true; reinstantiate = true; })
  ];
}
""",
}


def test_mark_kind_isolated_from_a_resolve_edits_the_declaration(tmp_path):
    proj, _ = actions(tmp_path, LEAKING)
    assert [(f.code, f.span.path) for fs in proj.findings().values() for f in fs] == [
        ("den/isolation-leak", "modules/schema.nix")
    ]
    assert applied(tmp_path, LEAKING, TITLES[3]) == {
        "modules/schema.nix": """{ den, ... }: {
  den.schema.guest.isEntity = true;
  den.schema.guest.isolated = true;
}
"""
    }
    assert reanalysed(tmp_path) == []


def test_no_refactor_away_from_routes_and_kinds(tmp_path):
    proj, _ = actions(tmp_path, INSIDE_GUEST)
    assert actions_at(proj, "modules/guests.nix", 0, 0) == []
