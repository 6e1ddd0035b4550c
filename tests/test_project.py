"""Reading a workspace from disk: which files, and bad input."""

from __future__ import annotations

from pathlib import Path

from den_lsp.features.project import Project, discover


def _touch(root: Path, *names: str, text: str = "{ }") -> None:
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_discover_skips_vcs_results_direnv_node_modules_and_gitignored(tmp_path: Path):
    _touch(
        tmp_path,
        "flake.nix",
        "modules/a.nix",
        "modules/_private/b.nix",
        ".git/x.nix",
        "result/c.nix",
        "result-2/d.nix",
        ".direnv/e.nix",
        "node_modules/f.nix",
        "generated/g.nix",
        "modules/tmp/h.nix",
        "modules/keep.txt",
    )
    (tmp_path / ".gitignore").write_text("generated/\n")
    (tmp_path / "modules" / ".gitignore").write_text("tmp\n")
    found = [p.relative_to(tmp_path).as_posix() for p in discover(tmp_path)]
    assert found == ["flake.nix", "modules/_private/b.nix", "modules/a.nix"]


def test_exclude_setting(tmp_path: Path):
    _touch(tmp_path, "a.nix", "vendor/b.nix")
    (tmp_path / "den-lsp.toml").write_text('exclude = ["vendor/"]\n')
    project = Project(tmp_path)
    project.index()
    assert sorted(project.files) == ["a.nix"]


def test_binary_and_unreadable_files_do_not_stop_the_run(tmp_path: Path):
    (tmp_path / "bin.nix").write_bytes(b"\x00\x01\x02{ den, ... }: { }")
    (tmp_path / "latin1.nix").write_bytes(
        b"# caf\xe9\n{ den, ... }: { den.schema.guest = { isEntity = true; isolated = true; }; }"
    )
    (tmp_path / "ok.nix").write_text(
        "{ den, ... }: { den.schema.user.isolated = true; }"
    )
    project = Project(tmp_path)
    project.index()
    assert project.files["bin.nix"].tree is None
    codes = [f.code for items in project.findings().values() for f in items]
    assert codes == ["den/isolated-compose-kind"]


def test_bad_settings_are_reported_not_fatal(tmp_path: Path):
    (tmp_path / "den-lsp.toml").write_text(
        'profile = "v9"\n[severity]\n"den/nope" = "error"\n'
    )
    project = Project(tmp_path)
    assert project.settings.profile == "auto"
    assert [p.split(": ", 1)[1] for p in project.settings_problems] == [
        "unknown profile 'v9'; expected one of auto, isolation, isolation-design, ctx",
        "unknown rule code 'den/nope' in severity",
    ]


def test_an_edit_rereads_one_file(tmp_path: Path):
    _touch(tmp_path, "a.nix", text="{ den, ... }: { den.schema.user.isolated = true; }")
    _touch(tmp_path, "b.nix", text="{ den, ... }: { }")
    project = Project(tmp_path)
    project.index()
    before_b = project.files["b.nix"]
    assert [f.code for f in project.findings()["a.nix"]] == [
        "den/isolated-compose-kind"
    ]
    project.set_source("a.nix", b"{ den, ... }: { den.schema.user.isolated = false; }")
    assert project.findings()["a.nix"] == []
    assert project.files["b.nix"] is before_b


def test_deeply_nested_and_huge_input(tmp_path: Path):
    depth = 5000
    (tmp_path / "deep.nix").write_text(
        "{ den, ... }: " + "[ " * depth + "den" + " ]" * depth
    )
    (tmp_path / "deep-set.nix").write_text(
        "{ den, ... }: { den.aspects" + " = { a" * 2000 + " = 1;" + " };" * 2000 + " }"
    )
    project = Project(tmp_path)
    project.index()
    assert set(project.files) == {"deep.nix", "deep-set.nix"}
    assert project.findings()["deep.nix"] == []


def test_ignores_matches_discover(tmp_path: Path):
    _touch(
        tmp_path,
        "a.nix",
        "generated/g.nix",
        "modules/tmp/h.nix",
        "result-x/r.nix",
        "m/b.nix",
    )
    (tmp_path / ".gitignore").write_text("generated/\n")
    (tmp_path / "modules" / ".gitignore").write_text("tmp\n")
    project = Project(tmp_path)
    found = {p.relative_to(tmp_path).as_posix() for p in discover(tmp_path)}
    for rel in [
        "a.nix",
        "generated/g.nix",
        "modules/tmp/h.nix",
        "result-x/r.nix",
        "m/b.nix",
    ]:
        assert project.ignores(rel) == (rel not in found), rel


def test_byte_order_mark_is_a_syntax_error_as_in_nix(tmp_path: Path):
    (tmp_path / "bom.nix").write_bytes(b"\xef\xbb\xbf{ a = 1; }\n")
    project = Project(tmp_path)
    project.index()
    [bom] = project.findings()["bom.nix"]
    assert (bom.code, bom.span.start_line, bom.span.start_character) == (
        "den/syntax",
        0,
        0,
    )
    assert bom.message.startswith("the file starts with a UTF-8 byte-order mark")


# A kind file beside aspect findings: a host without an aspect (whose
# suggestion names `igloo-desktop`), and homeManager content on an aspect
# walked only at host scope.
KIND_EDITS = {
    "flake.nix": "{ outputs = _: { }; }\n",
    "modules/hosts.nix": """{ den, ... }: {
  den.hosts.x86_64-linux.igloo.users.tux = { };
  den.aspects.igloo-desktop.nixos = { };
  den.aspects.base.homeManager.programs.git.enable = true;
  den.aspects.tux.includes = [ ];
  den.schema.host.includes = [ den.aspects.base ];
}
""",
    "modules/kind.nix": """{ den, ... }: {
  den.schema.guest = {
    isEntity = true;
    parent = "host";
    isolated = true;
  };
}
""",
}


def test_an_edit_to_a_kind_keeps_only_the_rule_runs_it_cannot_change(tmp_path: Path):
    for name, text in KIND_EDITS.items():
        _touch(tmp_path, name, text=text)
    project = Project(tmp_path)
    project.index()
    assert {f.code for f in project.findings()["modules/hosts.nix"]} >= {
        "den/entity-without-aspect",
        "den/host-scope-home-content",
    }
    kind = KIND_EDITS["modules/kind.nix"]
    edits = [
        # Kept: a field the aspect rules do not read.
        (kind.replace("isolated = true", "isolated = false"), True),
        (kind, True),
        # Run again: fields and words the aspect rules read.
        (
            kind.replace("isolated = true;", 'isolated = true; classes = [ "hm" ];'),
            False,
        ),
        (kind.replace("isolated = true;", "aspect = den.aspects.base;"), False),
        (kind.replace("isEntity", "# igloo-desktop homeManager\n    isEntity"), False),
        (kind.replace("isolated = true;", "isolated = true; # host-aspects"), False),
        (kind, False),
    ]
    for text, kept in edits:
        project.set_source("modules/kind.nix", text.encode())
        assert ("aspects" in project._runs.get("", {})) is kept
        fresh = Project(tmp_path)
        for rel, state in project.files.items():
            fresh.set_source(rel, state.source)
        assert project.findings() == fresh.findings()
