"""A den workspace on disk and in the editor: files, facts, model, findings.

The CLI and the language server both work through a ``Project``. It reads
every ``.nix`` file under the root once, keeps each file's facts (from the
on-disk cache when the file is unchanged), and on an edit re-reads only that
file. An edit that leaves the file's facts the same apart from positions, in
a file no finding points into, changes no finding outside that file: only its
syntax findings are read again, and the model is rebuilt when something asks
for it. Any other edit rebuilds the model from the kept facts, which costs no
parsing.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import os
import signal
import threading
import time
from collections import Counter, deque
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from den_lsp.analysis.findings import Finding
from den_lsp.features.cache import FactsCache, decode, encode, file_digest
from den_lsp.features.settings import CONFIG_FILE, Settings, load_settings
from den_lsp.syntax.source import UTF8_BOM, read_workspace_file
from den_lsp.syntax.span import Span

# The parser, the extractor, the model, the rules and the analysis
# processes are imported where they are first used: a check whose findings
# all come from the cache needs none of them, and importing them would take
# longer than the rest of that check.
if TYPE_CHECKING:
    from concurrent.futures import Future

    import pathspec

    from den_lsp.analysis import FamilyRun
    from den_lsp.facts.types import FileFacts
    from den_lsp.model.model import Model
    from den_lsp.syntax.parse import SyntaxTree
    from den_lsp.syntax.positions import LineIndex

log = logging.getLogger(__name__)

SKIPPED_DIRS = frozenset({".git", ".direnv", "node_modules"})
MAX_FILE_BYTES = 8 * 1024 * 1024
# Files analysed between two progress reports.
INDEX_STEP = 48
# Below this many files to analyse, starting other processes costs more than
# it saves.
PARALLEL_MIN_FILES = 160
# Files sent to another process at a time.
PARALLEL_CHUNK = 24
# Files analysed between two passes of the cycle collector while indexing.
COLLECT_EVERY = 500


class FileState:
    """One file's bytes and what den-lsp read from them.

    The syntax tree and the line index are built again on demand: a project
    of thousands of files keeps only its facts, and a file whose facts came
    from the cache is never parsed unless a feature needs its tree. Facts and
    syntax findings from the cache are decoded on first use.
    """

    __slots__ = (
        "path",
        "source",
        "binary",
        "_tree",
        "_index",
        "_read",
        "_blob",
        "_cached",
        "_commented",
    )

    def __init__(
        self,
        path: str,  # POSIX path relative to the project root
        source: bytes,
        tree: SyntaxTree | None,
        index: LineIndex | None,
        facts: FileFacts | None,
        syntax: tuple[Finding, ...] = (),
        binary: bool = False,
        blob: bytes | None = None,
        cached: tuple[FactsCache, bytes] | None = None,
    ):
        self.path = path
        self.source = source
        self.binary = binary
        self._tree = tree
        self._index = index
        self._read = (facts, syntax) if facts is not None else None
        self._blob = blob
        # Where to fetch the entry when it is first needed: a cache whose
        # pack is read only then, and this file's digest in it.
        self._cached = cached
        self._commented: bool | None = None

    @property
    def commented(self) -> bool:
        """Whether the file holds a suppression comment's marker.

        Read once per state (its bytes never change): findings are gathered
        again after every edit, and this was a scan of every file's bytes.
        """
        if self._commented is None:
            from den_lsp.features.suppression import MARKER

            self._commented = MARKER in self.source
        return self._commented

    @property
    def tree(self) -> SyntaxTree | None:
        """The file's syntax tree; None for a binary file."""
        if self.binary:
            return None
        if self._tree is None:
            from den_lsp.syntax.parse import parse_nix

            self._tree = parse_nix(self.source)
        return self._tree

    @property
    def index(self) -> LineIndex:
        if self._index is None:
            from den_lsp.syntax.positions import LineIndex

            self._index = LineIndex(self.source)
        return self._index

    @property
    def facts(self) -> FileFacts:
        return self._decoded()[0]

    @property
    def syntax(self) -> tuple[Finding, ...]:
        return self._decoded()[1]

    def _decoded(self) -> tuple[FileFacts, tuple[Finding, ...]]:
        if self._read is None:
            blob = self._stored_blob()
            stored = decode(blob) if blob is not None else None
            if not _well_formed(stored, self.path):
                # A cache entry that does not read back is only a miss.
                fresh = analyse_source(
                    self.path, self.source, with_facts=loaded_by_import_tree(self.path)
                )
                stored = (fresh.facts, fresh.syntax)
            self._read = stored
            self._blob = None
        return self._read

    def _stored_blob(self) -> bytes | None:
        if self._blob is None and self._cached is not None:
            cache, digest = self._cached
            self._blob = cache.entry(digest)
            self._cached = None  # the pack is freed once no file needs it
        return self._blob

    def entry(self) -> bytes:
        """What the cache keeps of this file."""
        if self._read is None and self._stored_blob() is not None:
            return self._blob
        return encode(self._decoded())


