"""Incremental analysis equals analysis from scratch, whatever the edits.

Hypothesis sends sequences of ``didChange`` edits (see ``client_text``) over
every den document of the repository. After every step:

- the text den-lsp holds equals the client's copy, both the server's copy
  (``apply_text_change``, what ``didChange`` runs) and the syntax layer's
  ``Document``, whose tree is reparsed incrementally and must equal a fresh
  parse of the same bytes, node for node;
- in a ``Project`` that was told only of the edit, the edited file's facts
  and syntax findings, and every file's findings, equal those of a project
  that reads all the files afresh.

The same property is then checked over stdio: the test server answers a
test-only request with its text and a comparison, made in the server, of its
incrementally maintained project with a fresh one (see ``server_harness``).

Examples are derandomized and no database is kept, so every run tries the
same edits.
"""

from __future__ import annotations

import asyncio
import shutil

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types
from pygls.uris import from_fs_path

from client_text import (
    REPO,
    ClientText,
    random_change,
    seed_files,
    seed_workspaces,
)
from den_lsp.features.project import Project, analyse_source, loaded_by_import_tree
from den_lsp.syntax.document import Document, apply_text_change, encode_text
from den_lsp.syntax.parse import parse_nix
from server_harness import BackgroundSession, nodes
from server_harness import state as server_state
from test_server import published

SEEDS = [p.read_text(encoding="utf-8") for p in seed_files()]
WORKSPACES = seed_workspaces()

# Edits tried, across all examples of a run, for the closing counts.
COUNTS = {"documents": 0, "edits": 0}

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def assert_same_as_fresh_parse(document: Document) -> None:
    fresh = parse_nix(document.source)
    assert nodes(document.tree.tree) == nodes(fresh.tree)
    assert document.tree.pipe_sites == fresh.pipe_sites


def edit_step(rng, client: ClientText) -> list:
    """One didChange: usually one change, sometimes several in a row."""
    count = 1 if rng.randrange(4) else 2 + rng.randrange(2)
    return [random_change(rng, client, SEEDS) for _ in range(count)]


@settings(FUZZ, max_examples=300)
@given(
    seed=st.integers(0, len(SEEDS) - 1),
    rng=st.randoms(use_true_random=False),
    steps=st.integers(1, 25),
)
def test_text_and_tree_follow_edits_like_a_fresh_parse(seed, rng, steps):
    client = ClientText(SEEDS[seed])
    server_text = client.text
    document = Document.from_text("file:///fuzz.nix", client.text)
    COUNTS["documents"] += 1

    for _ in range(steps):
        for change in edit_step(rng, client):
            span = (change.start, change.end)
            server_text = apply_text_change(server_text, span, change.text)
            document.apply_change(span, change.text)
            COUNTS["edits"] += 1

        assert server_text == client.text
        assert document.text == client.text
        assert_same_as_fresh_parse(document)


def _workspace_files(root) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*.nix"))
    }


def fresh_findings(project: Project) -> dict:
    """The findings of a project that reads every file of ``project`` anew."""
    fresh = Project(project.root)
    for rel, state in project.files.items():
        fresh.set_source(rel, state.source)
    return fresh.findings()


@settings(FUZZ, max_examples=120)
@given(
    workspace=st.integers(0, len(WORKSPACES) - 1),
    data=st.data(),
)
def test_project_follows_edits_like_a_fresh_analysis(workspace, data):
    root = WORKSPACES[workspace]
    files = _workspace_files(root)
    project = Project(root)
    for rel, text in files.items():
        project.set_source(rel, text.encode())
    project.findings()
    rel = data.draw(st.sampled_from(sorted(files)), label="file")
    rng = data.draw(st.randoms(use_true_random=False), label="edits")
    client = ClientText(files[rel])
    COUNTS["documents"] += 1

    for _ in range(data.draw(st.integers(1, 12), label="steps")):
        edit_step(rng, client)
        source = encode_text(client.text)
        COUNTS["edits"] += 1

        state = project.set_source(rel, source)
        fresh = analyse_source(rel, source, with_facts=loaded_by_import_tree(rel))
        assert state.source == source
        assert state.facts == fresh.facts
        assert state.syntax == fresh.syntax
        assert project.findings() == fresh_findings(project)


def test_form_feed_and_line_separator_are_not_line_breaks():
    # str.splitlines breaks at both; an LSP client breaks at neither, so an
    # edit on the line after them lands where the client put it.
    text = "{\n  # page\x0cbreak \u2028 here\n  a = 1;\n}\n"
    edited = apply_text_change(text, ((2, 6), (2, 7)), "2")
    assert edited == "{\n  # page\x0cbreak \u2028 here\n  a = 2;\n}\n"


def test_insertion_past_the_end_is_kept_at_the_end():
    assert apply_text_change("{ }\n", ((9, 0), (9, 0)), "# end\n") == "{ }\n# end\n"
    assert apply_text_change("{ }", ((0, 40), (0, 50)), ";") == "{ };"


def test_range_written_end_first_is_the_same_range():
    assert apply_text_change("[ 1 2 3 ]", ((0, 5), (0, 2)), "9") == "[ 9 3 ]"


def test_character_inside_a_surrogate_pair_moves_to_its_start():
    assert apply_text_change('"🦀"', ((0, 2), (0, 2)), "x") == '"x🦀"'


