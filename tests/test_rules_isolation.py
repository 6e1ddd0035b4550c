"""Isolation and delivery rules: configs that must warn and configs that must not."""

from __future__ import annotations

from pathlib import Path

import pytest

from nixfixture import apply_edits, findings, located

HOST_POLICY = """{ den, lib, ... }:
let inherit (den.lib.policy) resolve; in {
  den.schema.host.includes = [ den.policies.host-guests ];
  den.policies.host-guests = { host, ... }:
    lib.mapAttrsToList
      (name: guest: resolve.to.withIncludes "guest" [ den.policies.deliver-guest ] { guest = guest // { inherit name; }; })
      (host.guests or { });
}
"""

DELIVER_CORRECT = """{ den, lib, ... }: {
  den.policies.deliver-guest = { host, guest, ... }@args:
    lib.optionals (!(args ? user)) [
      (den.lib.policy.route {
        fromClass = "nixos";
        intoClass = "nixos";
        path = [ "microvm" "vms" guest.name "config" ];
        collectSubtree = true;
        appendToParent = true;
        reinstantiate = true;
      })
    ];
}
"""


def codes(found):
    return [f.code for f in found]


def test_isolation_leak_on_a_delivered_guest_kind(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        {
            "schema.nix": """{ den, ... }: {
  den.schema.⟪guest⟫ = {
    isEntity = true;
    parent = "host";
  };
}
""",
            "host.nix": HOST_POLICY,
            "deliver.nix": DELIVER_CORRECT,
        },
    )
    [leak] = found
    assert located(leak) == (
        "den/isolation-leak",
        "schema.nix",
        marks[0].start,
        marks[0].end,
    )
    assert leak.severity.value == "warning"
    assert leak.message.startswith(
        'Kind `guest` is created under `host` scopes (`resolve.to "guest"` at host.nix:6) '
        "and delivered to `microvm.vms.<name>.config` by the route at deliver.nix:4, "
        "but it is not isolated."
    )
    assert leak.message.endswith("Add `isolated = true;` to `den.schema.guest`.")
    [fix] = leak.fixes
    assert (fix.title, fix.safe) == ("Mark kind `guest` isolated", True)
    fixed = apply_edits((tmp_path / "schema.nix").read_text(), fix.edits)
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
    (tmp_path / "schema.nix").write_text(fixed)
    assert findings(tmp_path, {})[0] == []


def test_isolation_leak_fix_keeps_dotted_style(tmp_path: Path):
    found, _ = findings(
        tmp_path,
        {
            "schema.nix": """{ den, ... }: {
  den.schema.guest.isEntity = true;
  den.schema.guest.parent = "host";
}
""",
            "host.nix": HOST_POLICY,
            "deliver.nix": DELIVER_CORRECT,
        },
    )
    [leak] = found
    fixed = apply_edits((tmp_path / "schema.nix").read_text(), leak.fixes[0].edits)
    assert (
        fixed
        == """{ den, ... }: {
  den.schema.guest.isEntity = true;
  den.schema.guest.isolated = true;
  den.schema.guest.parent = "host";
}
"""
    )


@pytest.mark.parametrize(
    "schema",
    [
        # isolated, in any style
        "{ den, ... }: { den.schema.guest = { isEntity = true; isolated = true; }; }",
        "{ den, lib, ... }: { den.schema.guest = lib.mkMerge [ { isEntity = true; } { isolated = true; } ]; }",
        # isolation cannot be read: stay silent
        "{ den, cfg, ... }: { den.schema.guest = { isEntity = true; isolated = cfg.iso; }; }",
    ],
    ids=["isolated", "isolated-mkMerge", "isolated-unknown"],
)
def test_no_leak_when_isolated_or_unknown(tmp_path: Path, schema: str):
    found, _ = findings(
        tmp_path,
        {"schema.nix": schema, "host.nix": HOST_POLICY, "deliver.nix": DELIVER_CORRECT},
    )
    assert codes(found) == []


def test_no_leak_for_a_kind_created_outside_host_scope(tmp_path: Path):
    # An `environment` kind resolved from the flake side is a grouping scope,
    # not a child system of a host.
    found, _ = findings(
        tmp_path,
        {
            "env.nix": """{ den, ... }: {
  den.schema.environment = { isEntity = true; };
  den.schema.flake-system.includes = [ den.policies.to-env ];
  den.policies.to-env = { system, ... }: [
    (den.lib.policy.resolve.to.withIncludes "environment" [ den.policies.env-route ] { environment = { }; })
  ];
  den.policies.env-route = { environment, ... }: [
    (den.lib.policy.route { fromClass = "nixos"; intoClass = "nixos"; path = [ "env" ]; })
  ];
}
""",
        },
    )
    assert codes(found) == []


