"""Policy rules: never activated, never satisfiable, closed argument sets.

No rule here proposes removing a policy's arguments: in den they select
where the policy fires.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from den_lsp.analysis.codes import CODES, UNNECESSARY
from nixfixture import apply_edits, findings, located

FLAKE = {"flake.nix": "{ outputs = _: { }; }\n"}


def of(found, code: str) -> list:
    return [f for f in found if f.code == code]


# -- den/policy-never-activated ------------------------------------------------------


def test_policy_that_no_includes_list_names(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        {
            **FLAKE,
            "modules/motd.nix": """{ den, ... }: {
  den.policies.⟪motd⟫ = { host, ... }: [
    (den.lib.policy.route { fromClass = "os"; intoClass = "nixos"; })
  ];
}
""",
        },
    )
    [finding] = found
    assert located(finding) == (
        "den/policy-never-activated",
        "modules/motd.nix",
        marks[0].start,
        marks[0].end,
    )
    assert finding.severity.value == "hint"
    assert CODES[finding.code].tags == (UNNECESSARY,)
    assert finding.message == (
        "Policy `motd` is registered in `den.policies`, but no includes list, "
        "`withIncludes` or `excludes` names `den.policies.motd`: den fires a policy "
        "only where an includes list places it, so this one never fires. Add "
        "`den.policies.motd` to the includes of the kind or aspect where it should "
        "fire (`den.schema.<kind>.includes`, `den.default.includes`, an aspect's "
        "`includes`), or remove it."
    )
    assert finding.fixes == ()


@pytest.mark.parametrize(
    "activation",
    [
        "den.schema.host.includes = [ den.policies.motd ];",
        "den.default.includes = [ den.policies.motd ];",
        "den.aspects.igloo.includes = [ den.policies.motd ];",
        "den.ful.eg.base.includes = [ den.policies.motd ];",
        "den.schema.user.excludes = [ den.policies.motd ];",
        # Listed in the withIncludes of a resolve another policy returns.
        """den.schema.host.includes = [ den.policies.guests ];
  den.policies.guests = { host, ... }: [
    (den.lib.policy.resolve.to.withIncludes "guest" [ den.policies.motd ] { guest = host; })
  ];""",
        # Reached in ways den-lsp does not follow name by name.
        "den.schema.host.includes = with den.policies; [ motd ];",
        "den.schema.host.includes = lib.attrValues den.policies;",
        "den.schema.host.includes = [ den.policies.${name} ];",
        'den.schema.host.includes = map (n: den.policies.${n}) [ "motd" ];',
        # den's own opt-in policies are meant to be left unused.
        "den.policies.packages-to-flake-parts = { system, ... }: [ ];",
        # Modules from outside may include it.
        "imports = [ inputs.shared.flakeModules.default ];",
    ],
    ids=[
        "schema",
        "default",
        "aspect",
        "namespace-aspect",
        "excludes",
        "withIncludes",
        "with",
        "attrValues",
        "computed-name",
        "map",
        "builtin",
        "external-module",
    ],
)
def test_activated_or_unknowable_policies_stay_silent(tmp_path: Path, activation):
    files = {
        **FLAKE,
        "modules/motd.nix": """{ den, ... }: {
  den.policies.motd = { host, ... }: [ ];
}
""",
        "modules/use.nix": f"""{{ den, lib, inputs, ... }}:
