"""Nothing lost: every code action changes only what its edits name.

Every quick fix, every fix-all and every refactor den-lsp offers, on every
example and on documents Hypothesis derives from them, is applied the way
an LSP client applies it (by UTF-16 positions, edits against the original
text, last first), and must:

- give the same bytes as splicing the edit's byte spans into the original:
  the positions land on exactly the bytes the rule meant, and every byte
  outside the named ranges is kept;
- never overlap another edit of the same action;
- leave a document that parses, when the original parsed.

The derived documents come from mutations that make the rules offer their
fixes (a kind no longer isolated, a route field misspelt, a class name with
a typo, a closed argument set...), written with CRLF line ends, wide
characters and tabs around them, plus random edits from ``client_text``.
Over stdio, the examples' fixes are requested and applied as a client does,
and the server's text must equal the client's afterwards.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types
from pygls.uris import from_fs_path

from client_text import REPO, ClientText, random_change, seed_files, seed_workspaces
from den_lsp.features.actions import FIX_ALL, QUICKFIX, REFACTOR, actions_at
from den_lsp.features.project import Project
from den_lsp.syntax.parse import parse_nix
from server_harness import session, state
from test_server import published

SEEDS = [p.read_text(encoding="utf-8") for p in seed_files()]
EXAMPLES = sorted(p for p in (REPO / "examples").iterdir() if p.is_dir())

# Fixes and edits checked, for the closing counts.
COUNTS: Counter = Counter()

# Changes to real den text that make a rule offer a fix, and that fix.
MUTATIONS = (
    (r"\n\s*isolated = true;", "", "Mark kind `guest` isolated"),
    (
        r"\n\s*appendToParent = true;",
        "",
        "Append this route's result to the parent scope",
    ),
    (r"\bfromClass\b", "fromClas", "Rename `fromClas` to `fromClass`"),
    (
        r"\bcollectSubtree\b",
        "collectSubtre",
        "Rename `collectSubtre` to `collectSubtree`",
    ),
    (r"\bnixos = ", "nixoss = ", "Use class `nixos`"),
    (r'"guest"', '"guset"', 'Use kind "guest"'),
    (r"\{ host, \.\.\. \}:", "{ host }:", "Accept the rest of the context (`...`)"),
    (r"\{ guest, \.\.\. \}", "{ guest }", "Accept the rest of the context (`...`)"),
)


def check_edits(project: Project, edits, label: str) -> dict[str, bytes]:
    """Apply ``edits`` both ways, compare, and return each file's new bytes."""
    by_file: dict[str, list] = {}
    for edit in edits:
        by_file.setdefault(edit.span.path, []).append(edit)
    results = {}
    for path, file_edits in by_file.items():
        source = project.files[path].source
        spans = sorted((e.span.start_byte, e.span.end_byte) for e in file_edits)
        for (_, end), (start, _) in pairwise(spans):
            assert end <= start, f"{label}: edits overlap in {path}"

        # The rule's meaning: its byte spans replaced, everything else kept.
        expected = source
        for edit in sorted(file_edits, key=lambda e: e.span.start_byte, reverse=True):
            span = edit.span
            new = edit.new_text.encode()
            expected = expected[: span.start_byte] + new + expected[span.end_byte :]

        # What a client does with the same edits: UTF-16 positions.
        client = ClientText(source.decode("utf-8"))
        client.apply_edits([_lsp_edit(e) for e in file_edits])
        assert client.text.encode() == expected, f"{label}: {path}"

        if not parse_nix(source).root.has_error:
            assert not parse_nix(expected).root.has_error, f"{label}: {path}"
        COUNTS["edits"] += len(file_edits)
        results[path] = expected
    return results


def _lsp_edit(edit) -> types.TextEdit:
    s = edit.span
    return types.TextEdit(
        range=types.Range(
            start=types.Position(line=s.start_line, character=s.start_character),
            end=types.Position(line=s.end_line, character=s.end_character),
        ),
        new_text=edit.new_text,
    )


