"""Class rules for routes and deliveries: misspelt classes, sources nobody authors."""

from __future__ import annotations

from pathlib import Path

import pytest

from nixfixture import apply_edits, findings, located

FLAKE = {"flake.nix": "{ outputs = _: { }; }\n"}


def policy_file(effect: str, args: str = "{ host, ... }") -> str:
    """A module whose host policy returns ``effect``."""
    return f"""{{ den, ... }}:
let inherit (den.lib.policy) route deliver; in
{{
  den.schema.host.includes = [ den.policies.p ];
  den.policies.p = {args}: [
    ({effect})
  ];
}}
"""


def of(found, code: str) -> list:
    return [f for f in found if f.code == code]


# -- den/unknown-class on routes -----------------------------------------------------


def test_misspelt_route_classes(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        {
            **FLAKE,
            "modules/p.nix": policy_file(
                'route { fromClass = ⟪"nixso"⟫; intoClass = ⟪"darwn"⟫; }'
            ),
        },
    )
    assert [located(f) for f in found] == [
        ("den/unknown-class", "modules/p.nix", marks[0].start, marks[0].end),
        ("den/unknown-class", "modules/p.nix", marks[1].start, marks[1].end),
    ]
    source, target = found
    assert source.message == (
        "This collects the content of class `nixso`, which is not a class den "
        "knows: no aspect authors it and nothing registers it, so the route finds "
        "nothing to deliver. Did you mean `nixos`?"
    )
    assert target.message == (
        "This appends its result to class `darwn`, which is not a class den knows: "
        "no aspect authors it and nothing registers it, so the route lands where no "
        "configuration reads it. Did you mean `darwin`?"
    )
    assert [(fix.title, fix.safe) for f in found for fix in f.fixes] == [
        ("Use class `nixos`", False),
        ("Use class `darwin`", False),
    ]
    text = (tmp_path / "modules/p.nix").read_text()
    fixed = apply_edits(text, source.fixes[0].edits + target.fixes[0].edits)
    assert '(route { fromClass = "nixos"; intoClass = "darwin"; })' in fixed
    (tmp_path / "modules/p.nix").write_text(fixed)
    assert findings(tmp_path, {})[0] == []


def test_misspelt_deliver_classes(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        {
            **FLAKE,
            "modules/p.nix": policy_file(
                'deliver { from = ⟪"homeManagr"⟫; to = "nixos"; at = [ "x" ]; }'
            ),
        },
    )
    [finding] = found
    assert located(finding) == (
        "den/unknown-class",
        "modules/p.nix",
        marks[0].start,
        marks[0].end,
    )
    assert finding.message.endswith("Did you mean `homeManager`?")


def test_route_class_close_to_a_custom_class(tmp_path: Path):
    # A class the workspace registers or gives to users is a candidate too.
    found, marks = findings(
        tmp_path,
        {
            **FLAKE,
            "modules/classes.nix": """{ den, ... }: {
  den.classes.terranix.description = "Terraform modules";
  den.aspects.web.terranix.resource.x = { };
}
""",
            "modules/p.nix": policy_file(
                'route { fromClass = ⟪"terranx"⟫; intoClass = "nixos"; path = [ "tf" ]; }'
            ),
        },
    )
    assert [located(f) for f in found] == [
        ("den/unknown-class", "modules/p.nix", marks[0].start, marks[0].end)
    ]
    assert found[0].message.endswith("Did you mean `terranix`?")


@pytest.mark.parametrize(
    "effect",
    [
        'route { fromClass = "os"; intoClass = "nixos"; }',
        'route { fromClass = "homeManager"; intoClass = "nixos"; path = [ "hm" ]; }',
        # A custom class named by two routes is the workspace's own.
        'route { fromClass = "k8s"; intoClass = "nixos"; }) (route { fromClass = "k8s"; intoClass = "k8s-out"; }',
        # Classes given by values the reader cannot see.
        "route { fromClass = host.class; intoClass = host.class; }",
        'route { fromClass = "${host.class}"; intoClass = "nixos"; }',
        # The name is written elsewhere: a list of classes built in code.
        'route { fromClass = "nixosVm"; intoClass = "nixos"; }) (route { fromClass = lib.head [ "nixosVm" ]; intoClass = "nixos"; }',
    ],
    ids=[
        "builtin",
        "home-manager",
        "custom-pair",
        "variable",
        "interpolated",
        "mentioned",
    ],
)
def test_known_or_unreadable_route_classes_stay_silent(tmp_path: Path, effect: str):
    files = {
        **FLAKE,
        "modules/p.nix": policy_file(effect).replace(
            "{ den, ... }", "{ den, lib, ... }"
        ),
    }
    assert findings(tmp_path, files)[0] == []


