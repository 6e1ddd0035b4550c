"""Removed and deprecated den API, judged by the active profile."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol import types

from den_lsp.features.diagnostics import to_diagnostic
from nixfixture import findings, located

FLAKE = {"flake.nix": "{ outputs = _: { }; }\n"}

STAGES = (
    "`den.stages` was removed: den throws a migration error as soon as it is set. "
    "Write `den.stages.<kind>.includes` as `den.schema.<kind>.includes`."
)
DELIVERED_CHILD = (
    "`den.deliveredChild` was removed with den's delivered-child policy: the option "
    'no longer exists, so evaluation fails with "The option `den.deliveredChild` '
    'does not exist". Declare the guest as an isolated kind '
    "(`den.schema.<kind>.isolated = true`) that a host policy creates with "
    "`resolve.to.withIncludes`, delivered by a route with `appendToParent = true`."
)
DELIVERED_CHILDREN = (
    "`deliveredChildren` is no longer read by den: a host accepts any attribute, "
    "so this is silently ignored and no guest is delivered. Resolve guests from "
    "your own host policy (`resolve.to.withIncludes` an isolated kind, with a "
    "delivery route that sets `appendToParent = true`)."
)
GUEST_OS_TAIL = (
    ": den no longer has the `guest-os` class of its delivered-child design, so "
    "this is an unregistered class that nothing reads, and the guest gets none of "
    "it. Isolation replaced it: author the guest's content under `nixos`, mark the "
    "guest's kind `isolated = true`, and deliver it with a route that sets "
    "`appendToParent = true`."
)


def module(body: str, args: str = "den, lib") -> dict[str, str]:
    return {**FLAKE, "modules/m.nix": f"{{ {args}, ... }}: {{\n  {body}\n}}\n"}


# -- den/removed-api -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("den.⟪stages⟫.host.includes = [ den.aspects.base ];", STAGES),
        ("den = { ⟪stages⟫.host.includes = [ ]; };", STAGES),
        ("den.⟪deliveredChild⟫.web = { };", DELIVERED_CHILD),
        (
            'den.hosts.x86_64-linux.igloo = { ⟪deliveredChildren⟫ = [ "web" ]; };',
            DELIVERED_CHILDREN,
        ),
        (
            "den.hosts.x86_64-linux.igloo.⟪deliveredChildren⟫.web = { };",
            DELIVERED_CHILDREN,
        ),
        (
            "den.aspects.web.⟪guest-os⟫.services.nginx.enable = true;",
            "`guest-os` content on `den.aspects.web`" + GUEST_OS_TAIL,
        ),
        (
            "den.aspects.roles.web = { nixos = { }; ⟪guest-os⟫ = { }; };",
            "`guest-os` content on `den.aspects.roles.web`" + GUEST_OS_TAIL,
        ),
        (
            "den.schema.host.includes = [ den.policies.p ];\n"
            '  den.policies.p = { host, ... }: [ (den.lib.policy.route { fromClass = "nixos"; '
            'intoClass = ⟪"guest-os"⟫; }) ];',
            "Class `guest-os`" + GUEST_OS_TAIL,
        ),
        (
            "den.ctx.host.⟪into⟫.user = { host }: [ ];",
            "den's compatibility shim for `den.ctx` drops `into`, so this transition "
            "out of `host` never runs. Write it as a policy that returns "
            '`resolve.to "<kind>" { ... }` and add it to `den.schema.host.includes`.',
        ),
    ],
    ids=[
        "stages",
        "stages-nested",
        "deliveredChild",
        "deliveredChildren",
        "deliveredChildren-dotted",
        "guest-os-key",
        "guest-os-nested-aspect",
        "guest-os-route",
        "ctx-into",
    ],
)
def test_removed_api(tmp_path: Path, body: str, message: str):
    found, marks = findings(tmp_path, module(body), profile="isolation")
    removed = [f for f in found if f.code == "den/removed-api"]
    assert [located(f) for f in removed] == [
        ("den/removed-api", "modules/m.nix", marks[0].start, marks[0].end)
    ]
    assert removed[0].severity.value == "warning"
    assert removed[0].message == message


@pytest.mark.parametrize(
    "body",
    [
        # The workspace declares the option itself (den's own source of that
        # generation, or a compatibility module).
        "options.den.deliveredChild = lib.mkOption { }; config.den.deliveredChild.web = { };",
        # A guest-os class the workspace registers, or collects with its own route.
        'den.classes.guest-os.description = "guests"; den.aspects.web.guest-os = { x = 1; };',
        """den.aspects.web.guest-os.services.nginx.enable = true;
  den.schema.host.includes = [ den.policies.guest-os ];
  den.policies.guest-os = { host, ... }: [
    (den.lib.policy.route { fromClass = "guest-os"; intoClass = "nixos"; path = [ "vm" ]; })
  ];""",
        # A host attribute the workspace's own policy reads.
        """den.hosts.x86_64-linux.igloo.deliveredChildren = [ "web" ];
  den.schema.host.includes = [ den.policies.guests ];
  den.policies.guests = { host, ... }: map (g: den.lib.policy.resolve.to "guest" { guest = g; }) host.deliveredChildren;""",
        # Explicit provides segments in angle brackets resolve directly, with no
        # warning: `provides` and `_` are keys of every aspect.
        "den.aspects.base.provides.sub.nixos = { }; den.aspects.igloo.includes = [ <base/provides/sub> <base/_/sub> <base/sub> ];",
    ],
    ids=[
        "declared",
        "guest-os-registered",
        "guest-os-routed",
        "deliveredChildren-read",
        "bracket-provides",
    ],
)
def test_removed_api_the_workspace_owns_stays_silent(tmp_path: Path, body: str):
    files = module(body, "den, lib, __findFile")
    assert [f for f in findings(tmp_path, files)[0] if f.code.endswith("-api")] == []


def test_the_design_profile_still_has_the_delivered_child_api(tmp_path: Path):
    # The isolation design predates the removal of guest-os and deliveredChildren.
    files = module(
        'den.aspects.web.guest-os.x = 1; den.hosts.x86_64-linux.igloo.deliveredChildren = [ "web" ];'
    )
    found, _ = findings(tmp_path, files, profile="isolation-design")
    assert [f for f in found if f.code == "den/removed-api"] == []


# -- den/deprecated-api --------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "den.⟪ctx⟫.host.includes = [ ];",
            "`den.ctx` is deprecated: den turns `den.ctx.host` into "
            "`den.schema.host.includes` and warns on every evaluation. Write "
            "`den.schema.host.includes` instead.",
        ),
        (
            "den.aspects.x.includes = [ (⟪den.lib.parametric⟫ { nixos = { }; }) ];",
            "`den.lib.parametric` is deprecated and warns on every evaluation: den now "
            "passes a parametric function only the context it names. Use the aspect, "
            "or a function such as `{ host, ... }: { ... }`, directly.",
        ),
        (
            "den.aspects.x.includes = [ (⟪den.lib.parametric.exactly⟫ { nixos = { }; }) ];",
            "`den.lib.parametric.exactly` is deprecated and warns on every evaluation: "
            "den now passes a parametric function only the context it names. Use the "
            "aspect, or a function such as `{ host, ... }: { ... }`, directly.",
        ),
        (
            "den.aspects.x.includes = [ (⟪den.lib.take.atLeast⟫ ({ host, ... }: { })) ];",
            "`den.lib.take.atLeast` is deprecated and warns on every evaluation: den "
            "now passes a function only the context it names, and skips it where that "
            "context is missing. Use the function directly.",
        ),
    ],
    ids=["ctx", "parametric", "parametric-exactly", "take-atLeast"],
)
def test_deprecated_api(tmp_path: Path, body: str, message: str):
    found, marks = findings(tmp_path, module(body), profile="isolation")
    assert [located(f) for f in found] == [
        ("den/deprecated-api", "modules/m.nix", marks[0].start, marks[0].end)
    ]
    [finding] = found
    assert finding.severity.value == "hint"
    assert finding.message == message
    # Editors strike a deprecated construct through.
    assert to_diagnostic(finding).tags == [types.DiagnosticTag.Deprecated]


def test_a_workspace_using_policies_gets_the_deprecations(tmp_path: Path):
    # With `profile = "auto"`, den's policy API is the sign of a den that
    # deprecates `den.ctx`.
    files = module(
        "den.ctx.host.includes = [ den.policies.p ];\n"
        "  den.policies.p = { host, ... }: [ (den.lib.policy.include { }) ];"
    )
    found, _ = findings(tmp_path, files)
    assert [f.code for f in found] == ["den/deprecated-api"]


@pytest.mark.parametrize(
    "profile", ["ctx", "auto"], ids=["ctx-profile", "detected-ctx-workspace"]
)
def test_den_before_policies_reports_no_deprecation(tmp_path: Path, profile: str):
    # den before policies: `den.ctx` and `den.lib.parametric` are its own API.
    files = module(
        "den.ctx.host.into.user = { host }: [ ]; "
        "den.ctx.host.includes = [ (den.lib.parametric { nixos = { }; }) ];"
    )
    found, _ = findings(tmp_path, files, profile=profile)
    assert [f for f in found if f.code.endswith("-api")] == []


def test_take_unused_is_a_plain_helper(tmp_path: Path):
    files = module(
        "den.aspects.igloo.includes = let unused = den.lib.take.unused __findFile; in [ ];\n"
        "  den.policies.p = { host, ... }: [ ]; den.schema.host.includes = [ den.policies.p ];"
    )
    assert findings(tmp_path, files)[0] == []
