"""``den-lsp.toml``: severities, ``off``, excluded paths, ``[known]`` names and
settings that cannot be used, on the command line and in the server.

A setting that cannot be used is reported in words that name it, and left at
its default; it never stops a run.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.uris import from_fs_path
from pytest_lsp import LanguageClient

from den_lsp.cli import main
from den_lsp.features.settings import load_settings
from lsp_workspace import server_config, start
from nixfixture import findings, write_workspace
from test_server import count, published

FLAKE = {"flake.nix": "{ outputs = _: { }; }\n"}

# One finding of each kind the settings below act on: a misspelt class key
# (den/unknown-class, warning), a policy nothing includes (hint), an
# undeclared kind (den/unknown-kind) and a policy argument no scope binds.
WORKSPACE = {
    **FLAKE,
    "modules/igloo.nix": """{ den, ... }: {
  den.hosts.x86_64-linux.igloo = { };
  den.aspects.igloo = { nixos = { }; nixso.x = 1; };
}
""",
    "modules/policies.nix": """{ den, ... }: {
  den.policies.unused = { host, ... }: [ ];
  den.schema.host.includes = [ den.policies.guests ];
  den.policies.guests = { host, usr, ... }: [
    (den.lib.policy.resolve.to "gest" { gest = host; })
  ];
}
""",
    "vendor/old.nix": """{ den, ... }: {
  den.aspects.igloo.darwn.x = 1;
}
""",
}

DEFAULT_CODES = [
    ("modules/igloo.nix", "den/unknown-class", "warning"),
    ("modules/policies.nix", "den/policy-never-activated", "hint"),
    ("modules/policies.nix", "den/policy-unknown-context", "warning"),
    ("modules/policies.nix", "den/unknown-kind", "warning"),
    ("vendor/old.nix", "den/unknown-class", "warning"),
]


def reported(root: Path, toml: str | None = None, **overrides) -> list[tuple]:
    files = dict(WORKSPACE)
    if toml is not None:
        files["den-lsp.toml"] = toml
    found, _ = findings(root, files, **overrides)
    return [(f.span.path, f.code, f.severity.value) for f in found]


# -- the project ---------------------------------------------------------------------


def test_without_a_config_file_every_rule_reports(tmp_path: Path):
    assert reported(tmp_path) == DEFAULT_CODES


def test_severity_override_and_off(tmp_path: Path):
    toml = """[severity]
"den/unknown-class" = "error"
"den/policy-never-activated" = "off"
"""
    assert reported(tmp_path, toml) == [
        ("modules/igloo.nix", "den/unknown-class", "error"),
        ("modules/policies.nix", "den/policy-unknown-context", "warning"),
        ("modules/policies.nix", "den/unknown-kind", "warning"),
        ("vendor/old.nix", "den/unknown-class", "error"),
    ]


def test_excluded_paths_are_not_read(tmp_path: Path):
    toml = 'exclude = ["vendor/"]\n'
    assert reported(tmp_path, toml) == DEFAULT_CODES[:-1]


def test_known_names_for_what_a_configuration_builds_dynamically(tmp_path: Path):
    toml = """[known]