def test_no_leak_without_delivery_evidence(tmp_path: Path):
    # A child kind whose content is composed into the host (no delivery
    # route) is not a delivered system.
    found, _ = findings(
        tmp_path,
        {
            "schema.nix": "{ den, ... }: { den.schema.guest = { isEntity = true; }; }",
            "host.nix": HOST_POLICY.replace("[ den.policies.deliver-guest ]", "[ ]"),
        },
    )
    assert codes(found) == []


DELIVER_DROPPED = """{ den, lib, ... }: {
  den.policies.deliver-guest = { host, guest, ... }@args:
    lib.optionals (!(args ? user)) [
      (⟪den.lib.policy.route⟫ {
        fromClass = "nixos";
        intoClass = "nixos";
        path = [ "microvm" "vms" guest.name "config" ];
        collectSubtree = true;
        reinstantiate = true;
      })
    ];
}
"""


def test_delivery_dropped_inside_isolated_kind(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        {
            "schema.nix": '{ den, ... }: { den.schema.guest = { isEntity = true; isolated = true; parent = "host"; }; }',
            "host.nix": HOST_POLICY,
            "deliver.nix": DELIVER_DROPPED,
        },
    )
    [dropped] = found
    assert located(dropped) == (
        "den/delivery-dropped",
        "deliver.nix",
        marks[0].start,
        marks[0].end,
    )
    assert dropped.message == (
        "This route fires inside isolated kind `guest` (policy `deliver-guest`) and "
        "collects its subtree, but appends the result to the `guest` scope itself. The "
        "`host` extraction skips isolated scopes, so the delivered content is silently "
        "dropped. Add `appendToParent = true;` so the result lands at the parent."
    )
    [fix] = dropped.fixes
    assert fix.title == "Append this route's result to the parent scope"
    fixed = apply_edits((tmp_path / "deliver.nix").read_text(), fix.edits)
    assert (
        "        reinstantiate = true;\n        appendToParent = true;\n      })"
        in fixed
    )
    (tmp_path / "deliver.nix").write_text(fixed)
    assert findings(tmp_path, {})[0] == []


def test_delivery_dropped_design_profile_suggests_collect_scope_id(tmp_path: Path):
    found, _ = findings(
        tmp_path,
        {
            "schema.nix": '{ den, ... }: { den.schema.guest = { isEntity = true; isolated = true; parent = "host"; }; }',
            "host.nix": HOST_POLICY,
            "deliver.nix": DELIVER_DROPPED.replace(
                "reinstantiate = true;", "collectSubtree = true;"
            ).replace(
                "collectSubtree = true;\n        collectSubtree", "collectSubtree"
            ),
        },
        profile="isolation-design",
    )
    [dropped] = [f for f in found if f.code == "den/delivery-dropped"]
    assert (
        dropped.fixes[0].title == "Collect from the `guest` scope with `collectScopeId`"
    )
    assert dropped.fixes[0].safe is False
    assert dropped.fixes[0].edits[0].new_text == '\n        collectScopeId = "guest";'


@pytest.mark.parametrize(
    "route_fields",
    [
        "collectSubtree = true; appendToParent = true;",
        # not a subtree collection: only the guest's own bucket
        "appendToParent = true;",
        # appendToParent computed: cannot tell
        "collectSubtree = true; appendToParent = guest.deliver or true;",
    ],
    ids=["append-to-parent", "no-subtree", "unknown"],
)
def test_no_delivery_dropped(tmp_path: Path, route_fields: str):
    found, _ = findings(
        tmp_path,
        {
            "schema.nix": "{ den, ... }: { den.schema.guest = { isEntity = true; isolated = true; }; }",
            "host.nix": HOST_POLICY,
            "deliver.nix": f"""{{ den, ... }}: {{
  den.policies.deliver-guest = {{ guest, ... }}: [
    (den.lib.policy.route {{ fromClass = "nixos"; intoClass = "nixos"; path = [ "microvm" "vms" guest.name "config" ]; reinstantiate = true; {route_fields} }})
  ];
}}""",
        },
    )
    assert codes(found) == []


