"""Suppression comments, in the project, on the command line and in the server.

``# den-lsp: ignore[CODE]`` silences CODE on the next line holding code (or
on its own line when written after code); ``# den-lsp: ignore-file[CODE]``
in the whole file. A suppression that silences nothing is reported as
``den/unused-suppression``, with a fix that removes it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import LanguageClient

from den_lsp.cli import main
from den_lsp.features.actions import actions_at, fix_all_edits
from den_lsp.features.project import Project
from lsp_workspace import server_config, start
from nixfixture import apply_edits, findings, located, write_workspace
from test_server import change, count, published

FLAKE = {"flake.nix": "{ outputs = _: { }; }\n"}

# Two misspelt class keys, each a den/unknown-class finding when nothing
# silences it.
IGLOO = """{ den, ... }: {
  den.hosts.x86_64-linux.igloo = { };
  den.aspects.igloo = {
    nixos = { };
SUPPRESSED
  };
}
"""


def igloo(lines: str) -> dict[str, str]:
    return {**FLAKE, "modules/igloo.nix": IGLOO.replace("SUPPRESSED", lines)}


def of(found, code: str) -> list:
    return [f for f in found if f.code == code]


# -- in the project ------------------------------------------------------------------


@pytest.mark.parametrize(
    "lines",
    [
        "    # den-lsp: ignore[den/unknown-class]\n    nixso.x = 1;",
        "    nixso.x = 1; # den-lsp: ignore[den/unknown-class]",
        # Comment lines and blank lines between the comment and the code.
        "    # den-lsp: ignore[den/unknown-class]\n\n    # why: kept for the old host\n    nixso.x = 1;",
        # Spaces are optional.
        "    #den-lsp:ignore[ den/unknown-class ]\n    nixso.x = 1;",
    ],
    ids=["line-before", "same-line", "comments-between", "spacing"],
)
def test_line_suppression_silences_its_line(tmp_path: Path, lines: str):
    assert findings(tmp_path, igloo(lines))[0] == []


def test_several_codes_in_one_comment(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        igloo(
            "    # den-lsp: ignore[den/unknown-class, ⟪den/host-scope-home-content⟫]\n"
            "    nixso.x = 1;\n"
            "    ⟪homeManager⟫.x = 1;"
        ),
    )
    # Each code is used or not on its own; the comment reaches one line only.
    assert [located(f) for f in found] == [
        ("den/unused-suppression", "modules/igloo.nix", marks[0].start, marks[0].end),
        (
            "den/host-scope-home-content",
            "modules/igloo.nix",
            marks[1].start,
            marks[1].end,
        ),
    ]


def test_line_suppression_reaches_only_the_next_code_line(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        igloo(
            "    # den-lsp: ignore[den/unknown-class]\n"
            "    nixso.x = 1;\n"
            "    ⟪darwn⟫.x = 1;"
        ),
    )
    assert [located(f) for f in found] == [
        ("den/unknown-class", "modules/igloo.nix", marks[0].start, marks[0].end)
    ]


def test_file_suppression(tmp_path: Path):
    files = igloo("    nixso.x = 1;\n    darwn.x = 1;")
    files["modules/igloo.nix"] = (
        "# den-lsp: ignore-file[den/unknown-class]\n" + files["modules/igloo.nix"]
    )
    files["modules/other.nix"] = "{ den, ... }: { den.aspects.igloo.⟪nixs⟫.y = 2; }\n"
    found, marks = findings(tmp_path, files)
    # The file suppression covers its own file only.
    assert [located(f) for f in found] == [
        ("den/unknown-class", "modules/other.nix", marks[0].start, marks[0].end)
    ]


def test_suppress_action_writes_the_comment_and_the_finding_goes(tmp_path: Path):
    files = igloo("    nixso.x = 1;")
    write_workspace(tmp_path, files)
    proj = Project(tmp_path)
    proj.index()
    [finding] = proj.findings()["modules/igloo.nix"]
    offset = finding.span.start_byte

    found = actions_at(proj, "modules/igloo.nix", offset, offset)

    [suppress] = [a for a in found if a.title.startswith("Suppress")]
    assert (suppress.title, suppress.kind, suppress.safe) == (
        "Suppress den/unknown-class on this line",
        "quickfix",
        False,
    )
    assert fix_all_edits(proj.findings()["modules/igloo.nix"]) == ()
    path = tmp_path / "modules/igloo.nix"
    path.write_text(apply_edits(path.read_text(), list(suppress.edits)))
    assert path.read_text() == IGLOO.replace(
        "SUPPRESSED", "    # den-lsp: ignore[den/unknown-class]\n    nixso.x = 1;"
    )
    again = Project(tmp_path)
    again.index()
    assert [f for fs in again.findings().values() for f in fs] == []


def test_unused_line_suppression_is_reported_with_a_fix(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        igloo("    # den-lsp: ignore[⟪den/unknown-class⟫]\n    nixos.y = 1;"),
    )
    [unused] = found
    assert located(unused) == (
        "den/unused-suppression",
        "modules/igloo.nix",
        marks[0].start,
        marks[0].end,
    )
    assert unused.severity.value == "hint"
    assert unused.message == (
        "No `den/unknown-class` finding starts on line 6: the suppression silences "
        "nothing. Remove it."
    )
    [fix] = unused.fixes
    assert (fix.title, fix.safe) == ("Remove the unused suppression", True)
    text = (tmp_path / "modules/igloo.nix").read_text()
    assert apply_edits(text, fix.edits) == IGLOO.replace(
        "SUPPRESSED", "    nixos.y = 1;"
    )


def test_unused_code_among_used_ones_is_removed_alone(tmp_path: Path):
    found, marks = findings(
        tmp_path,
        igloo(
            "    nixso.x = 1; # den-lsp: ignore[den/unknown-class, ⟪den/unknown-aspect⟫]"
        ),
    )
    [unused] = found
    assert located(unused)[2:] == (marks[0].start, marks[0].end)
    assert unused.message == (
        "No `den/unknown-aspect` finding starts on line 5: the suppression silences "
        "nothing. Remove it."
    )
    [fix] = unused.fixes
    assert fix.title == "Remove `den/unknown-aspect` from the suppression"
    text = (tmp_path / "modules/igloo.nix").read_text()
    assert "    nixso.x = 1; # den-lsp: ignore[den/unknown-class]\n" in apply_edits(
        text, fix.edits
    )


@pytest.mark.parametrize(
    ("comment", "message"),
    [
        (
            "# den-lsp: ignore[⟪unknown-class⟫]",
            "`unknown-class` is not a den-lsp rule code, so this suppression silences "
            "nothing. Did you mean `den/unknown-class`? `den-lsp explain` lists the "
            "codes.",
        ),
        (
            "# den-lsp: ignore[⟪den/unknwon-class⟫]",
            "`den/unknwon-class` is not a den-lsp rule code, so this suppression "
            "silences nothing. Did you mean `den/unknown-class`? `den-lsp explain` "
            "lists the codes.",
        ),
        (
            "# ⟪den-lsp: ignore⟫",
            "This suppression names no rule, so it silences nothing: write the codes "
            "in brackets, e.g. `# den-lsp: ignore[den/unknown-class]`.",
        ),
        (
            "# ⟪den-lsp: ignore-file[]⟫",
            "This suppression names no rule, so it silences nothing: write the codes "
            "in brackets, e.g. `# den-lsp: ignore[den/unknown-class]`.",
        ),
    ],
    ids=["no-prefix", "typo", "no-codes", "empty-brackets"],
)
def test_suppression_naming_no_rule(tmp_path: Path, comment: str, message: str):
    found, marks = findings(tmp_path, igloo(f"    {comment}\n    nixso.x = 1;"))
    assert [located(f) for f in found] == [
        ("den/unused-suppression", "modules/igloo.nix", marks[0].start, marks[0].end),
        ("den/unknown-class", "modules/igloo.nix", (5, 4), (5, 9)),
    ]
    assert found[0].message == message


def test_unused_file_suppression(tmp_path: Path):
    files = igloo("    nixos.y = 1;")
    files["modules/igloo.nix"] = (
        "# den-lsp: ignore-file[⟪den/policy-never-activated⟫]\n"
        + files["modules/igloo.nix"]
    )
    found, marks = findings(tmp_path, files)
    assert [located(f) for f in found] == [
        ("den/unused-suppression", "modules/igloo.nix", marks[0].start, marks[0].end)
    ]
    assert found[0].message == (
        "No `den/policy-never-activated` finding in this file: the suppression "
        "silences nothing. Remove it."
    )


@pytest.mark.parametrize(
    "text",
    [
        # Not a comment: a string that happens to hold the words.
        '    nixos.motd = "den-lsp: ignore[den/unknown-class]";\n    nixso.x = 1;',
        # A plain comment that mentions den-lsp is not a directive.
        "    # den-lsp reports the key below\n    nixso.x = 1;",
    ],
    ids=["string", "plain-comment"],
)
def test_only_directive_comments_suppress(tmp_path: Path, text: str):
    found, _ = findings(tmp_path, igloo(text))
    assert [f.code for f in found] == ["den/unknown-class"]


def test_a_suppression_of_a_rule_switched_off_counts_as_used(tmp_path: Path):
    # Suppressions apply before severities: switching the rule off in
    # den-lsp.toml must not turn every comment for it into a stale one.
    files = igloo("    # den-lsp: ignore[den/unknown-class]\n    nixso.x = 1;")
    files["den-lsp.toml"] = '[severity]\n"den/unknown-class" = "off"\n'
    assert findings(tmp_path, files)[0] == []


def test_unused_suppressions_can_be_switched_off(tmp_path: Path):
    files = igloo("    # den-lsp: ignore[den/unknown-class]\n    nixos.y = 1;")
    files["den-lsp.toml"] = '[severity]\n"den/unused-suppression" = "off"\n'
    assert findings(tmp_path, files)[0] == []


# -- on the command line ---------------------------------------------------------------


def test_check_honours_suppressions(tmp_path: Path, monkeypatch, capsys):
    write_workspace(
        tmp_path,
        igloo(
            "    # den-lsp: ignore[den/unknown-class]\n    nixso.x = 1;\n"
            "    darwn.x = 1; # den-lsp: ignore[den/unknown-aspect]"
        ),
    )
    monkeypatch.chdir(tmp_path)

    assert main(["check", "--fail-on", "warning"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "modules/igloo.nix:7:5: warning den/unknown-class: `darwn` on "
        "`den.aspects.igloo` is not a class den knows: den emits this content as "
        "class `darwn`, which nothing instantiates or routes, so it never reaches a "
        "configuration. Did you mean `darwin`?",
        "modules/igloo.nix:7:36: hint den/unused-suppression: No "
        "`den/unknown-aspect` finding starts on line 7: the suppression silences "
        "nothing. Remove it.",
        "2 findings in 1 file: 1 warning, 1 hint.",
    ]


def test_check_json_carries_the_removal_fix(tmp_path: Path, monkeypatch, capsys):
    write_workspace(
        tmp_path, igloo("    # den-lsp: ignore[den/unknown-class]\n    nixos.y = 1;")
    )
    monkeypatch.chdir(tmp_path)

    assert main(["check", "--format", "json"]) == 0
    [item] = json.loads(capsys.readouterr().out)
    assert (item["code"], item["severity"]) == ("den/unused-suppression", "hint")
    assert item["fixes"] == [
        {
            "title": "Remove the unused suppression",
            "safe": True,
            "edits": [
                {
                    "path": "modules/igloo.nix",
                    "range": {
                        "start": {"line": 4, "character": 0},
                        "end": {"line": 5, "character": 0},
                    },
                    "newText": "",
                }
            ],
        }
    ]


# -- in the server ----------------------------------------------------------------------


@pytest_lsp.fixture(config=server_config())
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


async def test_server_applies_suppressions_as_the_document_changes(client, tmp_path):
    rel = "modules/igloo.nix"
    ws = await start(
        client,
        tmp_path,
        igloo("    # den-lsp: ignore[den/unknown-class]\n    nixso.x = 1;"),
    )
    uri = await ws.open(rel)
    assert list(client.published[uri][-1].diagnostics) == []

    # The code moves away from the comment: the finding is back, and the
    # comment, now silencing nothing, is reported and shown faded.
    before = count(client, uri)
    change(client, uri, 2, (5, 0), (5, 0), "    nixos.y = 1;\n")
    params = await published(client, uri, version=2, after=before)
    shown = [
        (d.code, d.range.start.line, list(d.tags or ())) for d in params.diagnostics
    ]
    assert shown == [
        ("den/unused-suppression", 4, [types.DiagnosticTag.Unnecessary]),
        ("den/unknown-class", 6, []),
    ]

    # Its quick fix removes the comment line.
    [action] = [
        a
        for a in await client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=ws.document(rel),
                range=params.diagnostics[0].range,
                context=types.CodeActionContext(diagnostics=params.diagnostics[:1]),
            )
        )
        if a.title == "Remove the unused suppression"
    ]
    [edit] = action.edit.changes[uri]
    assert (edit.range.start.line, edit.range.end.line, edit.new_text) == (4, 5, "")