classes = ["nixso", "darwn"]
kinds = ["gest"]
context-keys = ["usr"]
"""
    assert reported(tmp_path, toml) == [
        ("modules/policies.nix", "den/policy-never-activated", "hint"),
    ]


def test_editor_settings_override_the_file(tmp_path: Path):
    toml = '[severity]\n"den/unknown-class" = "error"\n'
    overrides = {
        "severity": {"den/unknown-class": "information"},
        "exclude": ["vendor/"],
    }
    assert reported(tmp_path, toml, **overrides)[0] == (
        "modules/igloo.nix",
        "den/unknown-class",
        "information",
    )
    assert ("vendor/old.nix", "den/unknown-class", "information") not in reported(
        tmp_path, toml, **overrides
    )


@pytest.mark.parametrize(
    ("toml", "problem"),
    [
        (
            'profile = "latest"\n',
            "unknown profile 'latest'; expected one of auto, isolation, isolation-design, ctx",
        ),
        (
            '[severity]\n"den/unknown-class" = "loud"\n',
            "severity of den/unknown-class must be one of ['error', 'hint', 'information', 'off', 'warning']",
        ),
        (
            '[severity]\n"den/unknwon-class" = "off"\n',
            "unknown rule code 'den/unknwon-class' in severity",
        ),
        ('severity = "off"\n', "severity must be a table of rule code = level"),
        ('exclude = "vendor/"\n', "exclude must be a list of path patterns"),
        ('[known]\nclasses = "nixso"\n', "known.classes must be a list of names"),
        (
            '[known]\nclass = ["nixso"]\n',
            "unknown setting known.'class'; expected one of classes, kinds, context-keys",
        ),
        (
            'known = ["nixso"]\n',
            "known must be a table with classes, kinds and context-keys lists",
        ),
        ("colour = true\n", "unknown setting 'colour'"),
    ],
    ids=[
        "profile",
        "severity-level",
        "severity-code",
        "severity-shape",
        "exclude-shape",
        "known-list",
        "known-key",
        "known-shape",
        "unknown-key",
    ],
)
def test_unusable_settings_are_named_and_left_at_their_default(
    tmp_path: Path, toml: str, problem: str
):
    (tmp_path / "den-lsp.toml").write_text(toml)
    settings, problems = load_settings(tmp_path)
    assert problems == [f"{tmp_path / 'den-lsp.toml'}: {problem}"]
    assert reported(tmp_path, toml) == DEFAULT_CODES


def test_a_toml_syntax_error_falls_back_to_the_defaults(tmp_path: Path):
    (tmp_path / "den-lsp.toml").write_text("[severity\n")
    _, [problem] = load_settings(tmp_path)
    assert problem.startswith(f"{tmp_path / 'den-lsp.toml'}: cannot read: ")
    assert reported(tmp_path, "[severity\n") == DEFAULT_CODES


def test_good_settings_beside_a_bad_one_still_apply(tmp_path: Path):
    toml = """colour = true
[severity]
"den/policy-never-activated" = "off"
"den/unknown-kind" = "sometimes"
"""
    assert reported(tmp_path, toml) == [
        c for c in DEFAULT_CODES if c[1] != "den/policy-never-activated"
    ]


# -- on the command line ---------------------------------------------------------------


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch) -> Path:
    write_workspace(tmp_path, WORKSPACE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_check_reads_the_config_file(workspace: Path, capsys):
    (workspace / "den-lsp.toml").write_text(
        """exclude = ["vendor/"]