def _well_formed(stored: Any, path: str) -> bool:
    from den_lsp.facts.types import FileFacts

    return (
        isinstance(stored, tuple)
        and len(stored) == 2
        and isinstance(stored[0], FileFacts)
        and stored[0].path == path
        and isinstance(stored[1], tuple)
    )


def _skipped_dir(name: str) -> bool:
    return name in SKIPPED_DIRS or name.startswith("result")


def ignore_spec(patterns: Iterable[str]) -> pathspec.PathSpec:
    """A matcher for .gitignore-style patterns, dropping lines git would ignore.

    git silently skips a pattern it cannot use (``[z-a]``, a lone ``!``);
    pathspec raises on them, so each line is tried on its own first.
    """
    import pathspec

    usable = []
    for pattern in patterns:
        try:
            pathspec.GitIgnoreSpec.from_lines([pattern])
        except Exception:  # pathspec raises several types for bad patterns
            log.info("ignoring unusable ignore pattern %r", pattern)
            continue
        usable.append(pattern)
    return pathspec.GitIgnoreSpec.from_lines(usable)


def _gitignore(root: Path, directory: Path) -> list[str]:
    """Patterns of ``directory/.gitignore``, rewritten relative to ``root``."""
    path = directory / ".gitignore"
    try:
        data = read_workspace_file(path, root, MAX_FILE_BYTES)
        lines = data.decode("utf-8", "replace").splitlines()
    except OSError:
        return []
    base = directory.relative_to(root).as_posix()
    patterns = []
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if base == ".":
            patterns.append(stripped)
            continue
        negate = stripped.startswith("!")
        body = stripped[1:] if negate else stripped
        anchored = body.startswith("/") or "/" in body.rstrip("/")
        body = body.lstrip("/")
        rewritten = f"{base}/{body}" if anchored else f"{base}/**/{body}"
        patterns.append(("!" if negate else "") + rewritten)
    return patterns


def discover(root: Path, exclude: Iterable[str] = ()) -> list[Path]:
    """Every ``.nix`` file den would see: skipping build results, VCS and ignores."""
    return [Path(path) for _, path in discover_files(root, exclude)]


def discover_files(root: Path, exclude: Iterable[str] = ()) -> list[tuple[str, str]]:
    """``discover`` as (path relative to root, path) strings, in the same order.

    Strings all the way: a repository of tens of thousands of files spends
    more time building path objects than listing its folders.
    """
    files: list[tuple[list[str], str, str]] = []
    patterns: list[str] = list(exclude)
    spec = ignore_spec(patterns) if patterns else None
    top = os.fspath(root)
    for directory, dirnames, filenames in os.walk(top):
        rel_dir = "." if directory == top else directory[len(top) + 1 :]
        if rel_dir != "." and os.sep != "/":
            rel_dir = rel_dir.replace(os.sep, "/")
        if ".gitignore" in filenames:
            added = _gitignore(root, Path(directory))
            if added:
                patterns.extend(added)
                spec = ignore_spec(patterns)
        kept = []
        for name in sorted(dirnames):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if _skipped_dir(name) or (spec is not None and spec.match_file(rel + "/")):
                continue
            if os.path.islink(os.path.join(directory, name)):
                continue
            kept.append(name)
        dirnames[:] = kept
        for name in filenames:
            if not name.endswith(".nix"):
                continue
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if name.startswith("result") or (spec is not None and spec.match_file(rel)):
                continue
            files.append((rel.split("/"), rel, os.path.join(directory, name)))
    # The order of paths compared part by part, as sorted() orders Paths.
    files.sort(key=lambda item: item[0])
    return [(rel, path) for _, rel, path in files]


