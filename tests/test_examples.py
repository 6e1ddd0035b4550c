"""`den-lsp check` on every shipped example prints exactly the expected findings."""

from __future__ import annotations

from pathlib import Path

import pytest

from den_lsp.cli import main

REPO = Path(__file__).resolve().parents[1]

EXPECTED = {
    "host-with-home-manager": (0, "No findings.\n"),
    "microvm-guest-correct": (0, "No findings.\n"),
    "nested-let-style": (0, "No findings.\n"),
    "microvm-guest-leak": (
        0,
        "examples/microvm-guest-leak/modules/guest-kind.nix:5:14: warning "
        "den/isolation-leak: Kind `guest` is created under `host` scopes "
        '(`resolve.to "guest"` at modules/guest-policies.nix:12) and delivered to '
        "`microvm.vms.<name>.config` by the route at modules/guest-policies.nix:29, "
        "but it is not isolated. den also collects its `nixos` content into the "
        "host's own configuration, so guest-only options break the host's build "
        "(e.g. \"option 'microvm.guest' does not exist\"). Add `isolated = true;` "
        "to `den.schema.guest`.\n"
        "1 finding in 1 file: 1 warning.\n",
    ),
    "microvm-guest-dropped": (
        0,
        "examples/microvm-guest-dropped/modules/guest-policies.nix:29:8: warning "
        "den/delivery-dropped: This route fires inside isolated kind `guest` "
        "(policy `deliver-guest`) and collects its subtree, but appends the result "
        "to the `guest` scope itself. The `host` extraction skips isolated scopes, "
        "so the delivered content is silently dropped. Add `appendToParent = true;` "
        "so the result lands at the parent.\n"
        "1 finding in 1 file: 1 warning.\n",
    ),
}


def test_every_example_is_covered():
    shipped = sorted(p.name for p in (REPO / "examples").iterdir() if p.is_dir())
    assert shipped == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example(name: str, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    code, output = EXPECTED[name]
    assert main(["check", f"examples/{name}"]) == code
    assert capsys.readouterr().out == output


@pytest.mark.parametrize("name", ["microvm-guest-leak", "microvm-guest-dropped"])
def test_example_fails_with_fail_on_warning(name: str, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    assert main(["check", "--fail-on", "warning", f"examples/{name}"]) == 1