def test_delivery_self_collect_at_host(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        {
            "host.nix": """{ den, lib, ... }: {
  den.schema.host.includes = [ den.policies.deliver-from-host ];
  den.policies.deliver-from-host = { host, ... }:
    map (name: ⟪den.lib.policy.route⟫ {
      fromClass = "nixos";
      intoClass = "nixos";
      path = [ "microvm" "vms" name "config" ];
      collectSubtree = true;
      reinstantiate = true;
    }) (host.guestNames or [ ]);
}
""",
        },
    )
    [self_collect] = found
    assert located(self_collect) == (
        "den/delivery-self-collect",
        "host.nix",
        marks[0].start,
        marks[0].end,
    )
    assert (
        "collects the host's whole `nixos` subtree into `microvm.vms.<name>.config`"
        in (self_collect.message)
    )


def test_no_self_collect_for_host_routes_elsewhere(tmp_path: Path):
    found, _ = findings(
        tmp_path,
        {
            "host.nix": """{ den, ... }: {
  den.schema.host.includes = [ den.policies.wsl ];
  den.policies.wsl = { host, ... }: [
    (den.lib.policy.route { fromClass = "wsl"; intoClass = "nixos"; path = [ "wsl" ]; collectSubtree = true; })
    (den.lib.policy.route { fromClass = "nixos"; intoClass = "nixos"; path = [ "specialisation" "x" "configuration" ]; collectSubtree = true; })
  ];
}
""",
        },
    )
    assert codes(found) == []


def test_append_to_parent_outside_isolation(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        {
            "flake.nix": """{ den, ... }: {
  den.schema.flake-system.includes = [ den.policies.to-flake ];
  den.policies.to-flake = { system, ... }: [
    (den.lib.policy.route { fromClass = "packages"; intoClass = "flake"; path = [ "packages" system ]; ⟪appendToParent⟫ = true; })
  ];
}
""",
        },
    )
    [outside] = found
    assert located(outside) == (
        "den/append-to-parent-outside-isolation",
        "flake.nix",
        marks[0].start,
        marks[0].end,
    )
    assert (
        "its policy fires only at `flake-system`, which is not isolated"
        in outside.message
    )


def test_append_to_parent_from_user_scope_reaches_the_host(tmp_path: Path):
    found, _ = findings(
        tmp_path,
        {
            "user.nix": """{ den, ... }: {
  den.schema.user.includes = [ den.policies.up ];
  den.policies.up = { user, ... }: [
    (den.lib.policy.route { fromClass = "user"; intoClass = "nixos"; path = [ "x" ]; appendToParent = true; })
  ];
}
""",
        },
    )
    assert codes(found) == []


def test_isolated_not_entity(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        {
            "schema.nix": """{ den, ... }: {
  den.schema.microvm-guest.includes = [ ];
  ⟪den.schema.microvm-guest.isolated = true;⟫
}
""",
        },
    )
    [not_entity] = found
    assert located(not_entity) == (
        "den/isolated-not-entity",
        "schema.nix",
        marks[0].start,
        marks[0].end,
    )
    fixed = apply_edits(
        (tmp_path / "schema.nix").read_text(), not_entity.fixes[0].edits
    )
    assert (
        "  den.schema.microvm-guest.includes = [ ];\n  den.schema.microvm-guest.isEntity = true;\n"
        in fixed
    )


@pytest.mark.parametrize(
    "schema",
    [
        "den.schema.guest = { isEntity = true; isolated = true; };",
        # module content makes a kind an entity
        "den.schema.guest = { isolated = true; options.x = lib.mkOption { }; };",
        "den.schema.guest = { isolated = true; imports = [ ./guest-module.nix ]; };",
    ],
    ids=["explicit", "options", "imports"],
)
def test_isolated_entity_is_fine(tmp_path: Path, schema: str):
    found, _ = findings(
        tmp_path, {"schema.nix": f"{{ den, lib, ... }}: {{ {schema} }}"}
    )
    assert codes(found) == []


@pytest.mark.parametrize("kind", ["user", "home"])
def test_isolated_compose_kind(tmp_path: Path, kind: str):
    found, marks = findings(
        tmp_path,
        {
            "schema.nix": f"{{ den, ... }}: {{\n  den.schema.{kind} = {{ ⟪isolated = true;⟫ }};\n}}\n"
        },
    )
    [compose] = found
    assert located(compose) == (
        "den/isolated-compose-kind",
        "schema.nix",
        marks[0].start,
        marks[0].end,
    )
    assert compose.severity.value == "error"
    assert compose.message.startswith(f"`{kind}` is a compose kind")


