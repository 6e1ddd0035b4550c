"""Hover at the function layer: every place a den name or effect is written.

The stdio tests in test_editor_features.py cover a kind at `resolve.to`, a
kind's declaration with its finding, a route and a policy reference, in the
Markdown and plain-text forms clients take. This module covers the other
places the hover answers: a kind in `parent = "..."` and as a policy
argument, a `deliver` effect, a route at the class root, a policy at its
definition, a class at its declaration and in a route, a host, and an aspect
reference defined in two files. ``⟪ ⟫`` marks where the cursor goes and the
range the hover names.
"""

from __future__ import annotations

import pytest

from den_lsp.features.hover import hover_at
from nixfixture import project

FILES = {
    "flake.nix": "{ outputs = _: { }; }\n",
    "modules/schema.nix": """{ den, ... }: {
  den.schema.guest = {
    isEntity = true;
    parent = ⟪"host"⟫;
    isolated = true;
  };
  den.schema.host.includes = [ den.policies.host-guests den.policies.host-extras ];
  den.classes.⟪vm-os⟫ = { };
}
""",
    "modules/policies.nix": """{ den, ... }:
let
  inherit (den.lib.policy) resolve route deliver;
in
{
  den.policies.⟪host-guests⟫ = { host, ... }:
    map (g: resolve.to.withIncludes "guest" [ den.policies.deliver-guest ] {
      guest = g;
    }) host.guests;

  den.policies.deliver-guest = { ⟪guest⟫, ... }: [
    (route {
      fromClass = "nixos";
      intoClass = "nixos";
      path = [ "microvm" "vms" guest.name "config" ];
      collectSubtree = true;
      appendToParent = true;
      reinstantiate = true;
    })
  ];

  den.policies.host-extras = { host, ... }: [
    (⟪deliver⟫ { from = "motd"; to = "nixos"; at = [ "environment" "etc" ]; mode = "nest"; })
    (⟪route⟫ { fromClass = ⟪"vm-os"⟫; intoClass = "nixos"; })
  ];
}
""",
    "modules/aspects.nix": """{ den, ... }: {
  den.hosts.x86_64-linux.⟪igloo⟫.users.tux = { };
  den.aspects.igloo = {
    nixos = { };
    includes = [ ⟪den.aspects.roles.gpu⟫ ];
  };
  den.aspects.roles.gpu.nixos = { };
  den.aspects.tux = { };
}
""",
    "modules/gpu.nix": """{ den, ... }: {
  den.aspects.roles.gpu.vm-os = { };
  den.aspects.roles.gpu.motd = { };
}
""",
}

HOST = """**kind `host`** — entity

`flake › flake-system › host`

- entity: yes — built in
- isolated: no
- policies firing here:
  - `host-extras` — schema (modules/schema.nix:7)
  - `host-guests` — schema (modules/schema.nix:7)
- routes collecting from it:
  - `motd` → `nixos` at `environment.etc`: collects at `host`, appends at `host` (modules/policies.nix:23)
  - `vm-os` → `nixos` at the class root: collects at `host`, appends at `host` (modules/policies.nix:24)
- its content lands: in its own configuration
- class of its entities: `nixos` or `darwin` (from each host's `system`, unless it sets `class`)

Declared at modules/schema.nix:7"""

GUEST = """**kind `guest`** — entity, isolated

`flake › flake-system › host › guest`

- entity: yes — `isEntity = true` (modules/schema.nix:3)
- isolated: yes — `isolated = true` (modules/schema.nix:5)
- created at: `host` by `host-guests` (modules/policies.nix:7)
- policies firing here:
  - `deliver-guest` — withIncludes (modules/policies.nix:7)
- routes collecting from it:
  - `nixos` → `nixos` at `microvm.vms.<name>.config`: collects at `guest` and its subtree, appends at `host` (modules/policies.nix:12)
- its content lands: only through `microvm.vms.<name>.config` at `host` (isolated)
- class of its entities: `nixos` (what its delivery routes collect)

Declared at modules/schema.nix:2"""

VM_OS = """**class `vm-os`**

Declared at modules/schema.nix:8
- authored by aspects: `roles.gpu`
- routes: `vm-os` → `nixos` (modules/policies.nix:24)"""

CASES = {
    "kind in parent": ("modules/schema.nix", 0, HOST),
    "class at its declaration": ("modules/schema.nix", 1, VM_OS),
    "policy at its definition": (
        "modules/policies.nix",
        0,
        """**policy `host-guests`**

Fires at: `host`
- activated by:
  - schema of `host` (modules/schema.nix:7)
- needs in context: `host`
- effects: `resolve.to.withIncludes`

Defined at modules/policies.nix:6""",
    ),
    "kind as a policy argument": ("modules/policies.nix", 1, GUEST),
    "deliver": (
        "modules/policies.nix",
        2,
        """**deliver** `motd` → `nixos` at `environment.etc`

- fired at `host`: collects `motd` at `host`; appends at `host` as `nixos` under `environment.etc`.

In a build: the `motd` modules of each `host` scope become part of the host's `nixos` configuration at `environment.etc`.

Policy `host-extras` (modules/policies.nix:22)""",
    ),
    "route at the class root": (
        "modules/policies.nix",
        3,
        """**route** `vm-os` → `nixos` at the class root

- fired at `host`: collects `vm-os` at `host`; appends at `host` as `nixos` at the class root.

In a build: the `vm-os` modules of each `host` scope become part of the host's `nixos` configuration at the class root.

Policy `host-extras` (modules/policies.nix:22)""",
    ),
    "class in a route": ("modules/policies.nix", 4, VM_OS),
    "host": (
        "modules/aspects.nix",
        0,
        """**host `igloo`**

- modules/aspects.nix:2: system `x86_64-linux`, users `tux`
- aspect `den.aspects.igloo` at modules/aspects.nix:3""",
    ),
    "aspect reference": (
        "modules/aspects.nix",
        1,
        """**aspect `den.aspects.roles.gpu`**

Defined at modules/aspects.nix:7, modules/gpu.nix:2, modules/gpu.nix:3
- keys: `motd`, `nixos`, `vm-os`
- included by: `den.aspects.igloo` (modules/aspects.nix:5)""",
    ),
}


@pytest.mark.parametrize(("rel", "number", "text"), CASES.values(), ids=CASES.keys())
def test_hover(tmp_path, rel, number, text):
    proj, marks = project(tmp_path, FILES)
    mark = [m for m in marks if m.path == rel][number]
    found = hover_at(proj, rel, *mark.start)
    assert found.markdown == text
    span = found.span
    assert (
        (span.start_line, span.start_character),
        (span.end_line, span.end_character),
    ) == (
        mark.start,
        mark.end,
    )


def test_no_hover_where_den_names_nothing(tmp_path):
    proj, _ = project(tmp_path, FILES)
    # `map` in the policy body, and the `{ den, ... }` module argument.
    assert hover_at(proj, "modules/policies.nix", 6, 5) is None
    assert hover_at(proj, "modules/aspects.nix", 0, 3) is None
