"""Soak: 20,000 edits and requests across 50 open documents, as fast as the
server answers, and then the server still answers right and has not grown.

The workspace is every example of the repository and the parse fixtures,
copied into one folder: 50 documents, all open. A fixed sequence of 20,000
operations (``random.Random(SEED)``) follows: random edits (``client_text``:
keystrokes, pastes, deletions across lines, half-typed constructs) and every
kind of request den-lsp serves, each request awaited before the next
operation is sent. A document that has grown to twice its size goes back to
its text on disk, so the workload does not grow with time.

The server's resident set size is sampled through the test-only
``denTest/memory`` request; the median of the samples of the last quarter
may exceed that of the second by 10% at most. Afterwards every document's
text, facts and findings in the server equal a fresh analysis of the
client's text, the last published diagnostics agree, and the schema's
diagnostic and hover are exactly as in the first minute of the session.
"""

from __future__ import annotations

import random
import shutil
import statistics
import time
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.uris import from_fs_path

from client_text import REPO, ClientText, random_change, seed_files
from server_harness import (
    INTROSPECT_MEMORY,
    _plain,
    every_request,
    memory,
    session,
    state,
)
from test_server import published

SEED = 20_000
OPERATIONS = 20_000
DOCUMENTS = 50
SAMPLES_PER_QUARTER = 10

# Figures of the last run, for the closing notes.
FIGURES: dict = {}


def _workspace(root: Path) -> list[str]:
    """Copy the examples (whole) and parse fixtures into one den workspace."""
    shutil.copytree(REPO / "tests" / "fixtures" / "server" / "microvm", root)
    for example in sorted((REPO / "examples").iterdir()):
        if example.is_dir():
            shutil.copytree(example / "modules", root / "examples" / example.name)
    for path in sorted((REPO / "tests" / "fixtures" / "parse").rglob("*.nix")):
        target = root / "parse" / path.parent.name / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
    documents = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.nix"))
    return documents[:DOCUMENTS]


REQUESTS = (
    types.TEXT_DOCUMENT_HOVER,
    types.TEXT_DOCUMENT_COMPLETION,
    types.TEXT_DOCUMENT_DEFINITION,
    types.TEXT_DOCUMENT_REFERENCES,
    types.TEXT_DOCUMENT_DOCUMENT_SYMBOL,
    types.TEXT_DOCUMENT_CODE_ACTION,
    types.TEXT_DOCUMENT_INLAY_HINT,
    types.TEXT_DOCUMENT_CODE_LENS,
    types.TEXT_DOCUMENT_PREPARE_RENAME,
    types.WORKSPACE_SYMBOL,
)


def _request(method: str, uri: str, line: int, character: int):
    document = types.TextDocumentIdentifier(uri=uri)
    at = types.Position(line=line, character=character)
    here = {"text_document": document, "position": at}
    if method == types.TEXT_DOCUMENT_HOVER:
        return types.HoverParams(**here)
    if method == types.TEXT_DOCUMENT_COMPLETION:
        return types.CompletionParams(**here)
    if method == types.TEXT_DOCUMENT_DEFINITION:
        return types.DefinitionParams(**here)
    if method == types.TEXT_DOCUMENT_REFERENCES:
        return types.ReferenceParams(
            **here, context=types.ReferenceContext(include_declaration=True)
        )
    if method == types.TEXT_DOCUMENT_PREPARE_RENAME:
        return types.PrepareRenameParams(**here)
    if method == types.TEXT_DOCUMENT_DOCUMENT_SYMBOL:
        return types.DocumentSymbolParams(text_document=document)
    if method == types.TEXT_DOCUMENT_CODE_LENS:
        return types.CodeLensParams(text_document=document)
    if method == types.TEXT_DOCUMENT_CODE_ACTION:
        return types.CodeActionParams(
            text_document=document,
            range=types.Range(start=at, end=at),
            context=types.CodeActionContext(diagnostics=[]),
        )
    if method == types.TEXT_DOCUMENT_INLAY_HINT:
        return types.InlayHintParams(
            text_document=document,
            range=types.Range(
                start=types.Position(line=0, character=0),
                end=types.Position(line=line + 20, character=0),
            ),
        )
    return types.WorkspaceSymbolParams(query=random.Random(line).choice("abcdefgh"))