def every_action(project: Project) -> list[tuple[str, tuple]]:
    """Every quick fix, fix-all and refactor of the project: (title, edits).

    Quick fixes are asked for at each finding, as a client asks at a
    diagnostic: the finding's own fixes, and the comment that suppresses it.
    """
    found = []
    for rel, findings in sorted(project.findings().items()):
        for finding in findings:
            span = finding.span
            for action in actions_at(
                project, rel, span.start_byte, span.end_byte, {QUICKFIX}
            ):
                found.append((f"{rel}: {action.title}", action.edits))
        for action in actions_at(project, rel, 0, 0, {FIX_ALL}):
            found.append((f"{rel}: {action.title}", action.edits))
    for rel, file in sorted(project.files.items()):
        if file.binary:
            continue
        places = {s.span.start_byte for s in file.facts.kind_sites}
        for policy in file.facts.policies:
            places |= {e.span.start_byte for e in policy.effects}
        for offset in sorted(places):
            for action in actions_at(project, rel, offset, offset, {REFACTOR}):
                found.append((f"{rel}@{offset}: {action.title}", action.edits))
    return found


def _project(files: dict[str, str], root: Path) -> Project:
    project = Project(root)
    for rel, text in files.items():
        project.set_source(rel, text.encode())
    return project


def _files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*.nix"))
    }


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.name for e in EXAMPLES])
def test_every_action_on_an_example_keeps_every_other_byte(example):
    project = _project(_files(example), example)
    for title, edits in every_action(project):
        check_edits(project, edits, f"{example.name}: {title}")
        COUNTS["fixes"] += 1