def test_change_for_a_document_never_opened_is_ignored():
    from den_lsp.server import DenProtocol, create_server

    server = create_server()
    try:
        protocol = server.protocol
        assert isinstance(protocol, DenProtocol)
        protocol._workspace = _workspace()
        params = types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(
                uri="file:///nowhere.nix", version=2
            ),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text="x")],
        )
        steps = list(protocol.lsp_text_document__did_change(params))
    finally:
        server.shutdown()
    assert len(steps) == 1  # only the server's own handler, which ignores it
    assert "file:///nowhere.nix" not in protocol.workspace.text_documents


def _workspace():
    from pygls.workspace import Workspace

    return Workspace(None, types.TextDocumentSyncKind.Incremental)


# -- over stdio ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stdio(tmp_path_factory):
    """One instrumented server for all examples, on a copy of two workspaces."""
    root = tmp_path_factory.mktemp("fuzz") / "workspace"
    shutil.copytree(REPO / "tests" / "fixtures" / "server" / "microvm", root)
    shutil.copytree(REPO / "examples" / "microvm-guest-leak" / "modules", root / "leak")
    background = BackgroundSession(
        root, tmp_path_factory.mktemp("cache"), introspect=True
    )
    background.root = root
    background.versions = {}
    try:
        yield background
    finally:
        background.close()


async def _edit_over_stdio(client, uri: str, version: int, steps: list) -> dict:
    """Send each step as one didChange and check the server's state after it."""
    for changes, expected in steps:
        version += 1
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=uri, version=version
                ),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(
                            start=types.Position(*c.start), end=types.Position(*c.end)
                        ),
                        text=c.text,
                    )
                    for c in changes
                ],
            )
        )
        seen = await server_state(client, uri)
        assert seen["ready"], seen
        assert seen["version"] == version
        assert seen["text"] == expected
        assert seen["source"] == expected
        assert seen["tree_equal"] and seen["facts_equal"] and seen["findings_equal"]
    published_now = await published(client, uri, version=version)
    diagnostics = [
        [d.code, d.range.start.line, d.range.start.character]
        for d in published_now.diagnostics
    ]
    assert diagnostics == seen["findings"]
    return {"version": version}


async def _reset(client, uri: str, version: int, text: str) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(
                uri=uri, version=version
            ),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


@pytest.mark.slow
@settings(FUZZ, max_examples=30)
@given(data=st.data())
def test_server_over_stdio_follows_edits_like_a_fresh_analysis(stdio, data):
    files = sorted(
        p.relative_to(stdio.root).as_posix() for p in stdio.root.rglob("*.nix")
    )
    rel = data.draw(st.sampled_from(files), label="file")
    rng = data.draw(st.randoms(use_true_random=False), label="edits")
    original = (stdio.root / rel).read_text(encoding="utf-8")
    uri = from_fs_path(str(stdio.root / rel))
    client = stdio.client

    if uri not in stdio.versions:
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="nix", version=1, text=original
                )
            )
        )
        stdio.versions[uri] = 1
    else:
        # Every example starts from the text on disk, so that it replays alike.
        stdio.versions[uri] += 1
        stdio.run(_reset(client, uri, stdio.versions[uri], original))

    text = ClientText(original)
    steps = []
    for _ in range(data.draw(st.integers(1, 10), label="steps")):
        changes = edit_step(rng, text)
        steps.append((changes, text.text))
    COUNTS["documents"] += 1
    COUNTS["edits"] += sum(len(c) for c, _ in steps)

    result = stdio.run(_edit_over_stdio(client, uri, stdio.versions[uri], steps))
    stdio.versions[uri] = result["version"]


@pytest.mark.slow
async def test_diagnostics_carry_the_version_of_the_text_they_were_found_in(tmp_path):
    # A request flushes the latest edit while the analysis of the one before
    # is still running: that analysis's diagnostics must not be published
    # under the newer version. A module with many aspects keeps each analysis
    # busy for a while.
    from server_harness import session

    root = tmp_path / "workspace"
    shutil.copytree(REPO / "tests" / "fixtures" / "server" / "microvm", root)
    (root / "modules" / "many.nix").write_text(
        "{ den, ... }: {\n"
        + "".join(
            f"  den.aspects.a{i}.includes = [ den.aspects.a{i + 1} ];\n"
            f"  den.hosts.x86_64-linux.h{i}.users.u{i} = {{ }};\n"
            for i in range(800)
        )
        + "}\n"
    )
    schema = (root / "modules" / "schema.nix").read_text()
    fixed = schema.replace("isEntity = true;", "isEntity = true; isolated = true;")
    uri = from_fs_path(str(root / "modules" / "schema.nix"))
    async with session(root, tmp_path / "cache") as client:
        client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id="nix", version=1, text=schema
                )
            )
        )
        await published(client, uri, version=1)
        texts = {1: schema}

        def send(version: int, text: str) -> None:
            texts[version] = text
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(
                        uri=uri, version=version
                    ),
                    content_changes=[
                        types.TextDocumentContentChangeWholeDocument(text=text)
                    ],
                )
            )

        for version in range(2, 8, 2):
            send(version, schema)  # analysed at once...
            await asyncio.sleep(0.05)
            send(version + 1, fixed)  # ...this one waits for it...
            await client.text_document_hover_async(  # ...and is flushed by this
                types.HoverParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    position=types.Position(line=1, character=15),
                )
            )
        await published(client, uri, version=7)
        seen = [
            (p.version, [d.code for d in p.diagnostics]) for p in client.published[uri]
        ]
    for version, found in seen:
        leaking = texts[version] == schema
        assert found == (["den/isolation-leak"] if leaking else []), seen
