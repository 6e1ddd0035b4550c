"""``den-lsp serve``: the language server, over stdio.

The workspace root gets one ``Project``, indexed once at start-up; every
edit then re-reads only the edited file, and the diagnostics of each open
document follow from the rebuilt model. A document outside the root (or in
a part of it den-lsp skips) is analysed on its own, as a project of one file.

All work on projects runs on a single analysis thread, in the order the
notifications arrived. The event loop stays free to read messages while a
workspace indexes or a model rebuilds, edits never race each other, and an
edit that arrives during indexing is applied on top of the indexed files.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pathspec
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method
from pygls.uris import to_fs_path

from den_lsp import keep_workspace_off_the_module_path
from den_lsp.features import (
    actions,
    completion,
    hover,
    inlay,
    lens,
    navigation,
    symbols,
)
from den_lsp.features.diagnostics import (
    document_uri,
    to_diagnostic,
    too_large_diagnostic,
)
from den_lsp.features.index import index_of
from den_lsp.features.logging import ClientLogHandler, setup_logging
from den_lsp.features.project import (
    MAX_FILE_BYTES,
    SKIPPED_DIRS,
    Project,
    long_lived_objects,
)
from den_lsp.features.settings import CONFIG_FILE
from den_lsp.syntax.document import apply_text_change, encode_text

log = logging.getLogger(__name__)

NAME = "den-lsp"
SETTINGS_SECTION = "den"
WATCHED_GLOBS = ("**/*.nix", f"**/{CONFIG_FILE}")
# How long an edit waits for the rest of its burst before it is analysed.
FOLD_SECONDS = 0.005
# How long to wait for the client to answer a request of ours before going
# on without it: a client that never answers must not stop indexing.
CLIENT_TIMEOUT_SECONDS = 10.0

Diagnostics = dict[str, list[types.Diagnostic]]
# What an analysis found: the diagnostics of the open documents, and the
# version of each document's text they were found in.
Analysed = tuple[Diagnostics, dict[str, int | None]]

# Editor features beyond diagnostics; each registers its own handlers.
FEATURES = (hover, actions, inlay, lens, navigation, symbols, completion)


def _version() -> str:
    try:
        return version("den-lsp")
    except PackageNotFoundError:  # run from a source tree
        return "0+unknown"


@dataclass
class OpenDocument:
    """A document the editor has open, and where its text goes for analysis."""

    uri: str
    rel: str  # its path in its project
    # Analysed on its own rather than with the workspace, with this project
    # root (the workspace root for a skipped file, else the file's folder).
    loose_root: Path | None
    # The version of the text last handed to analysis; published with its
    # diagnostics so a client can tell stale ones apart.
    version: int | None = None
    # That text itself: a client that sends two texts under one version
    # still has the second analysed.
    text: str | None = None


@dataclass(frozen=True)
class Buffer:
    uri: str
    rel: str
    loose_root: Path | None
    source: bytes
    version: int | None = None


class DenProtocol(LanguageServerProtocol):
    """pygls' protocol, speaking UTF-16 positions only.

    Findings count characters in UTF-16 code units, as LSP does by default,
    so den-lsp never agrees to another position encoding a client offers.
    """

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams):
        general = params.capabilities.general
        if general is not None:
            general.position_encodings = None
        return (yield from super().lsp_initialize(params))

    def structure_message(self, data: Any) -> Any:
        """A message from its JSON; a request that cannot be read is answered.

        pygls drops a request whose parameters do not fit its method (a
        negative line, a string for a position) after logging it: the client
        would wait for the answer forever. It gets the error response instead.
        """
        try:
            return super().structure_message(data)
        except JsonRpcException as error:
            if isinstance(data, dict) and "method" in data and "id" in data:
                msg_id = data["id"]
                if isinstance(msg_id, (int, str)) and not isinstance(msg_id, bool):
                    self._send_response(msg_id, error=error.to_response_error())
            raise

    def _check_handler_result(self, future: Future[Any] | asyncio.Future[Any]) -> None:
        """Report a notification handler's failure, and forget its future.

        pygls files the future of every notification whose handler is not a
        plain function (its own built-in handlers are generators: every
        ``didChange``) among the requests in flight, under an id no response
        will ever name, and never takes it out again: each notification kept
        a future, a lock and a condition for the rest of the session.
        """
        super()._check_handler_result(future)
        if future.cancelled():
            # Cancelled by pygls at shutdown, which walks these futures as it
            # goes: they end with the session.
            return
        futures = self._request_futures
        # Only requests still being answered are left here: a handful.
        for msg_id in [i for i, f in futures.items() if f is future]:
            del futures[msg_id]

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams):
        """Apply the client's changes with LSP's own line rules.

        pygls splits lines with ``str.splitlines``, which also breaks at form
        feeds, U+2028 and other characters no client counts as line ends, and
        drops an insertion past the last line: its copy of the text would
        drift from the editor's. A change to a document that is not open is
        logged and ignored.
        """
        identifier = params.text_document
        document = self.workspace.text_documents.get(unquote(identifier.uri))
        if document is None:
            log.info("change to %s, which is not open; ignored", identifier.uri)
        else:
            text = document.source
            for change in params.content_changes:
                if isinstance(change, types.TextDocumentContentChangePartial):
                    r = change.range
                    span = (
                        (r.start.line, r.start.character),
                        (r.end.line, r.end.character),
                    )
                    text = apply_text_change(text, span, change.text)
                else:
                    text = change.text
            self.workspace.put_text_document(
                types.TextDocumentItem(
                    uri=document.uri,
                    language_id=document.language_id or "",
                    version=identifier.version,
                    text=text,
                )
            )
        handler = self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)
        if handler is not None:
            yield handler, (params,), None


class DenLanguageServer(LanguageServer):
    def __init__(self, log_handler: ClientLogHandler | None = None):
        super().__init__(
            NAME,
            _version(),
            protocol_cls=DenProtocol,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.log_handler = log_handler
        self.shutdown_requested = False
        self.root: Path | None = None
        self.init_options: dict[str, Any] = {}
        self.client_settings: dict[str, Any] = {}

        # Owned by the event loop.
        self.documents: dict[str, OpenDocument] = {}
        self.published: Diagnostics = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        # Documents with an analysis of their text queued or running, and
        # those edited since: their latest text goes next, once, in one job.
        self._in_flight: dict[str, int] = {}
        self._pending: set[str] = set()
        self._tasks: set[asyncio.Task] = set()

        # Owned by the analysis thread.
        self._analysis = ThreadPoolExecutor(1, thread_name_prefix="den-analysis")
        self._project: Project | None = None
        self._loose: dict[str, Project] = {}
        self._overrides: dict[str, Any] = {}
        # The version of each document's text the projects hold: diagnostics
        # are published with it, not with a newer one still on its way.
        self._analysed_versions: dict[str, int | None] = {}
        # Open documents too large to analyse, and their size in bytes.
        self._too_large: dict[str, int] = {}
        self._use_cache = True
        self._ready = False

    # -- settings ---------------------------------------------------------------

    @property
    def overrides(self) -> dict[str, Any]:
        """The editor's settings: workspace/configuration over initializationOptions."""
        merged = merge_settings(self.init_options, self.client_settings)
        merged.pop("cache", None)  # the server's own setting, not the project's
        return merged

    @property
    def use_cache(self) -> bool:
        """Whether to read and write the on-disk facts cache (``"cache": false``)."""
        merged = merge_settings(self.init_options, self.client_settings)
        return merged.get("cache", True) is not False

    async def pull_configuration(self) -> None:
        if not _client_supports(self, "workspace.configuration"):
            return
        try:
            scope = self.workspace.root_uri
            items = [types.ConfigurationItem(section=SETTINGS_SECTION, scope_uri=scope)]
            result = await asyncio.wait_for(
                self.workspace_configuration_async(
                    types.ConfigurationParams(items=items)
                ),
                CLIENT_TIMEOUT_SECONDS,
            )
        except Exception as error:
            log.warning(
                "cannot read the editor's %r settings: %s", SETTINGS_SECTION, error
            )
            return
        value = result[0] if result else None
        self.client_settings = value if isinstance(value, dict) else {}

    # -- documents ----------------------------------------------------------------

    def locate(self, uri: str) -> OpenDocument:
        """Which project a document belongs to, and its path there."""
        fs_path = to_fs_path(uri)
        if fs_path is None:
            return OpenDocument(uri, uri, Path.cwd())
        path = Path(fs_path).resolve()
        try:
            if self.root is None:
                raise ValueError
            rel = path.relative_to(self.root).as_posix()
        except ValueError:
            # Outside the workspace: analysed with the configuration it
            # belongs to, when a flake.nix or den-lsp.toml above it says
            # which one that is; else on its own.
            config = find_configuration(path)
            if config is not None:
                return OpenDocument(uri, path.relative_to(config).as_posix(), config)
            return OpenDocument(uri, path.name, path.parent)
        if self.skipped(rel):
            return OpenDocument(uri, rel, self.root)
        return OpenDocument(uri, rel, None)

    def skipped(self, rel: str) -> bool:
        """Whether indexing leaves this path out (build results, VCS, ignores)."""
        if self._project is not None:
            return self._project.ignores(rel)
        parts = rel.split("/")
        if any(p in SKIPPED_DIRS or p.startswith("result") for p in parts):
            return True
        exclude = self._overrides.get("exclude") or ()
        if self._project is not None:
            exclude = self._project.settings.exclude
        try:
            return pathspec.GitIgnoreSpec.from_lines(exclude).match_file(rel)
        except ValueError:  # a malformed pattern, already reported by settings
            return False

    def buffer(self, document: OpenDocument) -> Buffer:
        text = self.workspace.get_text_document(document.uri)
        document.version = text.version
        document.text = text.source
        return Buffer(
            document.uri,
            document.rel,
            document.loose_root,
            encode_text(text.source),
            text.version,
        )

    def schedule(self, uri: str) -> None:
        """Analyse a document's text as soon as the analysis of its last text is done.

        An edit to a document with no analysis under way goes to the analysis
        thread almost at once: after ``FOLD_SECONDS``, so that a burst the
        client sent together folds into one analysis. Edits made while one is
        under way wait for it and then go together, as the latest text: fast
        typing never queues an analysis per keystroke, and a quick edit costs
        no waiting time.
        """
        if uri in self._in_flight:
            self._pending.add(uri)
            return
        if uri not in self._timers:
            loop = asyncio.get_running_loop()
            self._timers[uri] = loop.call_later(FOLD_SECONDS, self._flush, uri)

    def _flush(self, uri: str) -> None:
        if (timer := self._timers.pop(uri, None)) is not None:
            timer.cancel()
        self._pending.discard(uri)
        document = self.documents.get(uri)
        if document is None:
            return
        current = self.workspace.get_text_document(uri)
        if document.version == current.version and document.text is current.source:
            return  # a save, or a rebuild already took this text
        buffer = self.buffer(document)
        self._in_flight[uri] = self._in_flight.get(uri, 0) + 1
        self.spawn(self._analyse_buffer(buffer))

    async def _analyse_buffer(self, buffer: Buffer) -> None:
        try:
            await self.run(self._sync, buffer, touched={buffer.uri})
        finally:
            left = self._in_flight.pop(buffer.uri, 1) - 1
            if left:
                self._in_flight[buffer.uri] = left
            elif buffer.uri in self._pending:
                self._flush(buffer.uri)

    def spawn(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- answering requests -------------------------------------------------------

    async def query(self, uri: str, answer: Callable[[Project, str], Any]) -> Any:
        """``answer(project, rel)`` for a document, on the analysis thread.

        Edits not yet handed to analysis go first, so a request made right
        after typing sees the text as typed. Returns None when the document is
        unknown, indexing has not finished, or the answer fails (the failure
        is logged). While the workspace indexes the answer is None at once:
        waiting behind the index would hold the request for as long as it
        takes, which for a large workspace is many seconds.
        """
        document = self.documents.get(uri)
        if document is None or not self._ready:
            return None
        if uri in self._timers or uri in self._pending:
            self._flush(uri)
            await asyncio.sleep(0)  # let the flush hand its text to the thread

        def job() -> Any:
            project = self._project_of(document)
            if project is None or not self._ready:
                return None
            try:
                return answer(project, document.rel)
            except Exception:
                log.exception("%s: request failed", document.rel)
                return None

        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._analysis, job)
        except RuntimeError:  # the executor is shut down: the session is over
            return None

    def uri_function(self, project: Project) -> Callable[[str], str]:
        """Project path to URI, as the client spells its open documents."""
        return self._uri_function(project, list(self.documents.values()))

    # -- running analysis -----------------------------------------------------------

    async def run(self, job: Callable[..., None], *args, touched=()) -> None:
        """Run ``job`` on the analysis thread, then publish what changed."""
        result = await self.analyse(job, *args)
        if result is not None:
            self.publish(result, set(touched))

    async def analyse(self, job: Callable[..., None], *args) -> Analysed | None:
        """Run ``job`` on the analysis thread; then the open documents' diagnostics."""
        loop = asyncio.get_running_loop()
        opened = list(self.documents.values())
        try:
            return await loop.run_in_executor(
                self._analysis, self._guarded, job, args, opened
            )
        except RuntimeError:  # the executor is shut down: the session is over
            return None

    def _guarded(self, job, args, opened: list[OpenDocument]) -> Analysed | None:
        try:
            job(*args)
            if not self._ready:
                return None
            return self._diagnostics(opened), dict(self._analysed_versions)
        except Exception:
            log.exception("analysis failed; diagnostics were not updated")
            return None

    def publish(self, result: Analysed, touched: set[str]) -> None:
        found, versions = result
        for uri, diagnostics in found.items():
            document = self.documents.get(uri)
            if document is None:
                continue
            if uri not in touched and self.published.get(uri) == diagnostics:
                continue
            self.published[uri] = diagnostics
            self.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(
                    uri=uri,
                    diagnostics=diagnostics,
                    version=versions[uri],
                )
            )

    def clear(self, uri: str) -> None:
        self.published.pop(uri, None)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )

    # -- on the analysis thread -------------------------------------------------------

    def _diagnostics(self, opened: list[OpenDocument]) -> Diagnostics:
        result: Diagnostics = {}
        for document in opened:
            if document.uri not in self._analysed_versions:
                # Its text is on its way to the analysis thread, which has
                # not seen it yet: diagnostics now would be those of the text
                # on disk, and no version of the editor's text names that.
                continue
            if (size := self._too_large.get(document.uri)) is not None:
                result[document.uri] = [too_large_diagnostic(size, MAX_FILE_BYTES)]
                continue
            project = self._project_of(document)
            if project is None:
                continue
            uri_of = self._uri_function(project, opened)
            findings = project.findings().get(document.rel, [])
            result[document.uri] = [to_diagnostic(f, uri_of) for f in findings]
        return result

    def _uri_function(
        self, project: Project, opened: list[OpenDocument]
    ) -> Callable[[str], str]:
        """Project path to URI, spelled the client's way for open documents."""
        spelled = {d.rel: d.uri for d in opened if self._project_of(d) is project}

        def uri_of(rel: str) -> str:
            return spelled.get(rel) or document_uri(project.root, rel)

        return uri_of

    def _project_of(self, document: OpenDocument | Buffer) -> Project | None:
        if document.loose_root is None:
            return self._project
        if document.loose_root != self.root and _is_configuration(document.loose_root):
            # A configuration outside the workspace, shared by its documents.
            key = str(document.loose_root)
            project = self._loose.get(key)
            if project is None:
                project = Project(document.loose_root, self._overrides)
                project.use_cache = self._use_cache
                project.index()
                self._loose[key] = project
            return project
        project = self._loose.get(document.uri)
        if project is None:
            project = Project(document.loose_root, self._overrides)
            self._loose[document.uri] = project
        return project

    def _rebuild(
        self,
        overrides: dict[str, Any],
        buffers: list[Buffer],
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self._ready = False
        self._overrides = overrides
        self._loose = {}
        self._project = None
        try:
            if self.root is not None:
                self._project = Project(self.root, overrides)
                self._project.use_cache = self._use_cache
                for problem in self._project.settings_problems:
                    log.warning("%s", problem)
                self._project.index(progress)
        except Exception:
            log.exception("indexing %s failed; only open files are analysed", self.root)
        finally:
            # Open buffers go in last: the editor's text wins over the disk.
            for buffer in buffers:
                try:
                    self._sync(buffer)
                except Exception:
                    log.exception("%s: analysis failed", buffer.rel)
            # Findings, model and name index before the first request: one
            # answered from now on must not wait behind a workspace-wide pass
            # (until then requests are answered at once, with nothing).
            try:
                if self._project is not None:
                    with long_lived_objects():
                        self._project.findings()
                        for unit in self._project.models():
                            index_of(self._project, unit)
                        self._project.release_trees(b.rel for b in buffers)
            except Exception:
                log.exception("analysis of %s failed", self.root)
            self._ready = True

    def _sync(self, buffer: Buffer) -> None:
        project = self._project_of(buffer)
        if project is None:
            return
        if len(buffer.source) > MAX_FILE_BYTES:
            # As on disk, a file this large is left out: its analysis would
            # hold every other document's for a minute or more.
            if buffer.uri not in self._too_large:
                log.info("%s: %d bytes, not analysed", buffer.rel, len(buffer.source))
            self._too_large[buffer.uri] = len(buffer.source)
            project.remove(buffer.rel)
        else:
            self._too_large.pop(buffer.uri, None)
            project.set_source(buffer.rel, buffer.source)
        self._analysed_versions[buffer.uri] = buffer.version

    def _close(self, document: OpenDocument) -> None:
        self._analysed_versions.pop(document.uri, None)
        self._too_large.pop(document.uri, None)
        if document.loose_root is not None:
            shared = self._loose.get(str(document.loose_root))
            if shared is not None:
                path = shared.root / document.rel
                if path.is_file():
                    shared.load(path)
                else:
                    shared.remove(document.rel)
                return
            self._loose.pop(document.uri, None)
            return
        if self._project is None:
            return
        path = self._project.root / document.rel
        if path.is_file():
            self._project.load(path)
        else:
            self._project.remove(document.rel)

    def _disk_changes(self, changes: list[tuple[str, types.FileChangeType]]) -> None:
        if self._project is None:
            return
        for rel, kind in changes:
            if kind == types.FileChangeType.Deleted:
                self._project.remove(rel)
            else:
                self._project.load(self._project.root / rel)

    # -- indexing ----------------------------------------------------------------------

    async def rebuild(self) -> None:
        """Re-read settings and the whole workspace, then republish everything."""
        self._ready = False  # requests from now on are not held behind the index
        progress = await self._begin_progress()
        overrides = self.overrides
        self._use_cache = self.use_cache
        buffers = [self.buffer(d) for d in self.documents.values()]
        started = time.perf_counter()
        result = await self.analyse(self._rebuild, overrides, buffers, progress)
        log.debug("workspace analysed in %.2f s", time.perf_counter() - started)
        if progress is not None:
            progress.end()
        if result is not None:
            self.publish(result, {b.uri for b in buffers})

    async def _begin_progress(self) -> _IndexProgress | None:
        if self.root is None or not _client_supports(self, "window.work_done_progress"):
            return None
        token = f"den-lsp/index/{uuid.uuid4()}"
        try:
            await asyncio.wait_for(
                self.work_done_progress.create_async(token), CLIENT_TIMEOUT_SECONDS
            )
        except Exception as error:
            log.debug("client refused work-done progress: %s", error)
            return None
        progress = _IndexProgress(self, token, asyncio.get_running_loop())
        progress.begin()
        return progress

    async def register_watchers(self) -> None:
        if not _client_supports(
            self, "workspace.did_change_watched_files.dynamic_registration"
        ):
            return
        watchers = [types.FileSystemWatcher(glob_pattern=g) for g in WATCHED_GLOBS]
        registration = types.Registration(
            id=f"den-lsp/watched-files/{uuid.uuid4()}",
            method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
            register_options=types.DidChangeWatchedFilesRegistrationOptions(
                watchers=watchers
            ),
        )
        try:
            await asyncio.wait_for(
                self.client_register_capability_async(
                    types.RegistrationParams(registrations=[registration])
                ),
                CLIENT_TIMEOUT_SECONDS,
            )
        except Exception as error:
            log.warning("cannot watch workspace files: %s", error)

    def shutdown(self) -> None:
        self._analysis.shutdown(wait=False, cancel_futures=True)
        super().shutdown()


class _IndexProgress:
    """Work-done progress for indexing, reported from the analysis thread."""

    def __init__(self, server: DenLanguageServer, token: str, loop):
        self.server = server
        self.token = token
        self.loop = loop
        self.percentage = -1
        self.total = 0

    def begin(self) -> None:
        self.server.work_done_progress.begin(
            self.token,
            types.WorkDoneProgressBegin(
                title="Indexing den workspace", percentage=0, cancellable=False
            ),
        )

    def __call__(self, done: int, total: int) -> None:
        self.total = total
        percentage = done * 100 // total if total else 100
        if percentage == self.percentage:
            return
        self.percentage = percentage
        value = types.WorkDoneProgressReport(
            message=f"{done}/{total} files", percentage=percentage
        )
        self.loop.call_soon_threadsafe(
            self.server.work_done_progress.report, self.token, value
        )

    def end(self) -> None:
        self.server.work_done_progress.end(
            self.token, types.WorkDoneProgressEnd(message=f"{self.total} files indexed")
        )


def merge_settings(*layers: dict[str, Any] | None) -> dict[str, Any]:
    """Settings layers merged in order: later scalars win, severities combine."""
    merged: dict[str, Any] = {}
    for layer in layers:
        if not isinstance(layer, dict):
            continue
        for key, value in layer.items():
            if key == "severity" and isinstance(value, dict):
                merged["severity"] = {**merged.get("severity", {}), **value}
            elif key == "exclude" and isinstance(value, list):
                merged["exclude"] = [*merged.get("exclude", []), *value]
            else:
                merged[key] = value
    return merged


def _den_section(options: Any) -> dict[str, Any]:
    """The den settings in initializationOptions, bare or under ``"den"``."""
    if not isinstance(options, dict):
        return {}
    nested = options.get(SETTINGS_SECTION)
    if isinstance(nested, dict):
        return nested
    return options


def find_configuration(path: Path) -> Path | None:
    """The nearest folder above ``path`` holding flake.nix or den-lsp.toml."""
    home = Path.home()
    for folder in path.parents:
        if folder == home or folder.parent == folder:
            break  # never index a whole home directory or file system
        if _is_configuration(folder):
            return folder
    return None


def _is_configuration(folder: Path) -> bool:
    return (folder / "flake.nix").is_file() or (folder / CONFIG_FILE).is_file()


def _is_nix(document: types.TextDocumentItem) -> bool:
    return document.language_id == "nix" or document.uri.endswith(".nix")


def _client_supports(server: LanguageServer, dotted: str) -> bool:
    value: Any = server.client_capabilities
    for name in dotted.split("."):
        value = getattr(value, name, None)
        if value is None:
            return False
    return bool(value)


def _root_of(params: types.InitializeParams) -> Path | None:
    candidates = [f.uri for f in params.workspace_folders or ()]
    candidates.append(params.root_uri)
    for uri in candidates:
        if not uri:
            continue
        fs_path = to_fs_path(uri)
        if fs_path is not None and Path(fs_path).is_dir():
            return Path(fs_path).resolve()
    if params.root_path and Path(params.root_path).is_dir():
        return Path(params.root_path).resolve()
    return None


def create_server(log_handler: ClientLogHandler | None = None) -> DenLanguageServer:
    server = DenLanguageServer(log_handler)
    for feature in FEATURES:
        feature.register(server)

    @server.feature(types.INITIALIZE)
    def initialize(ls: DenLanguageServer, params: types.InitializeParams) -> None:
        ls.root = _root_of(params)
        ls.init_options = _den_section(params.initialization_options)
        if ls.root is None:
            log.info(
                "%s %s: no workspace folder; analysing files one by one",
                NAME,
                ls.version,
            )
        else:
            log.info("%s %s: workspace %s", NAME, ls.version, ls.root)

    @server.feature(types.INITIALIZED)
    async def initialized(
        ls: DenLanguageServer, params: types.InitializedParams
    ) -> None:
        if ls.log_handler is not None:
            ls.log_handler.connect(ls.window_log_message, asyncio.get_running_loop())
        await ls.pull_configuration()
        ls.spawn(ls.register_watchers())
        await ls.rebuild()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(
        ls: DenLanguageServer, params: types.DidOpenTextDocumentParams
    ) -> None:
        uri = params.text_document.uri
        if not _is_nix(params.text_document):
            return
        ls.documents[uri] = ls.locate(uri)
        ls.schedule(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(
        ls: DenLanguageServer, params: types.DidChangeTextDocumentParams
    ) -> None:
        uri = params.text_document.uri
        if uri in ls.documents:
            ls.schedule(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(
        ls: DenLanguageServer, params: types.DidSaveTextDocumentParams
    ) -> None:
        uri = params.text_document.uri
        if uri in ls.documents:
            ls.schedule(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(
        ls: DenLanguageServer, params: types.DidCloseTextDocumentParams
    ) -> None:
        uri = params.text_document.uri
        if (timer := ls._timers.pop(uri, None)) is not None:
            timer.cancel()
        ls._pending.discard(uri)
        document = ls.documents.pop(uri, None)
        ls.clear(uri)
        if document is not None:
            ls.spawn(ls.run(ls._close, document))

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(
        ls: DenLanguageServer, params: types.DidChangeWatchedFilesParams
    ) -> None:
        if ls.root is None:
            return
        edited = {d.rel for d in ls.documents.values() if d.loose_root is None}
        changes: list[tuple[str, types.FileChangeType]] = []
        for event in params.changes:
            fs_path = to_fs_path(event.uri)
            if fs_path is None:
                continue
            path = Path(fs_path)
            if path.name == CONFIG_FILE and path.parent.resolve() == ls.root:
                log.info("%s changed; re-reading the workspace", CONFIG_FILE)
                ls.spawn(ls.rebuild())
                return
            if path.suffix != ".nix":
                continue
            document = ls.locate(event.uri)
            # The editor's buffer is the truth for an open document.
            if document.loose_root is not None or document.rel in edited:
                continue
            changes.append((document.rel, event.type))
        if changes:
            ls.spawn(ls.run(ls._disk_changes, changes))

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: DenLanguageServer, params: types.DidChangeConfigurationParams
    ) -> None:
        if _client_supports(ls, "workspace.configuration"):
            await ls.pull_configuration()
        elif isinstance(params.settings, dict):
            ls.client_settings = _den_section(params.settings)
        log.info("settings changed; re-reading the workspace")
        await ls.rebuild()

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: DenLanguageServer, params: None) -> None:
        ls.shutdown_requested = True
        for timer in ls._timers.values():
            timer.cancel()
        ls._timers.clear()

    return server


def _lead_own_group() -> None:
    """Put the server, and the processes it will start, in a group of their own."""
    try:
        os.setpgid(0, 0)
    except OSError:  # already a group or session leader: nothing to do
        pass


def _interrupted(signum: int, frame: Any) -> None:
    _end_helpers()
    os.write(2, b"den-lsp: interrupted\n")
    os._exit(130)


def _end_helpers() -> None:
    """End every process this server started: analysis processes, fork server.

    Some may not be known to multiprocessing yet (one being started as the
    server ends), so the server's whole process group is ended, when the
    server leads one of its own.
    """
    for helper in multiprocessing.active_children():
        helper.terminate()
    if os.getpgid(0) != os.getpid():
        return
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        os.killpg(os.getpid(), signal.SIGTERM)
    except OSError:
        pass


def serve(log_level: int | str = logging.INFO) -> None:
    """Run the language server on stdin/stdout until the client exits."""
    keep_workspace_off_the_module_path()
    if sys.stdin.isatty():
        # Started by hand in a terminal: it stays in the terminal's group,
        # so that Ctrl-C reaches it, and ends on it at once.
        signal.signal(signal.SIGINT, _interrupted)
    else:
        _lead_own_group()
    handler = setup_logging(log_level)
    server = create_server(handler)

    # stdout carries the protocol. Anything else that writes to it, a stray
    # print in a dependency for one, goes to stderr instead.
    protocol_out = sys.stdout.buffer
    sys.stdout = sys.stderr
    server.start_io(sys.stdin.buffer, protocol_out)

    # pygls ends start_io on `exit`, or when the client closes the connection,
    # without passing a status on. LSP's is 0 after a shutdown request, else 1.
    # The process ends now, not when the analysis thread has finished a job
    # that nobody waits for any more (indexing a large workspace takes
    # minutes); the cache is replaced by renaming a complete file, so a write
    # cut short leaves the previous one. The analysis processes of that job
    # end with it: they would otherwise wait for work forever, holding the
    # client's end of stdout and stderr open.
    _end_helpers()
    logging.shutdown()
    sys.stderr.flush()
    os._exit(0 if server.shutdown_requested else 1)