def ignored(root: Path, rel: str, exclude: Iterable[str] = ()) -> bool:
    """Whether ``discover`` leaves out the file at ``rel`` (a POSIX path under root)."""
    parts = rel.split("/")
    if any(_skipped_dir(p) for p in parts[:-1]) or parts[-1].startswith("result"):
        return True
    patterns = list(exclude) + _gitignore(root, root)
    directory = root
    for part in parts[:-1]:
        directory = directory / part
        patterns.extend(_gitignore(root, directory))
    spec = ignore_spec(patterns)
    prefixes = ["/".join(parts[: i + 1]) + "/" for i in range(len(parts) - 1)]
    return any(spec.match_file(p) for p in prefixes) or spec.match_file(rel)


def loaded_by_import_tree(rel: str) -> bool:
    """Whether import-tree loads the file as a module.

    import-tree skips every path with a segment starting with ``_``: such files
    are helpers imported by hand, or modules switched off. Their den facts are
    left out of the model (a disabled module must not produce findings); their
    syntax is still checked.
    """
    return not any(part.startswith("_") for part in rel.split("/"))


@contextmanager
def long_lived_objects() -> Iterator[None]:
    """Run work that makes objects by the hundred thousand and frees few.

    Left alone, the cycle collector would walk all of them again and again,
    each pass longer than the last and holding every thread still meanwhile
    (the language server's protocol loop too). Here it runs only over what
    was made since its last pass, and what survives is set aside for good:
    a project keeps its facts as long as it lives.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        _set_aside_garbage_free()
        if collecting:
            gc.enable()


def _set_aside_garbage_free() -> None:
    """Collect the cycles made since the last call; the rest is never walked again."""
    gc.collect(0)
    gc.freeze()


def _is_binary(source: bytes) -> bool:
    return b"\0" in source[:8192]


def analyse_many(pending: list[tuple[str, bytes]]) -> Iterator[tuple[str, FileState]]:
    """``analyse_source`` for many files, on every core when there are enough.

    The calling thread analyses files too, while other processes take
    chunks of them; what a process found comes back as a cache entry, read
    back when it is first needed, exactly as if it came from the cache. The
    syntax trees are not kept: a feature that needs one parses the file again.
    """
    workers = _worker_count(len(pending))
    if workers == 0:
        for rel, source in pending:
            yield rel, _analysed_here(rel, source)
        return
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # The extractor is imported before the processes start, so that forked
    # ones share it instead of each importing it again.
    import den_lsp.facts.extract  # noqa: F401

    chunks = deque(
        pending[start : start + PARALLEL_CHUNK]
        for start in range(0, len(pending), PARALLEL_CHUNK)
    )
    try:
        pool = ProcessPoolExecutor(
            workers,
            mp_context=_process_context(),
            initializer=_analysis_process,
            initargs=(os.getpid(),),
        )
    except (OSError, ValueError) as error:
        log.info("cannot start analysis processes: %s", error)
        pool = None
    usable = pool is not None
    running: dict[Future, list[tuple[str, bytes]]] = {}
    try:
        while chunks or running:
            while usable and chunks and len(running) < 2 * workers:
                chunk = chunks.popleft()
                running[pool.submit(_analyse_chunk, chunk)] = chunk
            finished = [f for f in running if f.done()]
            for future in finished:
                chunk = running.pop(future)
                try:
                    answers = future.result()
                except Exception as error:  # a lost process: its files are read here
                    log.info("an analysis process failed: %s", error)
                    usable = False
                    chunks.append(chunk)
                    continue
                for rel, source, blob, binary in answers:
                    state = FileState(rel, source, None, None, None, binary=binary)
                    state._blob = blob
                    yield rel, state
            if chunks:
                for rel, source in chunks.popleft():
                    yield rel, _analysed_here(rel, source)
            elif running and not finished:
                wait(running, return_when=FIRST_COMPLETED)
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def _analysis_process(parent: int) -> None:
    """Set up an analysis process: its output, and its end with its parent.

    stdout is the language server's protocol channel, which the process
    shares: anything it prints goes to stderr instead. A pool's processes
    wait for work for as long as their queue is open, and the fork server's
    hold it open themselves: killed outright, a server would leave them, and
    the fork server, running for ever. Each ends once its parent is gone.
    """
    os.dup2(2, 1)
    # Ctrl-C in a terminal reaches the whole foreground group: the parent
    # reports it once, and its processes end with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(parent, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # another process has the number: gone
                os._exit(0)

    threading.Thread(target=watch, name="den-parent-watch", daemon=True).start()


def _worker_count(files: int) -> int:
    if files < PARALLEL_MIN_FILES:
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    return max(0, min(cores - 1, 3, files // PARALLEL_MIN_FILES))


def _process_context():
    import multiprocessing

    # Forking a process with other threads running can copy a lock some
    # thread holds; the language server has threads, the CLI does not.
    method = "fork" if threading.active_count() == 1 else "forkserver"
    if method not in multiprocessing.get_all_start_methods():
        method = "spawn"
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        # The fork server loads this module and the extractor, and not the
        # program's main module, which for `python -m den_lsp` would start
        # another server.
        context.set_forkserver_preload([__name__, "den_lsp.facts.extract"])
    return context


def _analyse_chunk(
    items: list[tuple[str, bytes]],
) -> list[tuple[str, bytes, bytes, bool]]:
    """In another process: each file's cache entry."""
    answers = []
    for rel, source in items:
        state = analyse_source(rel, source, None, loaded_by_import_tree(rel))
        answers.append((rel, source, state.entry(), state.binary))
    return answers