# -- den/route-source-never-authored -------------------------------------------------


def test_route_collecting_a_class_nothing_authors(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        {
            **FLAKE,
            "modules/p.nix": policy_file(
                'route { fromClass = ⟪"k8s-manfests"⟫; intoClass = "nixos"; '
                'path = [ "services" "k3s" "manifests" ]; }'
            ),
            "modules/web.nix": """{ den, ... }: {
  den.aspects.web.k8s-manifests.deployment = { };
}
""",
        },
    )
    [finding] = found
    assert located(finding) == (
        "den/route-source-never-authored",
        "modules/p.nix",
        marks[0].start,
        marks[0].end,
    )
    assert finding.severity.value == "warning"
    assert finding.message == (
        "This route collects class `k8s-manfests`, but no aspect in this "
        "configuration authors `k8s-manfests` content and no route, forward or "
        "battery produces it, so the route delivers nothing. Write the content "
        "under `k8s-manfests` on an aspect walked where the route fires, or route "
        "the class that holds it."
    )
    assert finding.fixes == ()


def test_deliver_from_a_class_nothing_authors(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        {
            **FLAKE,
            "modules/p.nix": policy_file(
                'deliver { from = ⟪"tf-modules"⟫; to = "nixos"; at = [ "tf" ]; }'
            ),
        },
    )
    assert [located(f) for f in found] == [
        (
            "den/route-source-never-authored",
            "modules/p.nix",
            marks[0].start,
            marks[0].end,
        )
    ]


@pytest.mark.parametrize(
    "authored",
    [
        # Authored in any aspect style.
        "den.aspects.web.k8s.deployment = { };",
        "den.aspects.web = { host, ... }: { k8s.deployment.name = host.name; };",
        "den.aspects.roles.web.k8s = { };",
        "den.default.k8s = { };",
        "den.aspects.web.provides.to-users.k8s = { };",
        # In a namespace.
        'imports = [ (inputs.den.namespace "eg" true) ]; eg.web.k8s = { };',
        # Produced by another route, or registered.
        'den.policies.q = { host, ... }: [ (den.lib.policy.route { fromClass = "nixos"; intoClass = "k8s"; }) ]; den.schema.host.includes = [ den.policies.q ];',
        'den.classes.k8s.description = "manifests";',
        # Given to an entity.
        'den.hosts.x86_64-linux.cluster.class = "k8s";',
        # Mentioned somewhere den-lsp cannot interpret.
        'flake.lib.classes = [ "k8s" ];',
        # Modules from outside the workspace may author it.
        "imports = [ inputs.k8s.flakeModules.default ];",
    ],
    ids=[
        "aspect",
        "parametric",
        "nested",
        "den-default",
        "provides",
        "namespace",
        "routed",
        "registered",
        "entity-class",
        "mentioned",
        "external-module",
    ],
)
def test_sources_someone_produces_stay_silent(tmp_path: Path, authored: str):
    files = {
        **FLAKE,
        "modules/p.nix": policy_file(
            'route { fromClass = "k8s"; intoClass = "nixos"; path = [ "k" ]; }'
        ),
        "modules/k8s.nix": f"{{ den, inputs, ... }}: {{\n  {authored}\n}}\n",
    }
    assert of(findings(tmp_path, files)[0], "den/route-source-never-authored") == []


def test_builtin_source_classes_are_never_reported(tmp_path: Path):
    # den's batteries author `os`, `user`, `homeManager` and the flake classes.
    files = {
        **FLAKE,
        "modules/p.nix": policy_file(
            'route { fromClass = "user"; intoClass = "nixos"; }) '
            '(route { fromClass = "packages"; intoClass = "flake"; }'
        ),
    }
    assert findings(tmp_path, files)[0] == []