def _restyle(text: str, style: str) -> str:
    """The same module written another way: line ends, wide text, tabs."""
    if style == "crlf":
        return text.replace("\n", "\r\n")
    if style == "wide":
        return re.sub(r"\{\n", "{ # 日本語 🦀 e\u0301\n", text, count=3)
    if style == "tabs":
        return re.sub(r"(?m)^(  )+", lambda m: "\t" * (len(m.group(0)) // 2), text)
    return text


@settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    workspace=st.integers(0, len(seed_workspaces()) - 1),
    mutations=st.sets(st.integers(0, len(MUTATIONS) - 1), min_size=1, max_size=4),
    style=st.sampled_from(["lf", "crlf", "wide", "tabs"]),
    rng=st.randoms(use_true_random=False),
    edits=st.integers(0, 3),
)
def test_every_action_on_a_derived_document_keeps_every_other_byte(
    workspace, mutations, style, rng, edits
):
    root = seed_workspaces()[workspace]
    files = {}
    for rel, text in _files(root).items():
        for index in sorted(mutations):
            pattern, replacement, _ = MUTATIONS[index]
            text = re.sub(pattern, replacement, text)
        files[rel] = _restyle(text, style)
    rel = rng.choice(sorted(files))
    document = ClientText(files[rel])
    for _ in range(edits):
        random_change(rng, document, SEEDS)
    files[rel] = document.text
    project = _project(files, root)
    COUNTS["documents"] += 1

    for title, action_edits in every_action(project):
        check_edits(project, action_edits, title)
        COUNTS["fixes"] += 1


@pytest.mark.parametrize(
    ("pattern", "replacement", "fix"), MUTATIONS, ids=[m[2] for m in MUTATIONS]
)
def test_each_mutation_makes_a_rule_offer_its_fix(pattern, replacement, fix):
    # The derived documents are only worth their name if rules answer the
    # mutations with the fixes they are meant to bring out.
    offered = set()
    for root in seed_workspaces():
        files = {r: re.sub(pattern, replacement, t) for r, t in _files(root).items()}
        project = _project(files, root)
        offered |= {
            f.title
            for findings in project.findings().values()
            for finding in findings
            for f in finding.fixes
        }
    assert fix in offered


# -- over stdio -------------------------------------------------------------------------


def _lsp_range(r: types.Range):
    return (r.start.line, r.start.character), (r.end.line, r.end.character)


@pytest.mark.slow
@pytest.mark.parametrize("example", ["microvm-guest-leak", "microvm-guest-dropped"])
async def test_fixes_applied_by_a_client_change_only_what_they_name(example, tmp_path):
    root = tmp_path / "workspace"
    shutil.copytree(REPO / "examples" / example, root)
    texts = _files(root)

    # What each action must produce, from the edits' byte spans.
    project = _project(texts, root)
    expected: dict[str, set[bytes]] = {}
    for title, edits in every_action(project):
        for rel, result in check_edits(project, edits, title).items():
            expected.setdefault(rel, set()).add(result)

    async with session(root, tmp_path / "cache", introspect=True) as client:
        uris = {rel: from_fs_path(str(root / rel)) for rel in texts}
        paths = {uri: rel for rel, uri in uris.items()}
        versions = dict.fromkeys(uris.values(), 1)
        for rel, text in texts.items():
            client.text_document_did_open(
                types.DidOpenTextDocumentParams(
                    text_document=types.TextDocumentItem(
                        uri=uris[rel], language_id="nix", version=1, text=text
                    )
                )
            )
        offered = []
        for rel in texts:
            params = await published(client, uris[rel], version=1)
            for diagnostic in params.diagnostics:
                for only in ([types.CodeActionKind.QuickFix], [FIX_ALL]):
                    offered += await client.text_document_code_action_async(
                        types.CodeActionParams(
                            text_document=types.TextDocumentIdentifier(uri=uris[rel]),
                            range=diagnostic.range,
                            context=types.CodeActionContext(
                                diagnostics=[diagnostic], only=only
                            ),
                        )
                    )
        assert {str(a.kind) for a in offered} == {"quickfix", FIX_ALL}

        for action in offered:
            for uri, edits in action.edit.changes.items():
                rel = paths[uri]
                document = ClientText(texts[rel])
                document.apply_edits(edits)
                assert document.text.encode() in expected[rel], action.title

                # Sent back as the client's change: the server holds the same.
                versions[uri] += 1
                client.text_document_did_change(
                    types.DidChangeTextDocumentParams(
                        text_document=types.VersionedTextDocumentIdentifier(
                            uri=uri, version=versions[uri]
                        ),
                        content_changes=[
                            types.TextDocumentContentChangePartial(
                                range=e.range, text=e.new_text
                            )
                            for e in sorted(
                                edits, key=lambda e: _lsp_range(e.range), reverse=True
                            )
                        ],
                    )
                )
                seen = await state(client, uri)
                assert seen["text"] == seen["source"] == document.text
                fixed = await published(client, uri, version=versions[uri])
                before = await published(client, uri, version=1)
                assert len(fixed.diagnostics) < len(before.diagnostics), action.title

                versions[uri] += 1
                client.text_document_did_change(
                    types.DidChangeTextDocumentParams(
                        text_document=types.VersionedTextDocumentIdentifier(
                            uri=uri, version=versions[uri]
                        ),
                        content_changes=[
                            types.TextDocumentContentChangeWholeDocument(
                                text=texts[rel]
                            )
                        ],
                    )
                )
                COUNTS["fixes over stdio"] += 1


def test_the_check_catches_an_edit_whose_position_is_not_its_bytes():
    from den_lsp.analysis.findings import TextEdit
    from den_lsp.syntax.span import Span

    root = REPO / "examples" / "microvm-guest-leak"
    project = _project(_files(root), root)
    rel = "modules/guest-kind.nix"
    ((title, (edit,)),) = [
        (t, e)
        for t, e in every_action(project)
        if t == f"{rel}: Mark kind `guest` isolated"
    ]
    check_edits(project, (edit,), title)
    s = edit.span
    # The same bytes, but a position one character earlier: a client would
    # insert before the `;` it should follow.
    shifted = Span(
        s.path,
        s.start_byte,
        s.end_byte,
        s.start_line,
        s.start_character - 1,
        s.end_line,
        s.end_character - 1,
    )
    with pytest.raises(AssertionError):
        check_edits(project, (TextEdit(shifted, edit.new_text),), title)
