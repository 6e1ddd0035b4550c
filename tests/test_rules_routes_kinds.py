"""Route field and kind name rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from nixfixture import apply_edits, findings, located


def _policy(route_body: str) -> dict[str, str]:
    return {
        "p.nix": f"""{{ den, ... }}: {{
  den.schema.host.includes = [ den.policies.p ];
  den.policies.p = {{ host, ... }}: [
    (den.lib.policy.route {{ {route_body} }})
  ];
}}
"""
    }


def test_unknown_route_field_with_did_you_mean(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        _policy('fromClass = "os"; intoClass = "nixos"; ⟪collectSubTree⟫ = true;'),
    )
    [typo] = found
    assert located(typo) == (
        "den/unknown-route-field",
        "p.nix",
        marks[0].start,
        marks[0].end,
    )
    assert typo.message == (
        "den's route does not read `collectSubTree` (profile `isolation`): the field is "
        "silently ignored. Did you mean `collectSubtree`?"
    )
    [fix] = typo.fixes
    assert (fix.title, fix.safe) == (
        "Rename `collectSubTree` to `collectSubtree`",
        False,
    )
    fixed = apply_edits((tmp_path / "p.nix").read_text(), fix.edits)
    assert "collectSubtree = true;" in fixed


def test_collect_scope_id_is_unknown_in_the_shipped_profile(tmp_path: Path):
    found, _ = findings(
        tmp_path,
        _policy(
            'fromClass = "nixos"; intoClass = "nixos"; collectScopeId = "guest"; reinstantiate = true;'
        ),
    )
    assert [f.code for f in found] == ["den/unknown-route-field"]


def test_profile_is_detected_from_collect_scope_id(tmp_path: Path):
    found, _ = findings(
        tmp_path,
        _policy('fromClass = "nixos"; intoClass = "nixos"; collectScopeId = "guest";'),
    )
    assert found == []


@pytest.mark.parametrize(
    "body",
    [
        'fromClass = "os"; intoClass = "nixos"; path = [ ]; guard = { config, ... }: true;',
        'fromClass = "os"; intoClass = "nixos"; intoPath = [ "a" ]; adaptArgs = a: a;',
        'fromClass = "os"; intoClass = "nixos"; instantiate = m: m; mapModule = m: m;',
    ],
)
def test_known_route_fields_are_silent(tmp_path: Path, body: str):
    assert findings(tmp_path, _policy(body))[0] == []


def test_path_and_into_path_conflict(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        _policy(
            'fromClass = "os"; intoClass = "nixos"; path = [ ]; ⟪intoPath⟫ = [ "x" ];'
        ),
    )
    [conflict] = found
    assert located(conflict) == (
        "den/conflicting-route-fields",
        "p.nix",
        marks[0].start,
        marks[0].end,
    )
    assert conflict.severity.value == "error"
    assert "den throws `pass either intoPath or path, not both`" in conflict.message


def test_append_to_parent_and_collect_scope_id_conflict(tmp_path: Path):
    found, _ = findings(
        tmp_path,
        _policy(
            'fromClass = "os"; intoClass = "nixos"; appendToParent = true; collectScopeId = "g";'
        ),
        profile="isolation-design",
    )
    # One finding for the pair, not a second one calling a field unknown.
    assert [f.code for f in found] == ["den/conflicting-route-fields"]


def test_unknown_kind_in_resolve_to(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        {
            "k.nix": """{ den, ... }: {
  den.schema.guest = { isEntity = true; isolated = true; };
  den.schema.host.includes = [ den.policies.g ];
  den.policies.g = { host, ... }: [ (den.lib.policy.resolve.to ⟪"gust"⟫ { gust = host; }) ];
}
""",
        },
    )
    [unknown] = found
    assert located(unknown) == (
        "den/unknown-kind",
        "k.nix",
        marks[0].start,
        marks[0].end,
    )
    assert unknown.message.endswith("Did you mean `guest`?")
    assert unknown.fixes[0].edits[0].new_text == '"guest"'


def test_unknown_parent_kind(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        {
            "k.nix": '{ den, ... }: {\n  den.schema.guest = { isEntity = true; parent = ⟪"hots"⟫; };\n}\n'
        },
    )
    [unknown] = found
    assert located(unknown) == (
        "den/unknown-kind",
        "k.nix",
        marks[0].start,
        marks[0].end,
    )
    assert "Did you mean `host`?" in unknown.message


@pytest.mark.parametrize(
    "target",
    ['"host"', '"wsl-host"', '"flake-system"', "kindName", '"environment"'],
    ids=["builtin", "routing-only", "builtin-flake", "computed", "declared-elsewhere"],
)
def test_known_or_unknowable_kinds_are_silent(tmp_path: Path, target: str):
    found, _ = findings(
        tmp_path,
        {
            "k.nix": f"""{{ den, kindName, ... }}: {{
  den.schema.environment.includes = [ ];
  den.schema.flake.includes = [ den.policies.g ];
  den.policies.g = {{ ... }}: [ (den.lib.policy.resolve.to {target} {{ }}) ];
}}
""",
        },
    )
    assert found == []


def test_severity_override_and_off(tmp_path: Path):
    files = _policy('fromClass = "os"; intoClass = "nixos"; collectSubTree = true;')
    found, _ = findings(tmp_path, files, severity={"den/unknown-route-field": "error"})
    assert [(f.code, f.severity.value) for f in found] == [
        ("den/unknown-route-field", "error")
    ]
    found, _ = findings(tmp_path, {}, severity={"den/unknown-route-field": "off"})
    assert found == []


def test_settings_from_den_lsp_toml(tmp_path: Path):
    files = _policy('fromClass = "os"; intoClass = "nixos"; collectSubTree = true;')
    files["den-lsp.toml"] = '[severity]\n"den/unknown-route-field" = "hint"\n'
    found, _ = findings(tmp_path, files)
    assert [(f.code, f.severity.value) for f in found] == [
        ("den/unknown-route-field", "hint")
    ]


def test_field_of_another_profile_gets_no_look_alike_suggestion(tmp_path: Path):
    found, _ = findings(
        tmp_path,
        _policy('fromClass = "os"; intoClass = "nixos"; ⟪reinstantiate⟫ = true;'),
        profile="isolation-design",
    )
    [other] = found
    assert other.message.startswith(
        "`reinstantiate` is a route field of profile `isolation` "
    )
    assert "Did you mean" not in other.message and other.fixes == ()