@pytest.mark.slow
async def test_soak_20000_edits_and_requests_across_50_documents(tmp_path):
    root = tmp_path / "workspace"
    rels = _workspace(root)
    assert len(rels) == DOCUMENTS
    originals = {rel: (root / rel).read_text(encoding="utf-8") for rel in rels}
    uris = {rel: from_fs_path(str(root / rel)) for rel in rels}
    seeds = [p.read_text(encoding="utf-8") for p in seed_files()]
    rng = random.Random(SEED)

    async with session(root, tmp_path / "cache", introspect=True) as client:
        documents = {rel: ClientText(text) for rel, text in originals.items()}
        versions = dict.fromkeys(rels, 1)
        for rel in rels:
            client.text_document_did_open(
                types.DidOpenTextDocumentParams(
                    text_document=types.TextDocumentItem(
                        uri=uris[rel], language_id="nix", version=1, text=originals[rel]
                    )
                )
            )
        for rel in rels:
            await published(client, uris[rel], version=1)
        at_start = {rel: (await state(client, uris[rel]))["findings"] for rel in rels}
        schema_uri = uris["modules/schema.nix"]
        first_hover = await _schema_hover(client, schema_uri)

        quarter = OPERATIONS // 4
        sample_every = quarter // SAMPLES_PER_QUARTER
        rss: list[list[int]] = [[] for _ in range(4)]
        counts = {"edits": 0, "requests": 0, "errors": 0, "resets": 0}
        started = time.monotonic()
        for number in range(OPERATIONS):
            rel = rng.choice(rels)
            document = documents[rel]
            if rng.random() < 0.5:
                if len(document.text) > 2 * len(originals[rel]) + 200:
                    document.text = originals[rel]
                    change = [
                        types.TextDocumentContentChangeWholeDocument(text=document.text)
                    ]
                    counts["resets"] += 1
                else:
                    edit = random_change(rng, document, seeds)
                    change = [
                        types.TextDocumentContentChangePartial(
                            range=types.Range(
                                start=types.Position(*edit.start),
                                end=types.Position(*edit.end),
                            ),
                            text=edit.text,
                        )
                    ]
                versions[rel] += 1
                client.text_document_did_change(
                    types.DidChangeTextDocumentParams(
                        text_document=types.VersionedTextDocumentIdentifier(
                            uri=uris[rel], version=versions[rel]
                        ),
                        content_changes=change,
                    )
                )
                counts["edits"] += 1
            else:
                lines = document.line_starts()
                line = rng.randrange(len(lines) + 1)
                method = rng.choice(REQUESTS)
                try:
                    await client.protocol.send_request_async(
                        method, _request(method, uris[rel], line, rng.randrange(60))
                    )
                except Exception:  # an error response: counted, and allowed
                    counts["errors"] += 1
                counts["requests"] += 1
            if (number + 1) % sample_every == 0:
                rss[number // quarter].append(await memory(client))
        elapsed = time.monotonic() - started

        # Still right: every document as a fresh analysis of the client's text.
        for rel in rels:
            seen = await state(client, uris[rel])
            assert seen["text"] == documents[rel].text, rel
            assert seen["tree_equal"] and seen["facts_equal"], rel
            assert seen["findings_equal"], rel
        for rel in rels:
            last = await published(client, uris[rel], version=versions[rel])
            seen = await state(client, uris[rel])
            codes = [
                [d.code, d.range.start.line, d.range.start.character]
                for d in last.diagnostics
            ]
            assert codes == seen["findings"], rel

        # Still answering as it did at the start, once the texts are back.
        for rel in rels:
            versions[rel] += 1
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(
                        uri=uris[rel], version=versions[rel]
                    ),
                    content_changes=[
                        types.TextDocumentContentChangeWholeDocument(
                            text=originals[rel]
                        )
                    ],
                )
            )
        for rel in rels:
            await published(client, uris[rel], version=versions[rel])
        at_end = {rel: (await state(client, uris[rel]))["findings"] for rel in rels}
        assert at_end == at_start
        assert any(at_start.values())  # the comparison is not between nothings
        assert await _schema_hover(client, schema_uri) == first_hover
        answers = await every_request(client, schema_uri, 1, 15)
        assert not isinstance(answers[types.TEXT_DOCUMENT_HOVER], Exception)
        # Nothing kept for the 20,000 messages but this request's own future.
        answer = await client.protocol.send_request_async(INTROSPECT_MEMORY, {})
        assert _plain(answer)["futures"] == 1

    medians = [statistics.median(samples) for samples in rss]
    growth = (medians[3] - medians[1]) / medians[1]
    FIGURES.update(
        operations=OPERATIONS,
        seconds=round(elapsed, 1),
        rss_kb_median_by_quarter=medians,
        growth_second_to_last=round(growth, 4),
        **counts,
    )
    print("soak:", FIGURES)
    assert counts["edits"] + counts["requests"] == OPERATIONS
    assert growth <= 0.10, FIGURES


async def _schema_hover(client, uri: str) -> str:
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=1, character=15),
        )
    )
    return hover.contents.value