def _analysed_here(rel: str, source: bytes) -> FileState:
    state = analyse_source(rel, source, None, loaded_by_import_tree(rel))
    state._tree = None
    state._index = None
    return state


def analyse_source(
    path: str,
    source: bytes,
    previous: SyntaxTree | None = None,
    with_facts: bool = True,
) -> FileState:
    """Parse one file and extract its facts. Never raises on bad input."""
    from den_lsp.facts.types import FileFacts
    from den_lsp.syntax.parse import parse_nix

    index = _LazyLineIndex(source)
    if _is_binary(source):
        log.info("%s: binary file, not analysed", path)
        return FileState(path, source, None, None, FileFacts(path), (), binary=True)
    tree = parse_nix(source, previous)
    syntax = tuple(_syntax_findings(path, tree, index))
    try:
        facts = extract(path, tree, index) if with_facts else FileFacts(path)
    except Exception:  # a bug in the extractor must not take the server down
        log.exception("%s: fact extraction failed; the file is skipped", path)
        facts = FileFacts(path)
    return FileState(path, source, tree, index.built, facts, syntax)


def extract(path: str, tree: SyntaxTree, index: LineIndex) -> FileFacts:
    """The facts of one parsed file (the extractor, imported on first use)."""
    from den_lsp.facts.extract import extract as extract_facts

    return extract_facts(path, tree, index)


class _LazyLineIndex:
    """A line index built on the first position asked for.

    Most files of a large repository are not den modules and have no syntax
    error: reading them never converts a position, so they never pay for
    scanning their line breaks.
    """

    def __init__(self, source: bytes):
        self.source = source
        self.built: LineIndex | None = None

    def __getattr__(self, name: str):
        if self.built is None:
            from den_lsp.syntax.positions import LineIndex

            self.built = LineIndex(self.source)
        return getattr(self.built, name)


def _syntax_findings(
    path: str, tree: SyntaxTree, index: LineIndex
) -> Iterable[Finding]:
    from den_lsp.analysis.codes import CODES
    from den_lsp.syntax.errors import syntax_problems

    code = CODES["den/syntax"]
    if tree.source.startswith(UTF8_BOM):
        # tree-sitter skips a byte-order mark; Nix's lexer rejects it.
        span = index.span(path, 0, len(UTF8_BOM))
        yield Finding(
            code.code,
            code.severity,
            span,
            "the file starts with a UTF-8 byte-order mark, which Nix does not "
            "accept; save the file without it",
        )
    for problem in syntax_problems(tree):
        span = index.span(path, problem.start_byte, problem.end_byte)
        yield Finding(code.code, code.severity, span, problem.message)


