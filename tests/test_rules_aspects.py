"""Aspect rules: misspelt class keys, inert home content, missing aspects.

Each rule has configurations that must trigger it, with the exact range and
message, and correct configurations in real-world styles that must stay
silent: namespaces, angle brackets, parametric aspects, ``provides``/``_``,
nested aspects written across files, ``den.default``, aspects written as
functions, ``with den.aspects; [ ... ]`` and computed names.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nixfixture import apply_edits, findings, located

FLAKE = {"flake.nix": "{ outputs = _: { }; }\n"}

HOSTS = """{ den, ... }: {
  den.hosts.x86_64-linux.igloo.users.tux = { };
}
"""

# den's own namespace module: `eg` becomes a module argument and
# `den.ful.eg`, and angle brackets resolve through `__findFile`.
NAMESPACE = """{ inputs, den, ... }: {
  imports = [ (inputs.den.namespace "eg" true) ];
  _module.args.__findFile = den.lib.__findFile;
}
"""


def codes(found) -> list[str]:
    return [f.code for f in found]


def of(found, code: str) -> list:
    return [f for f in found if f.code == code]


# -- den/unknown-class on aspect keys ---------------------------------------------


def test_misspelt_class_key_on_a_host_aspect(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        {
            **FLAKE,
            "modules/hosts.nix": HOSTS,
            "modules/igloo.nix": """{ den, ... }: {
  den.aspects.igloo = {
    ⟪nixso⟫ = { services.nginx.enable = true; };
    nixos.networking.hostName = "igloo";
  };
  den.aspects.tux.homeManager.programs.git.enable = true;
}
""",
        },
    )
    [finding] = found
    assert located(finding) == (
        "den/unknown-class",
        "modules/igloo.nix",
        marks[0].start,
        marks[0].end,
    )
    assert finding.severity.value == "warning"
    assert finding.message == (
        "`nixso` on `den.aspects.igloo` is not a class den knows: den emits this "
        "content as class `nixso`, which nothing instantiates or routes, so it never "
        "reaches a configuration. Did you mean `nixos`?"
    )
    [fix] = finding.fixes
    # Renaming makes content apply that did not before: never applied in bulk.
    assert (fix.title, fix.safe) == ("Use class `nixos`", False)
    fixed = apply_edits((tmp_path / "modules/igloo.nix").read_text(), fix.edits)
    assert "    nixos = { services.nginx.enable = true; };\n" in fixed
    (tmp_path / "modules/igloo.nix").write_text(fixed)
    assert findings(tmp_path, {})[0] == []


@pytest.mark.parametrize(
    ("written", "key", "label", "suggestion"),
    [
        (
            "den.aspects.tux.⟪homeManger⟫.programs.git.enable = true;",
            "homeManger",
            "den.aspects.tux",
            "homeManager",
        ),
        # A different case is the same class to a reader, not to den.
        (
            "den.aspects.tux.⟪homemanager⟫ = { programs.git.enable = true; };",
            "homemanager",
            "den.aspects.tux",
            "homeManager",
        ),
        (
            "den.default.⟪darwn⟫.system.stateVersion = 6;",
            "darwn",
            "den.default",
            "darwin",
        ),
        # A parametric aspect: its body's keys are classified the same way.
        (
            "den.aspects.tux = { user, ... }: "
            "{ ⟪nixso⟫.services.getty.autologinUser = user.userName; };",
            "nixso",
            "den.aspects.tux",
            "nixos",
        ),
        # An aspect written as a plain function of its arguments.
        (
            "den.aspects.tux = args: { ⟪nxios⟫.services.x.enable = true; };",
            "nxios",
            "den.aspects.tux",
            "nixos",
        ),
        (
            "den.aspects.roles.desktop = "
            "{ nixos.x = 1; ⟪nixso⟫.services.xserver.enable = true; };",
            "nixso",
            "den.aspects.roles.desktop",
            "nixos",
        ),
        (
            "den.aspects.tux.includes = [ ]; den.aspects.tux.⟪wsll⟫.enable = true;",
            "wsll",
            "den.aspects.tux",
            "wsl",
        ),
    ],
    ids=["typo", "case", "den-default", "parametric", "function", "nested", "wsl"],
)
def test_misspelt_class_keys_in_every_style(
    tmp_path: Path, written: str, key: str, label: str, suggestion: str
):
    found, marks = findings(
        tmp_path,
        {
            **FLAKE,
            "modules/hosts.nix": HOSTS,
            "modules/igloo.nix": "{ den, ... }: { den.aspects.igloo.nixos = { }; }\n",
            "modules/tux.nix": f"{{ den, ... }}: {{\n  {written}\n}}\n",
        },
    )
    [finding] = of(found, "den/unknown-class")
    assert located(finding) == (
        "den/unknown-class",
        "modules/tux.nix",
        marks[0].start,
        marks[0].end,
    )
    assert finding.message == (
        f"`{key}` on `{label}` is not a class den knows: den emits this content as "
        f"class `{key}`, which nothing instantiates or routes, so it never reaches a "
        f"configuration. Did you mean `{suggestion}`?"
    )


def test_misspelt_class_key_in_a_namespace(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        {
            **FLAKE,
            "modules/namespace.nix": NAMESPACE,
            "modules/vm.nix": """{ eg, ... }: {
  eg.vm = {
    ⟪nixso⟫.virtualisation.vmVariant = { };
    gui.nixos.services.xserver.enable = true;
  };
}
""",
            "modules/vm-extra.nix": """{ den, ... }: {
  den.ful.eg.vm.⟪darwn⟫.system.defaults = { };
}
""",
        },
    )
    [in_vm, in_extra] = marks
    assert [located(f) for f in found] == [
        ("den/unknown-class", "modules/vm-extra.nix", in_extra.start, in_extra.end),
        ("den/unknown-class", "modules/vm.nix", in_vm.start, in_vm.end),
    ]
    assert found[0].message.startswith("`darwn` on `eg.vm` is not a class den knows")
    assert found[1].message.endswith("Did you mean `nixos`?")


@pytest.mark.parametrize(
    "aspects",
    [
        # Registered custom classes, by den.classes and by an aspect's classes.
        'den.classes.nixosVm.description = "vm"; den.aspects.igloo.nixosVm.x = 1;',
        "den.aspects.igloo = { classes.nixosVm = { }; nixosVm.x = 1; };",
        # A class given to users, and one a route collects.
        'den.hosts.x86_64-linux.igloo.users.tux.classes = [ "homeManagr" ]; den.aspects.tux.homeManagr.x = 1;',
        """den.aspects.igloo.nixosVm.x = 1;
  den.policies.vm = { host, ... }: [ (den.lib.policy.route { fromClass = "nixosVm"; intoClass = "nixos"; }) ];
  den.schema.host.includes = [ den.policies.vm ];""",
        # A quirk key is pipe data, not a class.
        'den.quirks.nixs.description = "x"; den.aspects.igloo.nixs = [ 22 ];',
        # Nested aspects: a set holding a class or structural key, or a group
        # of them, is an aspect, whatever its name.
        "den.aspects.igloo.nixo = { nixos.x = 1; };",
        "den.aspects.igloo.users = { includes = [ ]; };",
        "den.aspects.core.nix = { gc.nixos.nix.gc.automatic = true; };",
        "den.aspects.apps.mail = { provides.thunderbird.homeManager = { }; };",
        # A nested aspect in one file, its class content in another.
        """den.aspects.roles.nixo.description = "not a class";""",
        # Entity-named children of a host aspect are users' aspects.
        "den.hosts.x86_64-linux.nixo.users.tux = { }; den.aspects.nixo.nixos = { }; den.aspects.iglo.nixo.x = 1;",
        # Values the reader cannot see into, and empty placeholders.
        "den.aspects.igloo.nixso = import ./nixos.nix;",
        "den.aspects.igloo.nixso = { };",
        "den.aspects.igloo.nixso = true;",
        # Computed names stay silent.
        "den.aspects.igloo.${lib.concatStrings parts}.x = 1;",
        'den.aspects.igloo = lib.genAttrs [ "nixso" ] (_: { x = 1; });',
        # The name is written somewhere else the model cannot interpret.
        'den.aspects.igloo.nixso.x = 1; flake.lib.classes = [ "nixso" ];',
        # Far from every class: a custom class den-lsp cannot judge.
        "den.aspects.igloo.terraform.resource.x = { };",
    ],
    ids=[
        "den-classes",
        "aspect-classes",
        "user-classes",
        "route-source",
        "quirk",
        "nested-aspect",
        "nested-users",
        "group-of-nested",
        "nested-provides",
        "nested-across-files",
        "entity-named",
        "opaque",
        "empty",
        "data",
        "computed-name",
        "computed-set",
        "mentioned-elsewhere",
        "custom-class",
    ],
)
def test_known_classes_and_nested_aspects_stay_silent(tmp_path: Path, aspects: str):
    files = {
        **FLAKE,
        "modules/hosts.nix": HOSTS,
        "modules/aspects.nix": f"{{ den, lib, ... }}: {{\n  {aspects}\n}}\n",
        "modules/roles.nix": "{ den, ... }: { den.aspects.roles.nixo.nixos.x = 1; }\n",
        "modules/tux.nix": "{ den, ... }: { den.aspects.tux.nixos = { }; den.aspects.igloo.nixos = { }; }\n",
    }
    assert of(findings(tmp_path, files)[0], "den/unknown-class") == []


# -- den/host-scope-home-content --------------------------------------------------


def test_home_manager_content_on_a_host_aspect(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        {
            **FLAKE,
            "modules/hosts.nix": HOSTS,
            "modules/igloo.nix": """{ den, ... }: {
  den.aspects.igloo = {
    # the host "provides" home-manager defaults to its users
    ⟪homeManager⟫.programs.direnv.enable = true;
    nixos.services.openssh.enable = true;
  };
  den.aspects.tux.homeManager.programs.git.enable = true;
}
""",
        },
    )
    [finding] = found
    assert located(finding) == (
        "den/host-scope-home-content",
        "modules/igloo.nix",
        marks[0].start,
        marks[0].end,
    )
    assert finding.severity.value == "warning"
    assert finding.message == (
        "`homeManager` content on `den.aspects.igloo`, which den walks only at host "
        "scope (the aspect of host `igloo`): den keeps what a host scope emits in the "
        "host's own classes, so this `homeManager` configuration never reaches a "
        "user. Move it to a user's aspect, to `den.aspects.igloo.provides.to-users` "
        "(every user of the host) or to `den.aspects.igloo.<user>` (one user)."
    )
    # Where the content should go is a choice: no fix is offered.
    assert finding.fixes == ()


@pytest.mark.parametrize(
    ("where", "home_class"),
    [
        # An aspect included only from a host aspect or the host schema.
        ("den.aspects.igloo.includes = [ den.aspects.desktop ];", "hjem"),
        ("den.schema.host.includes = [ den.aspects.desktop ];", "maid"),
        # Included with `with den.aspects;`.
        ("den.aspects.igloo.includes = with den.aspects; [ desktop ];", "homeManager"),
    ],
    ids=["host-include", "schema-include", "with"],
)
def test_home_content_on_an_aspect_included_only_at_host_scope(
    tmp_path: Path, where: str, home_class: str
):
    found, marks = findings(
        tmp_path,
        {
            **FLAKE,
            "modules/hosts.nix": HOSTS,
            "modules/igloo.nix": f"{{ den, ... }}: {{\n  den.aspects.igloo.nixos = {{ }};\n  {where}\n}}\n",
            "modules/desktop.nix": f"{{ den, ... }}: {{\n  den.aspects.desktop.⟪{home_class}⟫.x = true;\n}}\n",
            "modules/tux.nix": "{ den, ... }: { den.aspects.tux.nixos = { }; }\n",
        },
    )
    [finding] = found
    assert located(finding) == (
        "den/host-scope-home-content",
        "modules/desktop.nix",
        marks[0].start,
        marks[0].end,
    )
    assert finding.message == (
        f"`{home_class}` content on `den.aspects.desktop`, which den walks only at "
        "host scope (included only where hosts are walked): den keeps what a host "
        f"scope emits in the host's own classes, so this `{home_class}` "
        "configuration never reaches a user. Move it to an aspect walked for users "
        "(a user's aspect, `provides.to-users`, or an aspect included from one)."
    )


def test_home_content_in_a_parametric_host_aspect(tmp_path: Path):
    # den's own regression test for its issue 609: `{ host, ... }` binds once at
    # host scope, and the emission stays at the host.
    found, marks = findings(
        tmp_path,
        {
            **FLAKE,
            "modules/hosts.nix": HOSTS,
            "modules/igloo.nix": """{ den, ... }: {
  den.aspects.igloo = { host, ... }: {
    ⟪homeManager⟫.home.sessionVariables.HOST = host.name;
  };
  den.aspects.tux.nixos = { };
}
""",
        },
    )
    assert [located(f) for f in found] == [
        (
            "den/host-scope-home-content",
            "modules/igloo.nix",
            marks[0].start,
            marks[0].end,
        )
    ]


@pytest.mark.parametrize(
    "aspects",
    [
        # The ways den delivers host-level home content to users.
        "den.aspects.igloo.provides.to-users.homeManager.programs.git.enable = true;",
        "den.aspects.igloo._.to-users.homeManager.programs.git.enable = true;",
        "den.aspects.igloo.tux.homeManager.programs.git.enable = true;",
        "den.aspects.igloo.provides.tux.homeManager.programs.git.enable = true;",
        "den.aspects.igloo.homeManager.x = 1; den.aspects.tux.includes = [ den.batteries.host-aspects ];",
        # Walked at user scope too: the user's own aspect, or included from it.
        "den.aspects.tux.homeManager.x = 1;",
        "den.aspects.shared.homeManager.x = 1; den.aspects.igloo.includes = [ den.aspects.shared ]; den.aspects.tux.includes = [ den.aspects.shared ];",
        # den.default is walked at host, user and home scopes.
        'den.default.homeManager.home.stateVersion = "25.05";',
        "den.aspects.hm.homeManager.x = 1; den.default.includes = [ den.aspects.hm ];",
        # Included from somewhere den-lsp cannot place.
        "den.aspects.hm.homeManager.x = 1; den.aspects.igloo.includes = [ den.aspects.hm ]; flake.modules.hm = den.aspects.hm;",
        "den.aspects.hm.homeManager.x = 1; den.aspects.igloo.includes = [ den.aspects.hm ]; den.aspects.other = { includes = [ den.aspects.hm ]; };",
        # A host whose name is also a user's: its aspect is walked for the user.
        "den.hosts.x86_64-linux.tux = { }; den.aspects.tux.homeManager.x = 1;",
        # An aspect not walked at all is another rule's business.
        "den.aspects.unused.homeManager.x = 1;",
        # The workspace collects the class itself, wherever it is emitted.
        "den.aspects.igloo.homeManager.x = 1; "
        'den.policies.hm = { host, ... }: [ (den.lib.policy.route { fromClass = "homeManager"; '
        'intoClass = "nixos"; path = [ "hm" ]; }) ]; '
        "den.schema.host.includes = [ den.policies.hm ];",
        "den.aspects.igloo.hjem.x = 1; den.aspects.igloo.includes = [ "
        '(den.batteries.forward { each = [ 1 ]; fromClass = _: "hjem"; '
        'intoClass = _: "nixos"; intoPath = _: [ "hjem" ]; }) ];',
    ],
    ids=[
        "provides-to-users",
        "underscore-to-users",
        "host-user-child",
        "provides-user-name",
        "host-aspects-battery",
        "user-aspect",
        "shared",
        "den-default",
        "den-default-include",
        "referenced-elsewhere",
        "included-from-unplaced",
        "host-named-like-user",
        "unwalked",
        "collected-by-route",
        "collected-by-forward",
    ],
)
def test_home_content_reaching_users_stays_silent(tmp_path: Path, aspects: str):
    files = {
        **FLAKE,
        "modules/hosts.nix": HOSTS,
        "modules/aspects.nix": f"{{ den, ... }}: {{\n  den.aspects.igloo.nixos = {{ }};\n  {aspects}\n}}\n",
    }
    assert of(findings(tmp_path, files)[0], "den/host-scope-home-content") == []


@pytest.mark.parametrize(
    "extra",
    [
        # den before its issue-609 fix let host-scope homeManager reach users.
        "den.ctx.host.includes = [ den.aspects.igloo ];",
        # A host built by home-manager itself consumes homeManager at its scope.
        'den.hosts.x86_64-linux.igloo.class = "homeManager";',
        # A module from another flake may project host content onto users.
        "imports = [ inputs.someone.flakeModules.default ];",
    ],
    ids=["ctx-profile", "home-manager-host", "external-module"],
)
def test_host_home_content_where_den_lsp_cannot_tell(tmp_path: Path, extra: str):
    files = {
        **FLAKE,
        "modules/hosts.nix": HOSTS,
        "modules/igloo.nix": f"{{ den, inputs, ... }}: {{\n  den.aspects.igloo.homeManager.x = 1;\n  {extra}\n}}\n",
    }
    assert of(findings(tmp_path, files)[0], "den/host-scope-home-content") == []


# -- den/entity-without-aspect ------------------------------------------------------


def test_entities_without_an_aspect(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        {
            **FLAKE,
            "modules/hosts.nix": """{ den, ... }: {
  den.hosts.x86_64-linux.⟪igloo⟫.users.⟪tux⟫ = { };
  den.hosts.aarch64-darwin.⟪apple⟫ = { };
  den.homes.x86_64-linux.⟪"bob@igloo"⟫ = { };
}
""",
            "modules/aspects.nix": """{ den, ... }: {
  den.aspects.iglo.nixos = { };
}
""",
        },
    )
    assert [located(f) for f in found] == [
        ("den/entity-without-aspect", "modules/hosts.nix", m.start, m.end)
        for m in marks
    ]
    assert {f.severity.value for f in found} == {"information"}
    assert [f.message for f in found] == [
        "Host `igloo` has no `den.aspects.igloo` in this configuration: den gives it "
        "an empty aspect, so it is built only from `den.default` and the host "
        "schema's includes. Did you mean `den.aspects.iglo`? An entity's aspect is "
        "found by its exact name.",
        "User `tux` has no `den.aspects.tux` in this configuration: den gives it an "
        "empty aspect, so it is built only from `den.default` and the user schema's "
        "includes. Define `den.aspects.tux` to configure it.",
        "Host `apple` has no `den.aspects.apple` in this configuration: den gives it "
        "an empty aspect, so it is built only from `den.default` and the host "
        "schema's includes. Define `den.aspects.apple` to configure it.",
        "Home `bob@igloo` has no `den.aspects.bob` in this configuration: den gives "
        "it an empty aspect, so it is built only from `den.default` and the home "
        "schema's includes. Define `den.aspects.bob` to configure it.",
    ]


def test_a_user_on_two_hosts_is_reported_once(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        {
            **FLAKE,
            "modules/hosts.nix": """{ den, ... }: {
  den.hosts.x86_64-linux.igloo.users.⟪tux⟫ = { };
  den.hosts.x86_64-linux.iceberg.users.tux = { };
  den.aspects.igloo.nixos = { };
  den.aspects.iceberg.nixos = { };
}
""",
        },
    )
    assert [located(f) for f in found] == [
        ("den/entity-without-aspect", "modules/hosts.nix", marks[0].start, marks[0].end)
    ]


@pytest.mark.parametrize(
    "aspects",
    [
        # Defined in any style: dotted, nested, parametric, in another file.
        "den.aspects.igloo.nixos = { }; den.aspects.tux.homeManager = { };",
        "den.aspects = { igloo.nixos = { }; tux = { user, ... }: { nixos = { }; }; };",
        "den.aspects.igloo.includes = [ ]; den.aspects.tux.provides.x.nixos = { };",
        # A user configured through its host's entity-named child.
        "den.aspects.igloo.tux.homeManager = { };",
        # The entity names its aspect.
        "den.hosts.x86_64-linux.igloo.aspect = den.aspects.ice; den.hosts.x86_64-linux.igloo.users.tux.aspect = den.aspects.penguin;",
        "den.schema.host.aspect = den.aspects.base; den.schema.user.aspect = den.aspects.base;",
        # The aspect tree is computed: any name may be in it.
        'den.aspects = lib.genAttrs [ "igloo" "tux" ] (_: { });',
        'den.aspects.${lib.head [ "igloo" ]}.nixos = { }; den.aspects.tux.nixos = { };',
        # A module from outside may define the aspects.
        "imports = [ inputs.hosts.flakeModules.aspects ];",
    ],
    ids=[
        "dotted",
        "nested-parametric",
        "provides-only",
        "host-user-child",
        "aspect-attribute",
        "schema-aspect",
        "computed-tree",
        "computed-name",
        "external-module",
    ],
)
def test_entities_with_an_aspect_stay_silent(tmp_path: Path, aspects: str):
    files = {
        **FLAKE,
        "modules/hosts.nix": HOSTS,
        "modules/aspects.nix": f"{{ den, lib, inputs, ... }}: {{\n  {aspects}\n}}\n",
    }
    assert of(findings(tmp_path, files)[0], "den/entity-without-aspect") == []


def test_an_external_namespace_does_not_hide_missing_entity_aspects(tmp_path: Path):
    # A namespace from another flake adds `den.ful.<name>`, never `den.aspects`.
    found, marks = findings(
        tmp_path,
        {
            **FLAKE,
            "modules/ns.nix": """{ inputs, ... }: {
  imports = [ (inputs.den.namespace "provider" [ inputs.provider ]) ];
}
""",
            "modules/hosts.nix": """{ den, ... }: {
  den.hosts.x86_64-linux.⟪igloo⟫ = { };
}
""",
        },
    )
    assert [located(f) for f in found] == [
        ("den/entity-without-aspect", "modules/hosts.nix", marks[0].start, marks[0].end)
    ]


# -- den/unknown-aspect ---------------------------------------------------------------


def test_include_of_a_misspelt_nested_aspect(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        {
            **FLAKE,
            "modules/hosts.nix": HOSTS,
            "modules/igloo.nix": """{ den, ... }: {
  den.aspects.igloo.includes = [ ⟪den.aspects.roles.dekstop⟫ den.aspects.tux ];
  den.aspects.tux.nixos = { };
}
""",
            "modules/roles/desktop.nix": """{ den, ... }: {
  den.aspects.roles.desktop.nixos.services.xserver.enable = true;
}
""",
            "modules/roles/server.nix": """{ den, ... }: {
  den.aspects.roles.server.nixos.services.openssh.enable = true;
}
""",
        },
    )
    [finding] = found
    assert located(finding) == (
        "den/unknown-aspect",
        "modules/igloo.nix",
        marks[0].start,
        marks[0].end,
    )
    assert finding.severity.value == "warning"
    assert finding.message == (
        "`den.aspects.roles.dekstop` is not defined anywhere in this configuration: "
        "den fails to evaluate this include (attribute `dekstop` missing). Did you "
        "mean `den.aspects.roles.desktop`?"
    )


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            "⟪den.aspects.bsae⟫",
            "`den.aspects.bsae` is not defined anywhere in this configuration: den fails "
            "to evaluate this include (attribute `bsae` missing). Did you mean "
            "`den.aspects.base`?",
        ),
        (
            "⟪<bsae>⟫",
            "`den.aspects.bsae` is not defined anywhere in this configuration: den's "
            "angle-bracket lookup of `<bsae>` finds no `den.aspects.bsae` and fails the "
            "evaluation. Did you mean `den.aspects.base`?",
        ),
        (
            "⟪<eg/vmm>⟫",
            "`eg.vmm` is not defined anywhere in this configuration: den's angle-bracket "
            "lookup of `<eg/vmm>` finds no `eg.vmm` and fails the evaluation. Did you "
            "mean `eg.vm`?",
        ),
        (
            "⟪<eg/vm/termnal>⟫",
            "`eg.vm.termnal` is not defined anywhere in this configuration: den's "
            "angle-bracket lookup of `<eg/vm/termnal>` finds no `eg.vm.termnal` and "
            "fails the evaluation. Did you mean `eg.vm.terminal`?",
        ),
        (
            "⟪eg.vmm⟫",
            "`eg.vmm` is not defined anywhere in this configuration: den fails to "
            "evaluate this include (attribute `vmm` missing). Did you mean `eg.vm`?",
        ),
        (
            "⟪den.ful.eg.vm.grapical⟫",
            "`eg.vm.grapical` is not defined anywhere in this configuration: den fails "
            "to evaluate this include (attribute `grapical` missing). Did you mean "
            "`eg.vm.graphical`?",
        ),
        (
            "⟪den.aspects.base._.extar⟫",
            "`den.aspects.base.extar` is not defined anywhere in this configuration: den "
            "fails to evaluate this include (attribute `extar` missing). Did you mean "
            "`den.aspects.base.extra`?",
        ),
    ],
    ids=[
        "aspect",
        "bracket",
        "bracket-namespace",
        "bracket-nested",
        "namespace-arg",
        "den-ful",
        "provides",
    ],
)
def test_unknown_aspect_in_every_reference_style(
    tmp_path: Path, item: str, message: str
):
    found, marks = findings(
        tmp_path,
        {
            **FLAKE,
            "modules/namespace.nix": NAMESPACE,
            "modules/hosts.nix": HOSTS,
            "modules/igloo.nix": f"""{{ den, eg, __findFile, ... }}: {{
  den.aspects.igloo.includes = [ den.aspects.base {item} ];
  den.aspects.tux.nixos = {{ }};
}}
""",
            "modules/base.nix": """{ den, ... }: {
  den.aspects.base.nixos = { };
  den.aspects.base.provides.extra.nixos = { };
}
""",
            "modules/vm.nix": """{ eg, ... }: {
  eg.vm = { nixos = { }; graphical.nixos = { }; terminal.nixos = { }; };
}
""",
        },
    )
    [finding] = found
    assert located(finding) == (
        "den/unknown-aspect",
        "modules/igloo.nix",
        marks[0].start,
        marks[0].end,
    )
    assert finding.message == message


def test_unknown_aspect_in_excludes_and_with(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        {
            **FLAKE,
            "modules/hosts.nix": HOSTS,
            "modules/igloo.nix": """{ den, ... }: {
  den.aspects.igloo.includes = with den.aspects; [ base ⟪bsae⟫ ];
  den.aspects.tux.excludes = [ ⟪den.aspects.bas⟫ ];
  den.aspects.base.nixos = { };
}
""",
        },
    )
    assert [located(f) for f in found] == [
        ("den/unknown-aspect", "modules/igloo.nix", marks[0].start, marks[0].end),
        ("den/unknown-aspect", "modules/igloo.nix", marks[1].start, marks[1].end),
    ]
    assert found[1].message == (
        "`den.aspects.bas` is not defined anywhere in this configuration: den fails "
        "to evaluate this exclude (attribute `bas` missing). Did you mean "
        "`den.aspects.base`?"
    )


@pytest.mark.parametrize(
    "items",
    [
        # den creates every entity's own aspect, and ships some of its own.
        "den.aspects.tux den.aspects.igloo <tux> den.aspects.wsl-host-aspect",
        # Batteries and den's own paths are den's business.
        '<den/hostname> den.batteries.define-user den._.primary-user (<den/user-shell> "fish")',
        # Every spelling of a provides child.
        "den.aspects.base.extra den.aspects.base._.extra den.aspects.base.provides.extra <base/extra>",
        # Nested aspects defined across files, reached in every style.
        "den.aspects.roles.desktop den.aspects.roles.desktop.gnome <roles/desktop/gnome> <eg/vm/gui> eg.vm.gui den.ful.eg.vm",
        # A lexically bound name wins over `with`; computed names are unknown.
        '(with den.aspects; [ local base ]) den.aspects.${name} (map (n: den.aspects.${n}) [ "zzz" ])',
        # An aspect set the reader cannot see into may hold anything.
        "den.aspects.imported.anything den.aspects.called.deep.path <imported/x>",
        # Namespaces from other flakes, even where the workspace adds to them.
        "provider.tools.dev <provider/tools/dev> den.ful.provider.x provider.mine.nope",
        # A path below a parametric aspect is the function's business.
        "den.aspects.fn.sub",
    ],
    ids=[
        "entity-aspects",
        "batteries",
        "provides",
        "nested-across-files",
        "with-and-computed",
        "opaque",
        "external-namespace",
        "function",
    ],
)
def test_defined_or_unknowable_aspects_stay_silent(tmp_path: Path, items: str):
    files = {
        **FLAKE,
        "modules/namespace.nix": """{ inputs, den, ... }: {
  imports = [
    (inputs.den.namespace "eg" true)
    (inputs.den.namespace "provider" [ inputs.provider ])
  ];
  _module.args.__findFile = den.lib.__findFile;
}
""",
        "modules/hosts.nix": HOSTS,
        "modules/igloo.nix": f"""{{ den, eg, provider, lib, __findFile, ... }}:
let
  local = {{ nixos = {{ }}; }};
  name = lib.head [ "computed" ];
in
{{
  den.aspects.igloo.includes = [ {items} ];
  provider.mine.nixos = {{ }};
}}
""",
        "modules/base.nix": """{ den, ... }: {
  den.aspects.base.nixos = { };
  den.aspects.base.provides.extra.nixos = { };
  den.aspects.imported = import ./imported.nix;
  den.aspects.called = den.lib.something { };
  den.aspects.fn = { host, ... }: { sub.nixos = { }; };
}
""",
        "modules/roles/desktop.nix": "{ den, ... }: { den.aspects.roles.desktop.nixos = { }; }\n",
        "modules/roles/gnome.nix": "{ den, ... }: { den.aspects.roles.desktop.gnome.nixos = { }; }\n",
        "modules/vm.nix": "{ eg, ... }: { eg.vm = { nixos = { }; gui.nixos = { }; }; }\n",
    }
    assert of(findings(tmp_path, files)[0], "den/unknown-aspect") == []


def test_unknown_aspect_is_silent_when_modules_come_from_outside(tmp_path: Path):
    files = {
        **FLAKE,
        "modules/hosts.nix": HOSTS,
        "modules/igloo.nix": """{ den, inputs, ... }: {
  imports = [ inputs.shared.flakeModules.aspects ];
  den.aspects.igloo.includes = [ den.aspects.from-shared ];
}
""",
    }
    assert of(findings(tmp_path, files)[0], "den/unknown-aspect") == []
