"""Fact extraction: every form of writing den definitions reads the same."""

from __future__ import annotations

import pytest

from den_lsp.facts.types import UNKNOWN
from den_lsp.features.project import analyse_source
from nixfixture import strip_markers


def facts_of(text: str):
    return analyse_source("m.nix", text.encode()).facts


def kind_values(text: str) -> set[tuple]:
    return {(f.kind, f.name, f.value) for f in facts_of(text).kind_fields}


GUEST_FIELDS = {
    ("guest", "isEntity", True),
    ("guest", "isolated", True),
    ("guest", "parent", "host"),
}


@pytest.mark.parametrize(
    "text",
    [
        """{ den, ... }: {
          den.schema.guest.isEntity = true;
          den.schema.guest.isolated = true;
          den.schema.guest.parent = "host";
        }""",
        """{ den, ... }: {
          den = { schema = { guest = { isEntity = true; isolated = true; parent = "host"; }; }; };
        }""",
        """{ den, ... }: {
          den.schema = { guest.isEntity = true; guest = { isolated = true; }; };
          den.schema.guest = { parent = "host"; };
        }""",
        """{ config, lib, ... }: {
          config.den.schema.guest = lib.mkMerge [
            { isEntity = true; }
            (lib.mkIf true { isolated = lib.mkDefault true; })
            { parent = lib.mkForce "host"; }
          ];
        }""",
        """{ den, lib, ... }:
        let
          guestKind = "guest";
          parentKind = "ho" + "st";
        in {
          den.schema.${guestKind} = { isEntity = true; isolated = true; };
          den.schema."${guestKind}".parent = parentKind;
        }""",
        """{ den, ... }: {
          config = { den.schema.guest = { isEntity = true; isolated = true; parent = "host"; }; };
        }""",
        """(
          { den, ... }:
          { den.schema.guest = { isEntity = true; isolated = true; parent = "host"; }; }
        )""",
    ],
    ids=[
        "dotted",
        "nested",
        "mixed",
        "config-mkMerge-mkIf",
        "let-interpolated",
        "config-set",
        "parenthesized-module",
    ],
)
def test_kind_fields_read_the_same_in_every_style(text):
    assert {v for v in kind_values(text) if v[1] != "<module>"} == GUEST_FIELDS


def test_mk_if_marks_the_field_as_conditional():
    facts = facts_of(
        """{ den, lib, cond, ... }: {
          den.schema.guest = lib.mkIf cond { isolated = true; };
        }"""
    )
    [isolated] = facts.kind_fields
    assert (isolated.name, isolated.value, isolated.maybe) == ("isolated", True, True)


def test_computed_kind_name_is_not_guessed():
    facts = facts_of(
        """{ den, pkgs, ... }: {
          den.schema.${pkgs.kindName}.isolated = true;
        }"""
    )
    assert facts.kind_fields == ()
    assert facts.kind_sites == ()


def _effects(text: str) -> dict[str, list[tuple]]:
    facts = facts_of(text)
    return {
        p.policy_id: [(e.constructor, e.maybe) for e in p.effects]
        for p in facts.policies
    }


@pytest.mark.parametrize(
    "prelude, call",
    [
        ("", "den.lib.policy.route"),
        ("inherit (den.lib.policy) route resolve;", "route"),
        ("inherit (den.lib) policy;", "policy.route"),
        ("route = den.lib.policy.route;", "route"),
        ("policy = den.lib.policy;", "policy.route"),
    ],
    ids=["full-path", "inherit-from-policy", "inherit-policy", "alias", "alias-set"],
)
def test_every_way_of_reaching_route(prelude, call):
    text = f"""{{ den, ... }}:
    let {prelude} x = 1; in {{
      den.policies.p = {{ host, ... }}: [ ({call} {{ fromClass = "nixos"; intoClass = "nixos"; }}) ];
    }}"""
    assert _effects(text) == {"p": [("route", False)]}


def test_with_den_lib_policy():
    text = """{ den, ... }: {
      den.policies.p = { host, ... }: with den.lib.policy; [
        (route { fromClass = "nixos"; })
        (resolve.to "guest" { guest = host; })
      ];
    }"""
    assert _effects(text) == {"p": [("route", False), ("resolve.to", False)]}


