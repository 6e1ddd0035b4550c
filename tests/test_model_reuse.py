"""Models built after an edit from parts of the one before equal fresh ones."""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path

import pytest

from den_lsp.features.project import Project
from den_lsp.model.model import build_model

_GENERATOR = Path(__file__).resolve().parents[1] / "benchmarks" / "generate.py"


def _generator():
    spec = importlib.util.spec_from_file_location("den_generate", _GENERATOR)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("den_generate", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("reuse")
    notable = _generator().den_workspace(root, 150)
    return root, notable


# The model's derived properties (``trees`` is compared by its nodes).
_DERIVED = (
    "local_namespaces",
    "registered_classes",
    "effect_classes",
    "entity_classes",
    "known_classes",
    "structural_keys",
    "has_external_modules",
    "user_names",
    "home_names",
)


def _fresh(project: Project) -> Project:
    fresh = Project(project.root)
    fresh.use_cache = False
    for rel, state in project.files.items():
        fresh.set_source(rel, state.source)
    return fresh


def _comparable(model) -> dict:
    """A model's fields and derived views, without what only caches them."""
    fields = {
        f.name: getattr(model, f.name)
        for f in dataclasses.fields(model)
        if f.name not in ("cache", "sources")
    }
    for name in _DERIVED:
        fields[name] = getattr(model, name)
    fields["trees"] = (model.trees.roots, model.trees.open_trees)
    return fields


def _assert_as_fresh(project: Project) -> None:
    fresh = _fresh(project)
    assert project.findings() == fresh.findings()
    models, expected = project.models(), fresh.models()
    assert models.keys() == expected.keys()
    for unit in models:
        assert _comparable(models[unit]) == _comparable(expected[unit])


_SOLO = b"  den.schema.solo.isolated = true;\n\n  den.schema.host.imports"


def _with_kind(text: bytes) -> bytes:
    """``text`` with a kind defined at its end, after every other fact."""
    end = text.rindex(b"}")
    return text[:end] + b'  den.schema.solo.parent = "host";\n' + text[end:]


def _edits(root: Path, notable: dict[str, str]) -> list[tuple[str, bytes, bool]]:
    """(file, new text, whether the model may take the merged facts over)."""
    kind = notable["kind"]
    kind_text = (root / kind).read_bytes()
    aspect = notable["aspect"]
    aspect_text = (root / aspect).read_bytes()
    policy = notable["policy"]
    policy_text = (root / policy).read_bytes()
    toggled = kind_text.replace(b"isolated = true", b"isolated = false")
    assert toggled != kind_text and b"collectSubtree = true" in policy_text
    return [
        # Kind fields only: taken over.
        (kind, toggled, True),
        (kind, kind_text, True),
        (
            kind,
            kind_text.replace(
                b"isolated = true;", b"isolated = true; isEntity = true;"
            ),
            True,
        ),
        (kind, kind_text, True),
        # A kind given only a field, a misspelt parent: kinds only.
        (kind, kind_text.replace(b"  den.schema.host.imports", _SOLO), True),
        (kind, kind_text.replace(b'parent = "host"', b'parent = "hots"'), True),
        (kind, kind_text, True),
        # A file that had no kind facts gets some (and keys it had not
        # bound), then loses them again.
        (aspect, _with_kind(aspect_text), None),
        (aspect, aspect_text, None),
        # Positions move in the kind file: its other facts, if any, moved.
        (kind, b"\n" + kind_text, None),
        (kind, kind_text, None),
        # Facts other than kinds: built again.
        (aspect, aspect_text + b"\n# a comment\n", None),
        (aspect, b"\n" + aspect_text, False),
        (aspect, aspect_text, False),
        (
            policy,
            policy_text.replace(b"collectSubtree = true", b"collectSubtree = false"),
            False,
        ),
        (policy, policy_text, False),
        # A new file, then a toggle again.
        (
            "modules/extra.nix",
            b"{ den, ... }: { den.aspects.extra-one = { }; }\n",
            False,
        ),
        (kind, toggled, True),
    ]


def test_an_edit_of_kind_fields_only_reuses_the_merged_facts(workspace):
    root, notable = workspace
    project = Project(root)
    project.use_cache = False
    project.index()
    _assert_as_fresh(project)
    for rel, text, reused in _edits(root, notable):
        before = project.models()[""]
        project.set_source(rel, text)
        after = project.models()[""]
        shared = after.aspects is before.aspects and after.includes is before.includes
        if reused is not None:
            assert shared is reused, (rel, text[:80])
        if shared:
            assert after.kinds is not before.kinds
            assert after.activations is not before.activations
        _assert_as_fresh(project)


def test_an_isolation_toggle_keeps_the_rule_runs_that_read_no_isolation(workspace):
    root, notable = workspace
    project = Project(root)
    project.use_cache = False
    project.index()
    project.findings()
    kind = notable["kind"]
    text = (root / kind).read_bytes()
    edits = [
        (text.replace(b"isolated = true", b"isolated = false"), True),
        (text, True),
        # Which kinds there are, and a parent: the kind rules run again, and
        # the policy rules (kinds are context keys).
        (text.replace(b"  den.schema.host.imports", _SOLO), False),
        (text, False),
        (text.replace(b'parent = "host"', b'parent = "hots"'), False),
        (text, False),
    ]
    unread = {"api", "routes", "policies", "kinds", "classes", "aspects"}
    for edited, kept in edits:
        project.set_source(kind, edited)
        runs = set(project._runs.get("", {}))
        assert "isolation" not in runs
        if kept:
            assert runs == unread
        else:
            assert "kinds" not in runs
        assert project.findings() == _fresh(project).findings()


def test_kinds_move_between_files_of_a_model_built_from_the_one_before(workspace):
    """Files gaining and losing every kind fact of theirs (kind facts only)."""
    root, notable = workspace
    project = Project(root)
    project.use_cache = False
    project.index()
    model = project.models()[""]
    facts = {f.path: f for f in model.sources}
    kind, aspect = facts[notable["kind"]], facts[notable["aspect"]]
    assert kind.kind_fields and not aspect.kind_sites and not aspect.kind_fields
    facts[aspect.path] = dataclasses.replace(
        aspect, kind_sites=kind.kind_sites, kind_fields=kind.kind_fields
    )
    facts[kind.path] = dataclasses.replace(kind, kind_sites=(), kind_fields=())
    built = build_model(facts.values(), model.profile, model.known, previous=model)
    assert built.aspects is model.aspects
    fresh = build_model(facts.values(), model.profile, model.known)
    assert _comparable(built) == _comparable(fresh)
    assert [f.path for f in built.kind_sources] != [f.path for f in model.kind_sources]
