"""``den-lsp explain``: every rule's documentation, from the one registry.

The registry (``den_lsp.analysis.codes``) is the single source of the rules:
``den-lsp explain``, hover on a finding and the README's rules table all
say what it says, and its wrong and right examples are checked against the
rules themselves.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from den_lsp.analysis.codes import CODES, SILENCE
from den_lsp.cli import main
from den_lsp.features.hover import hover_at
from nixfixture import findings, project

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("code", sorted(CODES))
def test_explain_prints_every_section_of_every_rule(code: str, capsys):
    assert main(["explain", code]) == 0
    out = capsys.readouterr().out
    rule = CODES[code]
    tags = f", tagged {', '.join(rule.tags)}" if rule.tags else ""
    sections = re.findall(r"^### (.+)$", out, re.M)
    assert sections == ["What den does", "Wrong", "Right", "How to fix or silence it"]
    assert out.startswith(
        f"## `{code}`\n\n**{rule.severity.value}{tags}.** {rule.summary}.\n"
    )
    assert rule.what and rule.wrong and rule.right and rule.fix
    assert f"### What den does\n\n{rule.what}\n" in out
    assert f"### Wrong\n\n```nix\n{rule.wrong}\n```\n" in out
    assert f"### Right\n\n```nix\n{rule.right}\n```\n" in out
    assert out.endswith(f"{rule.fix}\n\n{SILENCE.format(code=code)}\n")


def test_explain_takes_a_code_without_its_prefix(capsys):
    assert main(["explain", "unknown-class"]) == 0
    short = capsys.readouterr().out
    assert main(["explain", "den/unknown-class"]) == 0
    assert capsys.readouterr().out == short


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("den/unknwon-class", "den/unknown-class"),
        ("policy-never-activate", "den/policy-never-activated"),
        ("den/closed-context-arg", "den/closed-context-args"),
    ],
)
def test_explain_a_typo_fails_with_a_suggestion(typed: str, meant: str, capsys):
    assert main(["explain", typed]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"den-lsp: unknown rule code {typed!r}. Did you mean `{meant}`? "
        "`den-lsp explain` lists the codes.\n"
    )


def test_explain_an_unrelated_word_fails_without_a_suggestion(capsys):
    assert main(["explain", "banana"]) == 2
    assert capsys.readouterr().err == (
        "den-lsp: unknown rule code 'banana'. `den-lsp explain` lists the codes.\n"
    )


def test_explain_without_a_code_lists_every_rule(capsys):
    assert main(["explain"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [
        [c.code, c.severity.value] for c in CODES.values()
    ]


def test_explain_all_is_the_rules_page(capsys):
    assert main(["explain", "--all"]) == 0
    page = capsys.readouterr().out
    assert page.startswith("# den-lsp rules\n")
    for code, rule in CODES.items():
        anchor = code.replace("/", "-")
        assert f'<a id="{anchor}"></a>\n\n## `{code}`\n' in page
        assert f"| [`{code}`](#{anchor}) | {rule.severity.value}" in page


# -- the examples are true -------------------------------------------------------------

# Rules whose wrong example is a whole set of module bindings: each must
# trigger its rule, and its right example must not.
EXAMPLE_PROFILES = {
    "den/unknown-class": "auto",
    "den/route-source-never-authored": "auto",
    "den/policy-never-activated": "auto",
    "den/policy-unknown-context": "auto",
    "den/host-scope-home-content": "auto",
    "den/entity-without-aspect": "auto",
    "den/unknown-aspect": "auto",
    "den/removed-api": "auto",
    # A workspace with only `den.ctx` is detected as den before policies.
    "den/deprecated-api": "isolation",
    "den/closed-context-args": "auto",
    "den/unused-suppression": "auto",
}


def _example_codes(root: Path, body: str, profile: str) -> set[str]:
    files = {
        "flake.nix": "{ outputs = _: { }; }\n",
        "modules/example.nix": "{ den, lib, ... }: {\n" + body + "\n}\n",
    }
    found, _ = findings(root, files, profile=profile)
    return {f.code for f in found}


@pytest.mark.parametrize("code", sorted(EXAMPLE_PROFILES))
def test_wrong_example_triggers_the_rule_and_right_does_not(tmp_path: Path, code):
    rule = CODES[code]
    profile = EXAMPLE_PROFILES[code]
    assert code in _example_codes(tmp_path / "wrong", rule.wrong, profile)
    assert code not in _example_codes(tmp_path / "right", rule.right, profile)


# -- hover on a finding ----------------------------------------------------------------


def test_hover_on_a_finding_shows_its_documentation(tmp_path: Path):
    proj, _ = project(
        tmp_path,
        {
            "flake.nix": "{ outputs = _: { }; }\n",
            "modules/igloo.nix": "{ den, ... }: {\n"
            "  den.aspects.igloo.nixso.services.nginx.enable = true;\n}\n",
        },
    )
    hover = hover_at(proj, "modules/igloo.nix", 1, 21)
    assert hover is not None
    assert hover.markdown.startswith(
        "**den/unknown-class** (warning)\n\n`nixso` on `den.aspects.igloo` is not a "
        "class den knows"
    )
    assert CODES["den/unknown-class"].what in hover.markdown


# -- the README lists every rule -------------------------------------------------------


def _readme_rules() -> dict[str, str]:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Rules\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(den/[a-z-]+)` \| ([a-z, ]+?) \|", section, re.M)
    return dict(rows)


def test_readme_rules_table_lists_every_rule_with_its_severity():
    expected = {
        code: rule.severity.value + "".join(f", {t}" for t in rule.tags)
        for code, rule in CODES.items()
    }
    assert _readme_rules() == expected


def test_docs_rules_md_is_the_rules_page_of_this_code(capsys):
    # The page GitHub shows: written by `den-lsp explain --all > docs/rules.md`.
    assert main(["explain", "--all"]) == 0
    page = Path(__file__).resolve().parent.parent / "docs" / "rules.md"
    assert page.read_text(encoding="utf-8") == capsys.readouterr().out
