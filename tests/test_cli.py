"""The den-lsp command line: output formats, exit codes, the scope view."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from den_lsp.cli import main
from nixfixture import write_workspace

WORKSPACE = {
    "flake.nix": "{ outputs = _: { }; }\n",
    "modules/schema.nix": """{ den, ... }: {
  den.schema.guest = { isEntity = true; isolated = true; parent = "host"; };
  den.schema.user.isolated = true;
}
""",
    "modules/host.nix": """{ den, ... }: {
  den.schema.host.includes = [ den.policies.guests ];
  den.policies.guests = { host, ... }: [
    (den.lib.policy.resolve.to.withIncludes "guest" [ den.policies.deliver ] { guest = host; })
  ];
  den.policies.deliver = { guest, ... }: [
    (den.lib.policy.route {
      fromClass = "nixos";
      intoClass = "nixos";
      path = [ "microvm" "vms" guest.name "config" ];
      collectSubtree = true;
      appendToParent = true;
      reinstantiate = true;
      colectSubtree = true;
    })
  ];
}
""",
}


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch) -> Path:
    write_workspace(tmp_path, WORKSPACE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_check_prints_findings_like_a_compiler(workspace: Path, capsys):
    assert main(["check"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(
        "modules/host.nix:14:7: warning den/unknown-route-field: den's route does not "
        "read `colectSubtree`"
    )
    assert out[1].startswith(
        "modules/schema.nix:3:3: error den/isolated-compose-kind: `user` is a compose kind"
    )
    assert out[2] == "2 findings in 2 files: 1 error, 1 warning."
    assert len(out) == 3


def test_check_json(workspace: Path, capsys):
    assert main(["check", "--format", "json", "modules"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert [(d["path"], d["code"], d["severity"]) for d in data] == [
        ("modules/host.nix", "den/unknown-route-field", "warning"),
        ("modules/schema.nix", "den/isolated-compose-kind", "error"),
    ]
    assert data[0]["range"] == {
        "start": {"line": 13, "character": 6},
        "end": {"line": 13, "character": 19},
    }
    assert data[0]["fixes"] == [
        {
            "title": "Rename `colectSubtree` to `collectSubtree`",
            "safe": False,
            "edits": [
                {
                    "path": "modules/host.nix",
                    "range": {
                        "start": {"line": 13, "character": 6},
                        "end": {"line": 13, "character": 19},
                    },
                    "newText": "collectSubtree",
                }
            ],
        }
    ]


def test_exit_codes(workspace: Path, capsys):
    (workspace / "modules" / "schema.nix").write_text(
        "{ den, ... }: { den.schema.guest = { isEntity = true; isolated = true; }; }\n"
    )
    assert main(["check"]) == 0
    assert main(["check", "--fail-on", "warning"]) == 1
    assert main(["check", "--fail-on", "bogus"]) == 2
    assert main(["check", "does-not-exist"]) == 2
    assert "does-not-exist: no such file or directory" in capsys.readouterr().err


def test_check_a_single_file_reports_only_that_file(workspace: Path, capsys):
    assert main(["check", "modules/schema.nix"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out[:-1]] == ["modules/schema.nix"]


def test_binary_file_is_reported_on_stderr(workspace: Path, capsys):
    (workspace / "modules" / "blob.nix").write_bytes(b"\x00\x00binary")
    main(["check"])
    assert "modules/blob.nix: skipped: binary file" in capsys.readouterr().err


def test_profile_flag(workspace: Path, capsys):
    main(["check", "--profile", "isolation-design", "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    fields = sorted(
        d["message"].split("`")[1]
        for d in data
        if d["code"] == "den/unknown-route-field"
    )
    assert fields == ["appendToParent", "colectSubtree", "reinstantiate"]


def test_scopes(workspace: Path, capsys):
    assert main(["scopes"]) == 0
    out = capsys.readouterr().out
    assert (
        "kind guest [entity, isolated]\n  scope chain: flake › flake-system › host › guest\n"
        in out
    )
    assert (
        "  route nixos -> nixos at microvm.vms.<name>.config (modules/host.nix:7)\n"
        "    collects at: guest and its subtree\n"
        "    appends at: host\n"
    ) in out
    assert "  creates: guest\n" in out


def test_a_folder_with_no_nix_files_is_not_a_clean_check(tmp_path, capsys):
    (tmp_path / "README.md").write_text("# not a configuration\n")
    assert main(["check", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"den-lsp: {tmp_path}: no .nix files to check\n"
    assert main(["scopes", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"den-lsp: {tmp_path}: no .nix files to read\n"


def test_a_reader_that_stops_reading_is_no_error(tmp_path):
    import os
    import subprocess
    import sys

    # Two configurations: scopes writes one, then the other.
    kinds = "".join(f'  den.schema.k{i}.parent = "host";\n' for i in range(400))
    for flake in ("a", "b"):
        (tmp_path / flake).mkdir()
        (tmp_path / flake / "flake.nix").write_text("{ outputs = _: { }; }\n")
        (tmp_path / flake / "kinds.nix").write_text("{\n" + kinds + "}\n")
    reader, writer = os.pipe()
    den_lsp = str(Path(sys.executable).parent / "den-lsp")
    process = subprocess.Popen(
        [den_lsp, "scopes", str(tmp_path)], stdout=writer, stderr=subprocess.PIPE
    )
    os.close(writer)
    # `| head -c 1`: one byte, and the reader is gone before the rest.
    assert len(os.read(reader, 1)) == 1
    os.close(reader)
    assert process.wait(timeout=60) == 0
    assert process.stderr.read() == b""