class Project:
    """A workspace root, its settings and the state of its files."""

    def __init__(self, root: Path, overrides: dict | None = None):
        self.root = root.resolve()
        file_settings, self.settings_problems = load_settings(self.root)
        self.settings: Settings = file_settings.merged(overrides)
        self._overrides = overrides
        self._unit_settings: dict[str, Settings] = {}
        self.files: dict[str, FileState] = {}
        self.unreadable: dict[str, str] = {}
        self._models: dict[str, Model] | None = None
        # The models last built, kept past an edit: the next model of a
        # configuration takes from it what the edit left as it was.
        self._built: dict[str, Model] = {}
        self._flake_dirs: dict[str, bool] = {}
        self._units: dict[str, str] = {}  # a file's folder to its configuration
        self._findings: dict[str, list[Finding]] | None = None
        # Each configuration's rule family runs, as they stand for the facts
        # held now; an edit keeps those it cannot change.
        self._runs: dict[str, dict[str, FamilyRun]] = {}
        # Each configuration's word counts summed over its files (see
        # ``build_model``), kept up to date by edits; None until needed.
        self._word_totals: dict[str, Counter] | None = None
        # Files that some rule finding points into (its range, a fix or its
        # message), for the last findings computed from a model.
        self._referenced: set[str] | None = None
        # Whether indexing reads and writes the on-disk facts cache.
        self.use_cache = True
        self._digests: dict[str, bytes] = {}

    # -- files ------------------------------------------------------------------

    def relative(self, path: Path) -> str:
        """``path`` relative to the root, naming a symlink, not its target."""
        absolute = Path(os.path.abspath(path))
        try:
            return absolute.relative_to(self.root).as_posix()
        except ValueError:
            return absolute.as_posix()

    def ignores(self, rel: str) -> bool:
        """Whether indexing leaves ``rel`` out: build results, VCS, ignores."""
        return ignored(self.root, rel, self.settings.exclude)

    def index(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Read every file of the workspace.

        With the cache on, every file is first only read and digested. When
        the cache holds the findings of exactly this workspace, that is all:
        facts come from the cache when something asks for them. Otherwise the
        files the cache does not know are analysed (on several cores when
        there are many) and the cache is written again.
        """
        gc.unfreeze()  # a project indexed before may have been dropped
        self._built = {}
        with long_lived_objects():
            self._index(progress)

    def _index(self, progress: Callable[[int, int], None] | None) -> None:
        started = time.perf_counter()
        self._flake_dirs.clear()
        self._units.clear()
        self._unit_settings.clear()
        self._digests = {}
        cache = self._open_cache()
        paths = discover_files(self.root, self.settings.exclude)
        pending: list[tuple[str, bytes]] = []
        for rel, path in paths:
            read = self._read_file(path, rel)
            if read is None:
                continue
            rel, source = read
            if cache is None:
                pending.append(read)
                continue
            self._digests[rel] = file_digest(rel, loaded_by_import_tree(rel), source)
            self.files[rel] = FileState(
                rel,
                source,
                None,
                None,
                None,
                binary=_is_binary(source),
                cached=(cache, self._digests[rel]),
            )
        self._invalidate()

        if cache is not None:
            key = self._workspace_key()
            stored = cache.findings(key) if key is not None else None
            if isinstance(stored, dict):
                self._findings = stored
                if progress is not None:
                    progress(len(paths), len(paths))
                log.info(
                    "indexed %s: %d files, findings from the cache, in %.2f s",
                    self.root,
                    len(self.files),
                    time.perf_counter() - started,
                )
                return
            for rel, state in self.files.items():
                blob = cache.entry(self._digests[rel])
                state._cached = None
                if blob is None:
                    pending.append((rel, state.source))
                else:
                    state._blob = blob

        self._analyse_files(pending, progress)
        _set_aside_garbage_free()
        self._invalidate()
        if cache is not None and key is not None:
            # Taken before the facts are read: an entry that came from an
            # analysis process is kept as it came, not encoded again.
            entries = {
                self._digests[rel]: state.entry()
                for rel, state in self.files.items()
                if rel in self._digests
            }
            self._read_facts()
            cache.write(entries, key, self.findings())
        else:
            self._read_facts()
        log.info(
            "indexed %s: %d files (%d from the cache) in %.2f s",
            self.root,
            len(self.files),
            len(self.files) - len(pending),
            time.perf_counter() - started,
        )

    def _read_facts(self) -> None:
        """Decode every file's facts, the model's input, setting aside as it goes.

        Decoded inside the model's first build, all at once, they would be
        walked by one pass of the cycle collector at its end, holding every
        thread still meanwhile (the language server's protocol loop too).
        """
        for done, state in enumerate(self.files.values(), 1):
            state.facts
            if done % COLLECT_EVERY == 0:
                _set_aside_garbage_free()
        _set_aside_garbage_free()

    def _open_cache(self) -> FactsCache | None:
        if not self.use_cache:
            return None
        try:
            return FactsCache(self.root)
        except Exception as error:  # a cache problem never stops indexing
            log.info("facts cache unavailable: %s", error)
            return None

    def _read_file(
        self, path: Path | str, rel: str | None = None
    ) -> tuple[str, bytes] | None:
        """A file's path and bytes; None, and the reason kept, if unreadable."""
        if rel is None:
            rel = self.relative(Path(path))
        try:
            source = read_workspace_file(path, self.root, MAX_FILE_BYTES)
        except OSError as error:
            self.unreadable[rel] = str(error)
            self.files.pop(rel, None)
            log.info("%s: cannot read: %s", rel, error)
            self._invalidate()
            return None
        self.unreadable.pop(rel, None)
        return rel, source

    def _analyse_files(
        self,
        pending: list[tuple[str, bytes]],
        progress: Callable[[int, int], None] | None,
    ) -> None:
        """Parse and extract the facts of files no cache knew."""
        total = len(pending)
        for done, (rel, state) in enumerate(analyse_many(pending), 1):
            self.files[rel] = state
            if done % COLLECT_EVERY == 0:
                _set_aside_garbage_free()
            if progress is not None and (done % INDEX_STEP == 0 or done == total):
                progress(done, total)
        if progress is not None and total == 0:
            progress(0, 0)

    def _workspace_key(self) -> bytes | None:
        """Everything the findings of a whole run depend on, as one digest."""
        if set(self._digests) != set(self.files):
            return None  # a file came from elsewhere than the disk
        parts = [repr(sorted(self._overrides.items()) if self._overrides else None)]
        units = {}
        for rel in sorted(self.files):
            unit = self.unit_of(rel)
            units.setdefault(unit, repr(self.settings_of(unit)))
            parts.append(f"{rel}\0{unit}\0{self._digests[rel].hex()}")
        parts.extend(f"{unit}\0{settings}" for unit, settings in sorted(units.items()))
        parts.append(repr(sorted(self.unreadable.items())))
        return file_digest("", True, "\n".join(parts).encode("utf-8", "replace"))

    def load(self, path: Path) -> None:
        """Read one file again from disk."""
        read = self._read_file(path)
        if read is not None:
            self.set_source(*read)

    def set_source(
        self, rel: str, source: bytes, tree: SyntaxTree | None = None
    ) -> FileState:
        """Replace one file's text (from disk or an editor buffer)."""
        previous = self.files.get(rel)
        if previous is not None and previous.source == source:
            # The same bytes (a file opened as it is on disk): the same facts
            # and findings, and the model and name index still stand.
            return previous
        state = analyse_source(rel, source, tree, loaded_by_import_tree(rel))
        self.files[rel] = state
        self._digests.pop(rel, None)
        if previous is not None and self._same_findings_elsewhere(rel, previous, state):
            self._replace_syntax_findings(rel, state)
        else:
            runs = self._unaffected_runs(rel, previous, state) if previous else {}
            totals = self._word_totals if previous else None
            self._invalidate()
            self._runs = runs
            if totals is not None:
                unit_totals = totals.setdefault(self.unit_of(rel), Counter())
                _count_words(unit_totals, previous, state)
                self._word_totals = totals
        return state

    def _same_findings_elsewhere(
        self, rel: str, previous: FileState, state: FileState
    ) -> bool:
        """Whether an edit can change no rule finding at all.

        Rules are functions of the model, and the model is a function of all
        files' facts. When the edited file's facts are the same but for their
        positions, every rule finds the same things; only findings located
        in the file, with a fix in it or naming it in their message, could
        differ, and there are none of those.
        """
        if self._findings is None or previous.binary or state.binary:
            return False
        referenced = self._referenced
        if referenced is None:
            referenced = self._referenced = _referenced_files(self._findings)
        if any(rel in entry for entry in referenced):
            return False
        try:
            return _without_spans(previous.facts) == _without_spans(state.facts)
        except RecursionError:
            return False

    def _unaffected_runs(
        self, rel: str, previous: FileState, state: FileState
    ) -> dict[str, dict[str, FamilyRun]]:
        """The rule family runs an edit of ``rel`` cannot change.

        Other configurations' runs stand. In the file's own, a family that
        says which kind fields it reads (``KIND_FIELDS_READ``) finds the same
        things when the file's facts are the same apart from positions, other
        kind fields and the counts of words the family did not ask about, and
        none of its findings points into the file or names it: the reasoning
        of ``_same_findings_elsewhere``, for what one family reads.
        """
        from den_lsp.analysis import rule_families

        unit = self.unit_of(rel)
        kept = {other: runs for other, runs in self._runs.items() if other != unit}
        runs = self._runs.get(unit)
        if not runs or previous.binary or state.binary:
            return kept
        reads = {
            _family_name(family): getattr(family, "KIND_FIELDS_READ", None)
            for family in rule_families()
        }
        same: dict[str, FamilyRun] = {}
        try:
            for name, run in runs.items():
                fields = reads.get(name)
                if fields is None or run.words is None:
                    continue
                if any(rel in entry for entry in _referenced_files({"": run.findings})):
                    continue
                before, after = previous.facts, state.facts
                asked = run.words
                if any(before.words.get(w, 0) != after.words.get(w, 0) for w in asked):
                    continue
                if _facts_read(before, fields) != _facts_read(after, fields):
                    continue
                same[name] = run
        except RecursionError:
            return kept
        if same:
            kept[unit] = same
        return kept

    def _replace_syntax_findings(self, rel: str, state: FileState) -> None:
        """Findings of ``rel``, which only has syntax findings, read again."""
        self._models = None  # positions changed; read the model again on demand
        settings = self.settings_of(self.unit_of(rel))
        found = []
        for finding in state.syntax:
            severity = settings.severity_of(finding.code, finding.severity)
            if severity is None:
                continue
            if severity is not finding.severity:
                finding = dataclasses.replace(finding, severity=severity)
            found.append(finding)
        found.sort(key=lambda f: (f.span.start_line, f.span.start_character, f.code))
        findings = dict(self._findings or {})
        findings[rel] = found
        self._findings = findings

    def release_trees(self, keep: Iterable[str] = ()) -> None:
        """Let go of the syntax trees and line indexes of files not in ``keep``.

        A feature that reads every file (the name index) parses them all; a
        tree is many times its file's size, and one is parsed again when it
        is next needed.
        """
        kept = set(keep)
        for rel, state in self.files.items():
            if rel not in kept:
                state._tree = None
                state._index = None

    def remove(self, rel: str) -> None:
        if self.files.pop(rel, None) is not None or self.unreadable.pop(rel, None):
            self._invalidate()

    def _invalidate(self) -> None:
        self._models = None
        self._findings = None
        self._referenced = None
        self._runs = {}
        self._word_totals = None

    # -- analysis ------------------------------------------------------------------

    def unit_of(self, rel: str) -> str:
        """The configuration a file belongs to: its nearest folder with flake.nix.

        A repository can hold several den configurations (templates, a
        monorepo); each nested flake is analysed as a workspace of its own, as
        den would evaluate it, and the files outside any nested flake form
        the root's.
        """
        parent = rel.rpartition("/")[0]
        unit = self._units.get(parent)
        if unit is None:
            unit = self._units[parent] = self._unit_of_folder(parent)
        return unit

    def _unit_of_folder(self, parent: str) -> str:
        parts = parent.split("/") if parent else []
        for depth in range(len(parts), 0, -1):
            folder = "/".join(parts[:depth])
            if folder not in self._flake_dirs:
                self._flake_dirs[folder] = (self.root / folder / "flake.nix").is_file()
            if self._flake_dirs[folder]:
                return folder
        return ""

    def settings_of(self, unit: str) -> Settings:
        """The settings of one configuration.

        A nested flake with its own den-lsp.toml is checked with that file
        (and the editor's settings over it), the same whether den-lsp runs
        from the repository root or from the flake's folder.
        """
        if not unit:
            return self.settings
        if unit not in self._unit_settings:
            settings = self.settings
            if (self.root / unit / CONFIG_FILE).is_file():
                loaded, problems = load_settings(self.root / unit)
                self.settings_problems.extend(problems)
                settings = loaded.merged(self._overrides)
            self._unit_settings[unit] = settings
        return self._unit_settings[unit]

    def models(self) -> dict[str, Model]:
        """The model of every configuration in the workspace, by folder."""
        if self._models is None:
            from den_lsp.model.model import build_model
            from den_lsp.model.profiles import resolve_profile

            units: dict[str, list[FileFacts]] = {}
            for rel, state in self.files.items():
                units.setdefault(self.unit_of(rel), []).append(state.facts)
            if self._word_totals is None:
                self._word_totals = {}
                for unit, facts in units.items():
                    totals = self._word_totals[unit] = Counter()
                    for f in facts:
                        totals.update(f.words)
            models = {}
            for unit, facts in sorted(units.items()):
                uses: set[str] = set()
                for f in facts:
                    uses |= f.uses
                settings = self.settings_of(unit)
                profile = resolve_profile(settings.profile, uses)
                models[unit] = build_model(
                    facts,
                    profile,
                    settings.known,
                    self._word_totals.get(unit),
                    self._built.get(unit),
                )
            self._models = self._built = models
        return self._models

    def findings(self) -> dict[str, list[Finding]]:
        """Findings by file, with the user's severities applied."""
        if self._findings is None:
            from den_lsp.analysis import combine, run_families
            from den_lsp.features.suppression import apply as apply_suppressions

            by_file: dict[str, list[Finding]] = {path: [] for path in self.files}
            found: list[Finding] = []
            runs: dict[str, dict[str, FamilyRun]] = {}
            for unit, model in self.models().items():
                runs[unit] = run_families(model, self._runs.get(unit))
                found.extend(combine(runs[unit]))
            self._runs = runs
            for state in self.files.values():
                found.extend(state.syntax)
            # Suppression comments apply before severities, so that a comment
            # for a rule the settings switch off still counts as used.
            # Only files with a suppression comment are handed over: asking a
            # file for its tree or line index would parse it again.
            commented = {
                rel: state for rel, state in self.files.items() if state.commented
            }
            found = apply_suppressions(found, commented)
            for finding in found:
                unit_settings = self.settings_of(self.unit_of(finding.span.path))
                severity = unit_settings.severity_of(finding.code, finding.severity)
                if severity is None:
                    continue
                if severity is not finding.severity:
                    finding = Finding(
                        finding.code,
                        severity,
                        finding.span,
                        finding.message,
                        finding.fixes,
                    )
                by_file.setdefault(finding.span.path, []).append(finding)
            for items in by_file.values():
                items.sort(
                    key=lambda f: (f.span.start_line, f.span.start_character, f.code)
                )
            self._findings = by_file
        return self._findings


def _without_spans(value: Any) -> Any:
    """A comparable copy of facts with every position left out."""
    if isinstance(value, Span):
        return None
    if isinstance(value, (tuple, list)):
        return tuple(_without_spans(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _without_spans(v)) for k, v in value.items())
    if isinstance(value, (set, frozenset)):
        return frozenset(_without_spans(v) for v in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value),) + tuple(
            _without_spans(getattr(value, f.name)) for f in dataclasses.fields(value)
        )
    return value


def _family_name(family: Any) -> str:
    return family.__name__.rsplit(".", 1)[-1]


def _count_words(totals: Counter, previous: FileState, state: FileState) -> None:
    """Replace one file's word counts in its configuration's totals."""
    for word, count in previous.facts.words.items():
        left = totals[word] - count
        if left:
            totals[word] = left
        else:
            del totals[word]
    totals.update(state.facts.words)


def _facts_read(facts: FileFacts, kind_fields: frozenset[str]) -> Any:
    """A file's facts as a family that reads only ``kind_fields`` of kinds sees
    them, without positions and word counts (compared word by word apart).

    The kinds the file gives fields to count too: a kind written only with
    fields the family does not read is still a kind it may see (a declared
    one, a context key).
    """
    read = dataclasses.replace(
        facts,
        kind_fields=tuple(f for f in facts.kind_fields if f.name in kind_fields),
        words={},
    )
    return _without_spans(read), frozenset(f.kind for f in facts.kind_fields)


def _referenced_files(findings: dict[str, Iterable[Finding]]) -> set[str]:
    """Every path and message some rule finding holds, to test an edit against.

    A path counts when a finding, or one of its fixes, has a range in it; a
    message counts whole, since it may name a file with a line number.
    """
    referenced: set[str] = set()

    def visit(value: Any) -> None:
        if isinstance(value, Span):
            referenced.add(value.path)
        elif isinstance(value, str):
            referenced.add(value)
        elif isinstance(value, (tuple, list)):
            for item in value:
                visit(item)
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            for f in dataclasses.fields(value):
                visit(getattr(value, f.name))

    for items in findings.values():
        for finding in items:
            if finding.code == "den/syntax":
                continue
            visit(finding)
    return referenced