[severity]
"den/unknown-class" = "error"
"den/policy-unknown-context" = "off"
"den/policy-never-activated" = "off"
[known]
kinds = ["gest"]
"""
    )
    assert main(["check"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(
        "modules/igloo.nix:3:38: error den/unknown-class: `nixso` on "
        "`den.aspects.igloo` is not a class den knows"
    )
    assert out[1:] == ["1 finding in 1 file: 1 error."]


def test_check_reports_unusable_settings_and_goes_on(workspace: Path, capsys):
    (workspace / "den-lsp.toml").write_text(
        '[severity]\n"den/unknown-class" = "loud"\n'
    )
    assert main(["check", "--fail-on", "warning"]) == 1
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"den-lsp: {workspace / 'den-lsp.toml'}: severity of den/unknown-class must "
        "be one of ['error', 'hint', 'information', 'off', 'warning']"
    ]
    assert captured.out.splitlines()[-1] == (
        "5 findings in 3 files: 4 warnings, 1 hint."
    )


def test_check_with_a_broken_config_file_still_checks(workspace: Path, capsys):
    (workspace / "den-lsp.toml").write_text("exclude = [\n")
    assert main(["check"]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith(
        f"den-lsp: {workspace / 'den-lsp.toml'}: cannot read: "
    )
    assert captured.out.splitlines()[-1] == (
        "5 findings in 3 files: 4 warnings, 1 hint."
    )


# -- in the server ----------------------------------------------------------------------


@pytest_lsp.fixture(config=server_config())
async def client(lsp_client: LanguageClient):
    yield
    await lsp_client.shutdown_session()


IGLOO = "modules/igloo.nix"


def shown(params: types.PublishDiagnosticsParams) -> list[tuple]:
    return [(d.code, d.severity) for d in params.diagnostics]


async def logged(client: LanguageClient, text: str) -> types.LogMessageParams:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for message in client.log_messages:
            if text in message.message:
                return message
        await asyncio.sleep(0.01)
    raise AssertionError(f"no log message with {text!r}: {client.log_messages}")


async def test_server_reads_the_config_file(client, tmp_path: Path):
    files = {**WORKSPACE, "den-lsp.toml": '[severity]\n"den/unknown-class" = "error"\n'}
    ws = await start(client, tmp_path, files)
    uri = await ws.open(IGLOO)
    assert shown(client.published[uri][-1]) == [
        ("den/unknown-class", types.DiagnosticSeverity.Error)
    ]


async def test_server_rereads_the_config_file_when_it_changes(client, tmp_path: Path):
    ws = await start(client, tmp_path, WORKSPACE)
    uri = await ws.open(IGLOO)
    assert shown(client.published[uri][-1]) == [
        ("den/unknown-class", types.DiagnosticSeverity.Warning)
    ]
    before = count(client, uri)

    config = tmp_path / "den-lsp.toml"
    config.write_text('[known]\nclasses = ["nixso"]\n')
    client.workspace_did_change_watched_files(
        types.DidChangeWatchedFilesParams(
            changes=[
                types.FileEvent(
                    uri=from_fs_path(str(config)), type=types.FileChangeType.Created
                )
            ]
        )
    )

    assert shown(await published(client, uri, after=before)) == []


async def test_server_reports_unusable_settings_and_keeps_going(client, tmp_path):
    files = {**WORKSPACE, "den-lsp.toml": 'profile = "latest"\n'}
    ws = await start(client, tmp_path, files)
    uri = await ws.open(IGLOO)

    message = await logged(client, "unknown profile 'latest'")
    assert message.type == types.MessageType.Warning
    assert message.message.endswith(
        "den-lsp.toml: unknown profile 'latest'; expected one of auto, isolation, "
        "isolation-design, ctx"
    )
    assert shown(client.published[uri][-1]) == [
        ("den/unknown-class", types.DiagnosticSeverity.Warning)
    ]


async def test_editor_settings_override_the_file_in_the_server(client, tmp_path):
    client.set_configuration(
        {"severity": {"den/unknown-class": "hint"}, "known": {"kinds": ["gest"]}},
        section="den",
    )
    files = {**WORKSPACE, "den-lsp.toml": '[severity]\n"den/unknown-class" = "error"\n'}
    ws = await start(client, tmp_path, files)
    uri = await ws.open(IGLOO)
    assert shown(client.published[uri][-1]) == [
        ("den/unknown-class", types.DiagnosticSeverity.Hint)
    ]
    policies = await ws.open("modules/policies.nix")
    assert [d.code for d in client.published[policies][-1].diagnostics] == [
        "den/policy-never-activated",
        "den/policy-unknown-context",
    ]


async def test_unusable_editor_settings_are_logged_and_ignored(client, tmp_path):
    client.set_configuration(
        {"severity": {"den/unknown-class": "loud", "den/unknown-kind": "off"}},
        section="den",
    )
    ws = await start(client, tmp_path, WORKSPACE)
    uri = await ws.open(IGLOO)

    message = await logged(client, "severity of den/unknown-class must be one of")
    assert message.type == types.MessageType.Warning
    assert shown(client.published[uri][-1]) == [
        ("den/unknown-class", types.DiagnosticSeverity.Warning)
    ]
    # The usable half of the same settings still applies.
    policies = await ws.open("modules/policies.nix")
    assert [d.code for d in client.published[policies][-1].diagnostics] == [
        "den/policy-never-activated",
        "den/policy-unknown-context",
    ]