def test_effects_through_list_plumbing_and_conditions():
    text = """{ den, lib, ... }:
    let inherit (den.lib.policy) route resolve include; in {
      den.policies.p = { host, ... }@args:
        let guests = host.guests or { }; in
        [ (include den.aspects.base) ]
        ++ lib.optional (args ? user) (route { fromClass = "a"; })
        ++ lib.optionals host.wsl.enable [ (route { fromClass = "b"; }) ]
        ++ lib.mapAttrsToList (name: g: resolve.to "guest" { guest = g; }) guests
        ++ lib.concatMap (g: [ (route { fromClass = "c"; }) ]) [ ]
        ++ map (g: resolve { inherit g; }) [ ]
        ++ (if host.x then [ (route { fromClass = "d"; }) ] else [ ]);
    }"""
    assert _effects(text) == {
        "p": [
            ("include", False),
            ("route", True),
            ("route", True),
            ("resolve.to", False),
            ("route", False),
            ("resolve", False),
            ("route", True),
        ]
    }


def test_mk_policy_and_a_helper_that_builds_policies():
    text = """{ den, ... }:
    let
      inherit (den.lib.policy) route mkPolicy;
      deliverTo = slot: { host, ... }: [ (route { fromClass = "nixos"; path = [ slot "config" ]; }) ];
    in {
      den.policies.a = mkPolicy "a" ({ host, user, ... }: [ (route { fromClass = "x"; }) ]);
      den.policies.b = deliverTo "vm";
    }"""
    facts = facts_of(text)
    by_id = {p.policy_id: p for p in facts.policies}
    assert by_id["a"].required_args == ("host", "user")
    [route] = by_id["b"].effects
    assert route.field("path").value == ("vm", "config")


def test_route_fields_with_values_and_ranges():
    text, marks = strip_markers(
        "m.nix",
        """{ den, ... }: {
  den.policies.p = { guest, ... }: [
    (den.lib.policy.route {
      fromClass = "nixos";
      path = [ "microvm" "vms" guest.name "config" ];
      ⟪collectSubTree⟫ = true;
    })
  ];
}""",
    )
    [policy] = facts_of(text).policies
    [route] = policy.effects
    values = {f.name: f.value for f in route.fields}
    assert values == {
        "fromClass": "nixos",
        "path": ("microvm", "vms", UNKNOWN, "config"),
        "collectSubTree": True,
    }
    typo = route.field("collectSubTree")
    assert (typo.key_span.start_line, typo.key_span.start_character) == marks[0].start
    assert policy.args == ("guest",) and policy.open_args


def test_resolve_forms():
    text = """{ den, ... }:
    let inherit (den.lib.policy) resolve; in {
      den.policies.p = { host, ... }: [
        (resolve { user = 1; extra = 2; })
        (resolve.to "guest" { guest = 1; })
        (resolve.to.withIncludes "guest" [ den.policies.deliver ({ guest, ... }: [ (den.lib.policy.route { fromClass = "nixos"; }) ]) ] { guest = 1; })
        (resolve.withIncludes [ den.policies.q ] { user = 1; })
        (resolve.shared.to "fleet" { })
      ];
    }"""
    facts = facts_of(text)
    policy = next(p for p in facts.policies if p.policy_id == "p")
    summary = [
        (
            e.constructor,
            e.target_kind,
            e.binding_keys,
            [r.target[0] for r in e.with_includes],
        )
        for e in policy.effects
    ]
    assert summary == [
        ("resolve", None, ("user", "extra"), []),
        ("resolve.to", "guest", ("guest",), []),
        ("resolve.to.withIncludes", "guest", ("guest",), ["policy", "inline"]),
        ("resolve.withIncludes", None, ("user",), ["policy"]),
        ("resolve.shared.to", "fleet", (), []),
    ]
    inline = [p for p in facts.policies if not p.registered]
    assert [e.constructor for e in inline[0].effects] == ["route"]


def test_include_exclude_instantiate_provide():
    text = """{ den, ... }:
    with den.lib.policy; {
      den.policies.p = { host, ... }: [
        (include den.aspects.a)
        (exclude den.policies.q)
        (instantiate host)
        (provide { class = "nixos"; module = { }; })
      ];
    }"""
    assert _effects(text) == {
        "p": [
            ("include", False),
            ("exclude", False),
            ("instantiate", False),
            ("provide", False),
        ]
    }