def test_not_verbatim_delivery(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        {
            "schema.nix": "{ den, ... }: { den.schema.guest = { isEntity = true; isolated = true; }; }",
            "host.nix": HOST_POLICY,
            "deliver.nix": """{ den, ... }: {
  den.policies.deliver-guest = { guest, ... }: [
    (den.lib.policy.route {
      fromClass = "nixos";
      intoClass = "nixos";
      ⟪path⟫ = [ "microvm" "vms" guest.name "config" ];
      collectSubtree = true;
      appendToParent = true;
    })
  ];
}
""",
        },
    )
    [info] = found
    assert located(info) == (
        "den/delivery-not-verbatim",
        "deliver.nix",
        marks[0].start,
        marks[0].end,
    )
    assert info.severity.value == "information"
    assert info.fixes[0].edits[0].new_text == "\n      reinstantiate = true;"


def test_deliver_verbatim_is_fine_and_merge_is_not(tmp_path: Path):
    base = """{ den, ... }: {
  den.schema.host.includes = [ den.policies.d ];
  den.policies.d = { host, ... }: [
    (den.lib.policy.deliver { from = "microvm"; to = "nixos"; at = [ "microvm" "vms" "g" "config" ]; MODE })
  ];
}
"""
    found, _ = findings(
        tmp_path / "a", {"d.nix": base.replace("MODE", 'mode = "verbatim";')}
    )
    assert codes(found) == []
    found, _ = findings(
        tmp_path / "b", {"d.nix": base.replace("MODE", 'mode = "nest";')}
    )
    assert codes(found) == ["den/delivery-not-verbatim"]


# The consumer style of a real fleet: per-guest delivery policies built by a
# curried helper with mkPolicy and an interpolated name, attached through
# resolve.to.withIncludes from a let-bound two-argument function.
CURRIED_STYLE = """{ den, lib, config, ... }:
let
  inherit (den.lib.policy) resolve route mkPolicy;
  guestKind = "guest";
  deliveryPath = name: [ "microvm" "vms" name "config" ];
  deliverPolicyFor = name:
    mkPolicy "deliver-guest-${name}" (
      { ... }@args:
      lib.optionals (!(args ? user) && !(args ? home)) [
        (route {
          fromClass = "nixos";
          intoClass = "nixos";
          collectSubtree = true;
          APPEND
          path = deliveryPath name;
          reinstantiate = true;
        })
      ]
    );
  resolveGuest = name: guest:
    resolve.to.withIncludes guestKind [ (deliverPolicyFor name) ] {
      ${guestKind} = guest // { class = "nixos"; intoAttr = [ ]; };
      host = guest;
    };
  resolvePolicy = { host, ... }: lib.mapAttrsToList resolveGuest (host.guests or { });
in
{
  config.den.schema.${guestKind} = {
    isEntity = true;
    ISOLATED
    parent = "host";
  };
  config.den.policies.resolve-guest-host = resolvePolicy;
  config.den.schema.host.includes = [ den.policies.resolve-guest-host ];
}
"""


@pytest.mark.parametrize(
    "isolated, append, expected",
    [
        ("isolated = true;", "appendToParent = true;", []),
        ("", "appendToParent = true;", ["den/isolation-leak"]),
        ("isolated = true;", "", ["den/delivery-dropped"]),
    ],
    ids=["correct", "leak", "dropped"],
)
def test_curried_consumer_style(tmp_path: Path, isolated: str, append: str, expected):
    text = CURRIED_STYLE.replace("ISOLATED", isolated).replace("APPEND", append)
    found, _ = findings(tmp_path, {"guests.nix": text})
    assert codes(found) == expected


def test_includes_only_kinds_delivering_with_provide_are_silent(tmp_path: Path):
    # Routing kinds that are not entities and hand a guest over with
    # `provide` from an external resolve: nothing leaks by walking.
    found, _ = findings(
        tmp_path,
        {
            "microvm.nix": """{ den, lib, ... }:
let inherit (den.lib.policy) resolve provide; in {
  den.schema.microvm-host.includes = [ den.policies.to-guests ];
  den.schema.microvm-guest.includes = [ den.policies.provide-vm ];
  den.schema.host.includes = [ den.policies.to-microvm-host ];
  den.policies.to-microvm-host = { host, ... }: [ (resolve.to "microvm-host" { }) ];
  den.policies.to-guests = { host, ... }:
    map (vm: resolve.to "microvm-guest" { inherit vm; }) (host.vms or [ ]);
  den.policies.provide-vm = { host, vm, ... }: [
    (provide { class = "nixos"; path = [ "microvm" "vms" vm.name ]; module = { config = { }; }; })
  ];
}
""",
        },
    )
    assert codes(found) == []
