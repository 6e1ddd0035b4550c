"""A den workspace on disk and in the editor: files, facts, model, findings.

The CLI and the language server both work through a ``Project``. It reads
every ``.nix`` file under the root once, keeps each file's parse and facts,
and on an edit re-reads only that file; the model is then rebuilt from the
cached facts, which costs no parsing.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import pathspec

from den_lsp.analysis import analyze
from den_lsp.analysis.codes import CODES
from den_lsp.analysis.findings import Finding
from den_lsp.facts.extract import extract
from den_lsp.facts.types import FileFacts
from den_lsp.features.settings import Settings, load_settings
from den_lsp.model.model import Model, build_model
from den_lsp.model.profiles import resolve_profile
from den_lsp.syntax.errors import syntax_problems
from den_lsp.syntax.parse import SyntaxTree, parse_nix
from den_lsp.syntax.positions import LineIndex

log = logging.getLogger(__name__)

SKIPPED_DIRS = frozenset({".git", ".direnv", "node_modules"})
MAX_FILE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class FileState:
    path: str  # POSIX path relative to the project root
    source: bytes
    tree: SyntaxTree | None
    index: LineIndex
    facts: FileFacts
    syntax: tuple[Finding, ...]


def _skipped_dir(name: str) -> bool:
    return name in SKIPPED_DIRS or name.startswith("result")


def _gitignore(root: Path, directory: Path) -> list[str]:
    """Patterns of ``directory/.gitignore``, rewritten relative to ``root``."""
    path = directory / ".gitignore"
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
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
    files: list[Path] = []
    patterns: list[str] = list(exclude)
    for directory, dirnames, filenames in os.walk(root):
        current = Path(directory)
        patterns.extend(_gitignore(root, current))
        spec = pathspec.GitIgnoreSpec.from_lines(patterns)
        rel_dir = current.relative_to(root).as_posix()
        kept = []
        for name in sorted(dirnames):
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if _skipped_dir(name) or spec.match_file(rel + "/"):
                continue
            if (current / name).is_symlink():
                continue
            kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            if not name.endswith(".nix"):
                continue
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            if name.startswith("result") or spec.match_file(rel):
                continue
            files.append(current / name)
    return sorted(files)


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
    spec = pathspec.GitIgnoreSpec.from_lines(patterns)
    prefixes = ["/".join(parts[: i + 1]) + "/" for i in range(len(parts) - 1)]
    return any(spec.match_file(p) for p in prefixes) or spec.match_file(rel)


def analyse_source(
    path: str, source: bytes, previous: SyntaxTree | None = None
) -> FileState:
    """Parse one file and extract its facts. Never raises on bad input."""
    index = LineIndex(source)
    if b"\0" in source[:8192]:
        log.warning("%s: binary file, not analysed", path)
        return FileState(path, source, None, index, FileFacts(path), ())
    tree = parse_nix(source, previous)
    syntax = tuple(_syntax_findings(path, tree, index))
    try:
        facts = extract(path, tree, index)
    except Exception:  # a bug in the extractor must not take the server down
        log.exception("%s: fact extraction failed; the file is skipped", path)
        facts = FileFacts(path)
    return FileState(path, source, tree, index, facts, syntax)


def _syntax_findings(
    path: str, tree: SyntaxTree, index: LineIndex
) -> Iterable[Finding]:
    code = CODES["den/syntax"]
    for problem in syntax_problems(tree):
        span = index.span(path, problem.start_byte, problem.end_byte)
        yield Finding(code.code, code.severity, span, problem.message)


class Project:
    """A workspace root, its settings and the state of its files."""

    def __init__(self, root: Path, overrides: dict | None = None):
        self.root = root.resolve()
        file_settings, self.settings_problems = load_settings(self.root)
        self.settings: Settings = file_settings.merged(overrides)
        self.files: dict[str, FileState] = {}
        self.unreadable: dict[str, str] = {}
        self._model: Model | None = None
        self._findings: dict[str, list[Finding]] | None = None

    # -- files ------------------------------------------------------------------

    def relative(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return path.resolve().as_posix()

    def ignores(self, rel: str) -> bool:
        """Whether indexing leaves ``rel`` out: build results, VCS, ignores."""
        return ignored(self.root, rel, self.settings.exclude)

    def index(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Read every file of the workspace."""
        started = time.perf_counter()
        paths = discover(self.root, self.settings.exclude)
        for number, path in enumerate(paths):
            self.load(path)
            if progress is not None:
                progress(number + 1, len(paths))
        log.info(
            "indexed %s: %d files in %.2f s",
            self.root,
            len(paths),
            time.perf_counter() - started,
        )

    def load(self, path: Path) -> None:
        rel = self.relative(path)
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise OSError(f"file is {size} bytes, more than den-lsp reads")
            source = path.read_bytes()
        except OSError as error:
            self.unreadable[rel] = str(error)
            self.files.pop(rel, None)
            log.warning("%s: cannot read: %s", rel, error)
            self._invalidate()
            return
        self.unreadable.pop(rel, None)
        self.set_source(rel, source)

    def set_source(
        self, rel: str, source: bytes, tree: SyntaxTree | None = None
    ) -> FileState:
        """Replace one file's text (from disk or an editor buffer)."""
        state = analyse_source(rel, source, tree)
        self.files[rel] = state
        self._invalidate()
        return state

    def remove(self, rel: str) -> None:
        if self.files.pop(rel, None) is not None or self.unreadable.pop(rel, None):
            self._invalidate()

    def _invalidate(self) -> None:
        self._model = None
        self._findings = None

    # -- analysis ------------------------------------------------------------------

    @property
    def model(self) -> Model:
        if self._model is None:
            facts = [state.facts for state in self.files.values()]
            uses: set[str] = set()
            for f in facts:
                uses |= f.uses
            profile = resolve_profile(self.settings.profile, uses)
            self._model = build_model(facts, profile)
        return self._model

    def findings(self) -> dict[str, list[Finding]]:
        """Findings by file, with the user's severities applied."""
        if self._findings is None:
            by_file: dict[str, list[Finding]] = {path: [] for path in self.files}
            found = list(analyze(self.model))
            for state in self.files.values():
                found.extend(state.syntax)
            for finding in found:
                severity = self.settings.severity_of(finding.code, finding.severity)
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