def test_includes_of_kinds_default_and_aspects():
    text = """{ den, lib, ... }: {
      den.schema.host.includes = [ den.policies.a ] ++ lib.optional true den.policies.b;
      den.default.includes = [ den.aspects.base ];
      den.aspects.roles.inference.includes = [ den.aspects.gpu ];
      den.schema.guest.excludes = [ den.policies.host-to-users ];
    }"""
    items = {(i.owner, i.relation, i.item.target) for i in facts_of(text).includes}
    assert items == {
        (("schema", "host"), "includes", ("policy", "a")),
        (("schema", "host"), "includes", ("policy", "b")),
        (("default",), "includes", ("aspect", "base")),
        (("aspect", "roles", "inference"), "includes", ("aspect", "gpu")),
        (("schema", "guest"), "excludes", ("policy", "host-to-users")),
    }


def test_modules_written_in_imports_are_read_as_the_file_s_own():
    text = """{ den, lib, ... }: {
      imports =
        let
          two = { pkgs, ... }: { den.aspects.foo.nixos.environment.systemPackages = [ pkgs.hello ]; };
        in
        [
          { den.schema.guest.isolated = true; }
          two
          ./other.nix
        ];
    }"""
    facts = facts_of(text)

    assert {(f.kind, f.name, f.value) for f in facts.kind_fields} == {
        ("guest", "isolated", True)
    }
    assert [(a.path, [k for k, _ in a.keys]) for a in facts.aspects] == [
        (("foo",), ["nixos"])
    ]
    assert facts.external_imports == ()


def test_hosts_homes_classes_aspects():
    text = """{ den, ... }: {
      den.hosts.x86_64-linux.igloo = { users.tux = { }; };
      den.hosts.cortex-cuda = { system = "x86_64-linux"; intoAttr = [ ]; class = "nixos"; };
      den.homes.x86_64-linux."tux@igloo" = { };
      den.classes.microvm.description = "microvm guests";
      den.aspects.igloo = {
        nixos = { pkgs, ... }: { };
        homeManager.programs.git.enable = true;
        includes = [ den.aspects.base ];
      };
    }"""
    facts = facts_of(text)
    assert [(h.name, h.system, h.into_attr, h.users) for h in facts.hosts] == [
        ("igloo", "x86_64-linux", None, ("tux",)),
        ("cortex-cuda", "x86_64-linux", (), ()),
    ]
    assert [h.name for h in facts.homes] == ["tux@igloo"]
    assert [c.name for c in facts.classes] == ["microvm"]
    assert sorted(k for a in facts.aspects for k, _ in a.keys) == [
        "homeManager",
        "includes",
        "nixos",
    ]


def test_pipe_operators_do_not_stop_analysis():
    text = """{ den, lib, ... }: {
      den.policies.p = { host, ... }:
        lib.attrNames (host.guests or { })
        |> map (name: den.lib.policy.resolve.to "guest" { guest = name; });
      den.schema.guest.isolated = true;
    }"""
    state = analyse_source("m.nix", text.encode())
    assert state.syntax == ()
    assert ("guest", "isolated", True) in {
        (f.kind, f.name, f.value) for f in state.facts.kind_fields
    }


def test_file_without_den_has_no_facts():
    state = analyse_source(
        "m.nix", b"{ pkgs, ... }: { environment.systemPackages = [ pkgs.git ]; }"
    )
    assert state.facts.policies == () and state.facts.kind_fields == ()


def test_policy_records_and_aspect_local_policies():
    text = """{ den, ... }: {
      den.policies.fleet = {
        __isPolicy = true;
        binds = [ "accessGroups" ];
        fn = { environment, ... }: [ (den.lib.policy.resolve.to "host" { }) ];
      };
      den.aspects.igloo.policies.to-tux = { host, user, ... }: [ (den.lib.policy.include den.aspects.x) ];
      den.aspects.igloo.includes = [ den.aspects.igloo.policies.to-tux ];
    }"""
    facts = facts_of(text)
    assert {
        p.policy_id: [e.constructor for e in p.effects] for p in facts.policies
    } == {
        "fleet": ["resolve.to"],
        "den.aspects.igloo.policies.to-tux": ["include"],
    }
    assert [i.item.target for i in facts.includes] == [
        ("policy", "den.aspects.igloo.policies.to-tux")
    ]
