"""The on-disk facts cache: shared by runs, never trusted blindly, and switchable off.

Each test points ``XDG_CACHE_HOME`` at its own folder, runs ``den-lsp check``
in-process, and counts how many files were read afresh (facts extracted)
rather than taken from the cache.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import den_lsp.features.cache as cache_module
import den_lsp.features.project as project_module
from den_lsp.cli import main
from nixfixture import write_workspace

WORKSPACE = {
    "flake.nix": "{ outputs = _: { }; }\n",
    "modules/schema.nix": """{ den, ... }: {
  den.schema.guest = { isEntity = true; parent = "host"; };
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
      reinstantiate = true;
    })
  ];
}
""",
    "modules/aspects/web.nix": """{ den, ... }: {
  den.aspects.web.nixos.services.nginx.enable = true;
}
""",
}
MODULES = 3  # .nix files with den facts, besides flake.nix


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "workspace"
    write_workspace(root, WORKSPACE)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def extracted(monkeypatch) -> list[str]:
    """The paths whose facts were extracted from a tree, run after run."""
    seen: list[str] = []
    extract = project_module.extract

    def counting(path, tree, index):
        seen.append(path)
        return extract(path, tree, index)

    monkeypatch.setattr(project_module, "extract", counting)
    return seen


def check(capsys, *flags: str) -> tuple[int, str, str]:
    code = main(["check", *flags])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cache_files(workspace: Path) -> list[Path]:
    folder = workspace.parent / "cache" / "den-lsp"
    return (
        sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    )


def test_a_second_run_reads_every_file_from_the_cache(workspace, extracted, capsys):
    first = check(capsys)
    assert len(extracted) == MODULES + 1
    assert cache_files(workspace)

    extracted.clear()
    second = check(capsys)
    assert extracted == []
    assert second == first


def test_an_edited_file_alone_is_read_again(workspace, extracted, capsys):
    check(capsys)
    extracted.clear()
    web = workspace / "modules/aspects/web.nix"
    web.write_text(web.read_text().replace("nginx", "caddy"))

    check(capsys)
    assert extracted == ["modules/aspects/web.nix"]


def test_no_cache_neither_reads_nor_writes_it(workspace, extracted, capsys):
    uncached = check(capsys, "--no-cache")
    assert len(extracted) == MODULES + 1
    assert cache_files(workspace) == []

    check(capsys)  # fills the cache
    written = {p: p.read_bytes() for p in cache_files(workspace)}
    extracted.clear()
    again = check(capsys, "--no-cache")
    assert len(extracted) == MODULES + 1
    assert again == uncached
    assert {p: p.read_bytes() for p in cache_files(workspace)} == written


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: b"\x80\x05garbage" + data[::-1], id="garbage"),
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: b"", id="empty"),
        pytest.param(lambda data: bytes(len(data)), id="zeroed"),
    ],
)
def test_a_corrupt_cache_is_discarded_silently(workspace, extracted, capsys, damage):
    expected = check(capsys, "--no-cache")
    check(capsys)
    packs = cache_files(workspace)
    assert packs
    for pack in packs:
        pack.write_bytes(damage(pack.read_bytes()))

    extracted.clear()
    code, out, err = check(capsys)
    assert (code, out) == expected[:2]
    assert err == ""
    assert len(extracted) == MODULES + 1

    # The damaged pack was replaced by a good one.
    extracted.clear()
    assert check(capsys)[:2] == expected[:2]
    assert extracted == []


def test_a_cache_from_other_code_is_not_used(workspace, extracted, capsys, monkeypatch):
    expected = check(capsys)
    monkeypatch.setattr(cache_module, "code_fingerprint", lambda: "another den-lsp")

    extracted.clear()
    code, out, err = check(capsys)
    assert (code, out, err) == expected
    assert len(extracted) == MODULES + 1


def test_a_cache_is_kept_per_workspace(workspace, tmp_path, extracted, capsys):
    other = tmp_path / "other"
    write_workspace(other, WORKSPACE)
    check(capsys)
    extracted.clear()

    main(["check", str(other)])
    capsys.readouterr()
    assert len(extracted) == MODULES + 1
    extracted.clear()
    check(capsys)
    assert extracted == []


def test_many_files_read_on_several_cores_find_the_same(tmp_path, monkeypatch, capsys):
    files = dict(WORKSPACE)
    for number in range(40):
        files[f"modules/aspects/a{number}.nix"] = (
            "{ den, ... }: {\n"
            f"  den.aspects.a{number}.includes = [ den.aspects.a{(number + 1) % 40} ];\n"
            f"  den.aspects.a{number}.nixoss.x = {number};\n"
            "}\n"
        )
    root = tmp_path / "many"
    write_workspace(root, files)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(root)

    monkeypatch.setattr(project_module, "PARALLEL_MIN_FILES", 10**9)
    alone = check(capsys, "--no-cache", "--format", "json")
    assert "den/unknown-class" in alone[1]

    monkeypatch.setattr(project_module, "PARALLEL_MIN_FILES", 4)
    monkeypatch.setattr(project_module, "PARALLEL_CHUNK", 3)
    monkeypatch.setattr(project_module, "_worker_count", lambda files: 1)
    assert check(capsys, "--no-cache", "--format", "json") == alone
    assert check(capsys, "--format", "json") == alone  # fills the cache
    assert check(capsys, "--format", "json") == alone  # reads it


def test_a_check_answered_from_the_cache_loads_no_parser_model_or_rules(workspace):
    # Interpreter start and imports are most of such a run: it reads the
    # files and the findings, and never needs what would make them again.
    program = (
        "import sys\n"
        "from den_lsp.cli import main\n"
        "main(['check'])\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", program], capture_output=True, text=True, check=False
        )
        for _ in range(2)
    ]
    assert [run.returncode for run in runs] == [0, 0]
    assert runs[0].stdout == runs[1].stdout
    loaded = set(runs[1].stderr.split())
    for heavy in (
        "tree_sitter",
        "den_lsp.syntax.parse",
        "den_lsp.facts.extract",
        "den_lsp.facts.types",
        "den_lsp.model.model",
        "den_lsp.analysis.aspects",
        "rapidfuzz",
        "pathspec",
        "multiprocessing",
        "pygls",
        "lsprotocol",
    ):
        assert heavy not in loaded