let name = lib.head [ "motd" ]; in
{{
  {activation}
}}
""",
    }
    assert of(findings(tmp_path, files)[0], "den/policy-never-activated") == []


def test_an_external_namespace_does_not_hide_an_unused_policy(tmp_path: Path):
    # A namespace from another flake brings aspects evaluated against that
    # flake's policies, never this workspace's.
    found, marks = findings(
        tmp_path,
        {
            **FLAKE,
            "modules/ns.nix": """{ inputs, ... }: {
  imports = [ (inputs.den.namespace "provider" [ inputs.provider ]) ];
}
""",
            "modules/motd.nix": """{ den, ... }: {
  den.policies.⟪motd⟫ = { host, ... }: [ ];
}
""",
        },
    )
    assert [located(f) for f in found] == [
        ("den/policy-never-activated", "modules/motd.nix", marks[0].start, marks[0].end)
    ]


# -- den/policy-unknown-context ------------------------------------------------------


def test_policy_requiring_a_module_argument(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        {
            **FLAKE,
            "modules/motd.nix": """{ den, ... }: {
  den.schema.host.includes = [ den.policies.motd ];
  den.policies.motd = { host, ⟪config⟫, ... }: [
    (den.lib.policy.route { fromClass = "os"; intoClass = "nixos"; })
  ];
}
""",
        },
    )
    [finding] = found
    assert located(finding) == (
        "den/policy-unknown-context",
        "modules/motd.nix",
        marks[0].start,
        marks[0].end,
    )
    assert finding.severity.value == "warning"
    assert finding.message == (
        "Policy `motd` requires `config`, a module argument that den never puts in "
        "a policy's context (a policy receives context keys such as `host`, `user` "
        "and `system`), so it never fires. Take what you need from the context "
        "instead, and use `config` inside the class module the policy produces."
    )
    # Removing an argument changes where a policy fires: no fix is offered.
    assert finding.fixes == ()


@pytest.mark.parametrize(
    ("formals", "arg", "suggestion"),
    [
        ("{ ⟪hots⟫, ... }", "hots", "host"),
        ("{ host, ⟪usr⟫, ... }", "usr", "user"),
        # A kind the workspace declares, and one a resolve creates.
        ("{ ⟪gust⟫, ... }", "gust", "guest"),
        ("{ ⟪clustr⟫, ... }", "clustr", "cluster"),
    ],
    ids=["host", "user", "declared-kind", "resolved-kind"],
)
def test_policy_requiring_a_misspelt_kind(tmp_path: Path, formals, arg, suggestion):
    found, marks = findings(
        tmp_path,
        {
            **FLAKE,
            "modules/kinds.nix": """{ den, ... }: {
  den.schema.guest = { isEntity = true; parent = "host"; };
  den.schema.flake-system.includes = [ den.policies.clusters ];
  den.policies.clusters = { system, ... }: [
    (den.lib.policy.resolve.to "cluster" { cluster = { }; })
  ];
}
""",
            "modules/p.nix": f"""{{ den, ... }}: {{
  den.schema.host.includes = [ den.policies.p ];
  den.policies.p = {formals}: [ ];
}}
""",
        },
    )
    [finding] = of(found, "den/policy-unknown-context")
    assert located(finding) == (
        "den/policy-unknown-context",
        "modules/p.nix",
        marks[0].start,
        marks[0].end,
    )
    assert finding.message == (
        f"Policy `p` requires `{arg}`, which is neither a kind nor a context key den "
        "binds in this configuration: den calls a policy only where every argument "
        "without a default is in the context, so it never fires. "
        f"Did you mean `{suggestion}`?"
    )


def test_policy_in_an_aspects_policies_is_checked_too(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        {
            **FLAKE,
            "modules/igloo.nix": """{ den, ... }: {
  den.hosts.x86_64-linux.igloo = { };
  den.aspects.igloo.policies.tools = { host, ⟪pkgs⟫, ... }: [ ];
  den.aspects.igloo.includes = [ den.aspects.igloo.policies.tools ];
}
""",
        },
    )
    assert [located(f) for f in found] == [
        (
            "den/policy-unknown-context",
            "modules/igloo.nix",
            marks[0].start,
            marks[0].end,
        )
    ]
    assert found[0].message.startswith(
        "Policy `den.aspects.igloo.policies.tools` requires `pkgs`, a module argument"
    )


@pytest.mark.parametrize(
    "formals",
    [
        # Kinds, den's own context keys, and the routing scopes den resolves.
        "{ host, user, home, ... }",
        "{ self, system, class, aspect-chain, inputs, lib, den, osConfig, ... }",
        "{ flake-parts, wsl-host, hm-host, ... }",
        # Arguments with a default never keep a policy from firing.
        "{ host, pkgs ? null, config ? { }, ... }",
        # Keys a resolve binds, a quirk, and names listed in [known].
        "{ host, environment, cluster, ... }",
        "{ firewall, ... }",
        "{ region, ... }",
        # A name the workspace binds in a way den-lsp cannot read.
        "{ hots, ... }",
        # Not close to anything: den-lsp cannot tell what was meant.
        "{ datacenter, ... }",
    ],
    ids=[
        "kinds",
        "context-keys",
        "routing-scopes",
        "defaults",
        "resolve-bindings",
        "quirk",
        "known",
        "bound-elsewhere",
        "unrelated",
    ],
)
def test_satisfiable_or_unknowable_arguments_stay_silent(tmp_path: Path, formals):
    files = {
        **FLAKE,
        "den-lsp.toml": '[known]\ncontext-keys = ["region"]\n',
        "modules/kinds.nix": """{ den, lib, ... }: {
  den.quirks.firewall.description = "open ports";
  den.schema.flake-system.includes = [ den.policies.env ];
  den.policies.env = { system, ... }: [
    (den.lib.policy.resolve { environment = "prod"; })
    (den.lib.policy.resolve.to "cluster" { cluster = { }; })
  ];
  flake.lib.extraContext = { hots = "bound in code"; };
}
""",
        "modules/p.nix": f"""{{ den, ... }}: {{
  den.schema.host.includes = [ den.policies.p ];
  den.policies.p = {formals}: [ ];
}}
""",
    }
    assert of(findings(tmp_path, files)[0], "den/policy-unknown-context") == []


def test_pkgs_is_silent_when_some_resolve_binds_unreadable_keys(tmp_path: Path):
    files = {
        **FLAKE,
        "modules/p.nix": """{ den, lib, ... }: {
  den.schema.host.includes = [ den.policies.enrich den.policies.p ];
  den.policies.enrich = { host, ... }: [ (den.lib.policy.resolve (lib.mkPkgsFor host)) ];
  den.policies.p = { host, pkgs, ... }: [ ];
}
""",
    }
    assert of(findings(tmp_path, files)[0], "den/policy-unknown-context") == []


def test_parametric_aspects_are_not_policies(tmp_path: Path):
    # A parametric aspect asking for `config` or a closed set is den's other
    # mechanism: den passes it only the arguments it names.
    files = {
        **FLAKE,
        "modules/igloo.nix": """{ den, ... }: {
  den.hosts.x86_64-linux.igloo.users.tux = { };
  den.aspects.igloo.includes = [
    ({ host, user }: { nixos.users.users.${user.userName}.description = host.name; })
  ];
  den.aspects.tux = { user }: { nixos = { }; };
}
""",
    }
    found = findings(tmp_path, files)[0]
    assert of(found, "den/policy-unknown-context") == []
    assert of(found, "den/closed-context-args") == []


# -- den/closed-context-args ---------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "closed", "opened", "fixed"),
    [
        ("⟪{ host }⟫", "{ host }", "{ host, ... }", "{ host, ... }"),
        (
            "⟪{ host, user }⟫@args",
            "{ host, user }",
            "{ host, user, ... }",
            "{ host, user, ... }@args",
        ),
        ("⟪{ }⟫", "{ }", "{ ... }", "{ ... }"),
        (
            "args@⟪{\n    host,\n    user ? null,\n  }⟫",
            "{ host, user }",
            "{ host, user, ... }",
            "args@{\n    host,\n    user ? null, ...\n  }",
        ),
    ],
    ids=["one", "at-pattern", "empty", "multi-line"],
)
def test_policy_with_a_closed_argument_set(
    tmp_path: Path, written: str, closed: str, opened: str, fixed: str
):
    found, marks = findings(
        tmp_path,
        {
            **FLAKE,
            "modules/p.nix": f"""{{ den, ... }}: {{
  den.schema.host.includes = [ den.policies.p ];
  den.policies.p = {written}: [ ];
}}
""",
        },
    )
    [finding] = found
    assert located(finding) == (
        "den/closed-context-args",
        "modules/p.nix",
        marks[0].start,
        marks[0].end,
    )
    assert finding.severity.value == "warning"
    assert finding.message == (
        f"Policy `p` takes a closed argument set (`{closed}`), but den calls a "
        "policy with the whole context of the scope it fires in: `self` and every "
        "kind and key bound there, not only the arguments it names. The call fails "
        f'with "called with unexpected argument". Add `...`: `{opened}`.'
    )
    [fix] = finding.fixes
    assert (fix.title, fix.safe) == ("Accept the rest of the context (`...`)", True)
    text = (tmp_path / "modules/p.nix").read_text()
    assert f"den.policies.p = {fixed}: [ ];" in apply_edits(text, fix.edits)
    (tmp_path / "modules/p.nix").write_text(apply_edits(text, fix.edits))
    assert findings(tmp_path, {})[0] == []


@pytest.mark.parametrize(
    "policy",
    [
        "{ host, ... }: [ ]",
        "args: [ ]",
        "{ host, ... }@args: [ ]",
        # A record den builds from a function keeps the function's formals.
        'den.lib.policy.mkPolicy "p" ({ host, ... }: [ ])',
    ],
    ids=["open", "plain-argument", "at-pattern", "mkPolicy"],
)
def test_open_argument_sets_stay_silent(tmp_path: Path, policy: str):
    files = {
        **FLAKE,
        "modules/p.nix": f"""{{ den, ... }}: {{
  den.schema.host.includes = [ den.policies.p ];
  den.policies.p = {policy};
}}
""",
    }
    assert findings(tmp_path, files)[0] == []
