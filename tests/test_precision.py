"""Correct configurations in real-world styles must stay silent.

Each case here was once a false positive or a crash found by trying den-lsp
on configurations it had not seen.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from den_lsp.cli import main
from den_lsp.features.project import Project
from nixfixture import apply_edits, findings

HOST_RESOLVES_GUEST = """{ den, lib, ... }: {
  den.schema.host.includes = [ den.policies.host-guests ];
  den.policies.host-guests = { host, ... }:
    map (g: den.lib.policy.resolve.to.withIncludes "guest" [ den.policies.deliver ] { guest = g; })
      (host.guests or [ ]);
  den.policies.deliver = { guest, ... }: [
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


@pytest.mark.parametrize(
    "kind",
    [
        "den.schema.guest = base // { isEntity = true; isolated = true; };",
        "den.schema.guest = lib.recursiveUpdate { isEntity = true; } { isolated = true; };",
        "den.schema.guest = import ./guest-kind-module.nix;",
        "den.schema.guest = { config, ... }: { isolated = true; };",
        "den.schema.guest = { isEntity = true; imports = [ ./iso.nix ]; };",
    ],
    ids=["update", "recursiveUpdate", "import", "function-module", "imports"],
)
def test_kind_written_as_an_expression_is_not_called_unisolated(tmp_path, kind):
    files = {
        "kind.nix": f"{{ den, lib, ... }}: let base = {{ }}; in {{ {kind} }}",
        "host.nix": HOST_RESOLVES_GUEST,
    }
    assert findings(tmp_path, files)[0] == []


def test_policy_needing_user_never_fires_at_host(tmp_path: Path):
    files = {
        "c.nix": """{ den, ... }: {
  den.default.includes = [ den.policies.user-container ];
  den.policies.user-container = { host, user, ... }: [
    (den.lib.policy.route {
      fromClass = "nixos";
      intoClass = "nixos";
      collectSubtree = true;
      reinstantiate = true;
      path = [ "containers" user.name "config" ];
    })
  ];
}
"""
    }
    assert findings(tmp_path, files)[0] == []


def test_guest_policy_registered_at_host_fires_at_the_fanned_out_guests(tmp_path):
    files = {
        "kind.nix": "{ den, ... }: { den.schema.guest = { isEntity = true; isolated = true; }; }",
        "host.nix": HOST_RESOLVES_GUEST.replace(
            "[ den.policies.deliver ] { guest = g; }", "[ ] { guest = g; }"
        ).replace(
            "[ den.policies.host-guests ]",
            "[ den.policies.host-guests den.policies.deliver ]",
        ),
    }
    assert findings(tmp_path, files)[0] == []


def test_helper_route_carried_out_by_the_delivery_route(tmp_path: Path):
    files = {
        "kind.nix": "{ den, ... }: { den.schema.guest = { isEntity = true; isolated = true; }; }",
        "host.nix": HOST_RESOLVES_GUEST.replace(
            "  ];\n}\n",
            """    (den.lib.policy.route {
      fromClass = "vmExtra";
      intoClass = "nixos";
      path = [ "environment" "etc" ];
      collectSubtree = true;
    })
  ];
}
""",
        ),
        "extras.nix": "{ ... }: { den.aspects.vm-extras.vmExtra.motd.text = \"hi\"; }",
    }
    assert findings(tmp_path, files)[0] == []


def test_each_nested_flake_is_its_own_configuration(tmp_path: Path, monkeypatch):
    isolated = (
        "{ den, ... }: { den.schema.guest = { isEntity = true; isolated = true; }; }"
    )
    plain = "{ den, ... }: { den.schema.guest = { isEntity = true; }; }"
    files = {
        "flake.nix": "{ outputs = _: { }; }",
        "a/flake.nix": "{ outputs = _: { }; }",
        "a/kind.nix": isolated,
        "a/host.nix": HOST_RESOLVES_GUEST,
        "b/flake.nix": "{ outputs = _: { }; }",
        "b/kind.nix": plain,
        "b/host.nix": HOST_RESOLVES_GUEST,
    }
    found, _ = findings(tmp_path, files)
    assert [(f.code, f.span.path) for f in found] == [
        ("den/isolation-leak", "b/kind.nix")
    ]
    monkeypatch.chdir(tmp_path)
    assert main(["check", "--format", "json", "b/kind.nix"]) == 0


def test_files_import_tree_skips_give_no_den_findings(tmp_path: Path):
    files = {
        "modules/_old/guest.nix": "{ den, ... }: { den.schema.user.isolated = true; }",
        "modules/_broken.nix": "{ den, ... }: { x = ; }",
    }
    found, _ = findings(tmp_path, files)
    assert [(f.code, f.span.path) for f in found] == [
        ("den/syntax", "modules/_broken.nix")
    ]


@pytest.mark.parametrize(
    "schema",
    [
        'config.den.schema = lib.genAttrs [ "vm" "ct" ] (_: { isEntity = true; });',
        "den.schema.${kindName} = { isEntity = true; };",
    ],
)
def test_computed_kind_names_silence_unknown_kind(tmp_path: Path, schema: str):
    files = {
        "k.nix": f"""{{ den, lib, kindName, ... }}: {{
  {schema}
  den.schema.host.includes = [ den.policies.vms ];
  den.policies.vms = {{ host, ... }}: [ (den.lib.policy.resolve.to "vm" {{ }}) ];
}}
"""
    }
    assert findings(tmp_path, files)[0] == []


def test_fix_keeps_crlf_and_trailing_comments(tmp_path: Path):
    text = (
        "{ den, ... }: {\r\n"
        "  den.schema.guest = {\r\n"
        "    isEntity = true; # a delivered microvm\r\n"
        "  };\r\n"
        "}\r\n"
    )
    (tmp_path / "kind.nix").write_bytes(text.encode())
    (tmp_path / "host.nix").write_text(HOST_RESOLVES_GUEST)
    project = Project(tmp_path)
    project.index()
    [leak] = project.findings()["kind.nix"]
    fixed = apply_edits(text, leak.fixes[0].edits)
    assert fixed == (
        "{ den, ... }: {\r\n"
        "  den.schema.guest = {\r\n"
        "    isEntity = true; # a delivered microvm\r\n"
        "    isolated = true;\r\n"
        "  };\r\n"
        "}\r\n"
    )


def test_symlink_loops_and_bad_ignore_patterns_do_not_crash(tmp_path: Path, capsys):
    (tmp_path / "ok.nix").write_text(
        "{ den, ... }: { den.schema.user.isolated = true; }"
    )
    os.symlink(tmp_path / "b.nix", tmp_path / "a.nix")
    os.symlink(tmp_path / "a.nix", tmp_path / "b.nix")
    (tmp_path / ".gitignore").write_text("[z-a]\n!\n")
    assert main(["check", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "ok.nix:1:" in captured.out and "den/isolated-compose-kind" in captured.out
    assert "a.nix: skipped" in captured.err


def test_bad_setting_types_are_reported(tmp_path: Path):
    (tmp_path / "den-lsp.toml").write_text(
        'excludes = ["x"]\nexclude = ["[z-a]"]\n[severity]\n"den/syntax" = ["hint"]\n'
    )
    project = Project(tmp_path)
    assert [p.split(": ", 1)[1] for p in project.settings_problems] == [
        "severity of den/syntax must be one of "
        "['error', 'hint', 'information', 'off', 'warning']",
        "exclude pattern '[z-a]' is not a valid path pattern",
        "unknown setting 'excludes'",
    ]


def test_scopes_with_a_policy_activated_twice(tmp_path: Path, monkeypatch, capsys):
    (tmp_path / "p.nix").write_text(
        """{ den, ... }: {
  den.policies.p = { host, ... }: [ ];
  den.schema.host.includes = [ den.policies.p ];
  den.default.includes = [ den.policies.p ];
}
"""
    )
    assert main(["scopes", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "    p (default, p.nix:4)\n    p (schema, p.nix:3)\n" in out


def test_check_rejects_a_file_that_is_not_nix(tmp_path: Path, capsys):
    (tmp_path / "README.md").write_text("# hi")
    assert main(["check", str(tmp_path / "README.md")]) == 2
    assert "not a .nix file" in capsys.readouterr().err


def test_a_route_shared_by_two_isolated_kinds_is_one_finding_with_one_fix(tmp_path):
    files = {
        "k.nix": """{ den, ... }:
let
  out = slot: den.lib.policy.route {
    fromClass = "nixos";
    intoClass = "nixos";
    collectSubtree = true;
    reinstantiate = true;
    path = slot;
  };
in {
  den.schema.vm = { isEntity = true; isolated = true; includes = [ den.policies.vm-out ]; };
  den.schema.pod = { isEntity = true; isolated = true; includes = [ den.policies.pod-out ]; };
  den.policies.vm-out = { vm, ... }: [ (out [ "microvm" "vms" vm.name "config" ]) ];
  den.policies.pod-out = { pod, ... }: [ (out [ "containers" pod.name "config" ]) ];
}
"""
    }
    found, _ = findings(tmp_path, files)
    assert [f.code for f in found] == ["den/delivery-dropped"]


def test_plain_resolve_is_named_as_written(tmp_path: Path):
    files = {
        "k.nix": """{ den, ... }: {
  den.schema.guest = { isEntity = true; };
  den.schema.host.includes = [ den.policies.g ];
  den.policies.g = { host, ... }: [
    (den.lib.policy.resolve.withIncludes [ den.policies.d ] { guest = host; })
  ];
  den.policies.d = { guest, ... }: [
    (den.lib.policy.route { fromClass = "nixos"; intoClass = "nixos"; path = [ "vm" ]; collectSubtree = true; appendToParent = true; })
  ];
}
"""
    }
    [leak] = findings(tmp_path, files)[0]
    assert "(`resolve { guest = ...; }` at k.nix:5)" in leak.message


def test_a_nested_flake_keeps_its_own_settings(tmp_path: Path, monkeypatch, capsys):
    files = {
        "flake.nix": "{ outputs = _: { }; }",
        "a/flake.nix": "{ outputs = _: { }; }",
        "a/den-lsp.toml": '[severity]\n"den/isolated-compose-kind" = "off"\n',
        "a/k.nix": "{ den, ... }: { den.schema.user.isolated = true; }",
    }
    assert findings(tmp_path, files)[0] == []
    monkeypatch.chdir(tmp_path)
    assert main(["check", "a"]) == 0
    assert main(["check", "."]) == 0
