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
from den_lsp.features.settings import CONFIG_FILE, Settings, load_settings
from den_lsp.model.model import Model, build_model
from den_lsp.model.profiles import resolve_profile
from den_lsp.syntax.errors import syntax_problems
from den_lsp.syntax.parse import SyntaxTree, parse_nix
from den_lsp.syntax.positions import LineIndex
from den_lsp.syntax.source import UTF8_BOM

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


def ignore_spec(patterns: Iterable[str]) -> pathspec.PathSpec:
    """A matcher for .gitignore-style patterns, dropping lines git would ignore.

    git silently skips a pattern it cannot use (``[z-a]``, a lone ``!``);
    pathspec raises on them, so each line is tried on its own first.
    """
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
        spec = ignore_spec(patterns)
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


def analyse_source(
    path: str,
    source: bytes,
    previous: SyntaxTree | None = None,
    with_facts: bool = True,
) -> FileState:
    """Parse one file and extract its facts. Never raises on bad input."""
    index = LineIndex(source)
    if b"\0" in source[:8192]:
        log.info("%s: binary file, not analysed", path)
        return FileState(path, source, None, index, FileFacts(path), ())
    tree = parse_nix(source, previous)
    syntax = tuple(_syntax_findings(path, tree, index))
    try:
        facts = extract(path, tree, index) if with_facts else FileFacts(path)
    except Exception:  # a bug in the extractor must not take the server down
        log.exception("%s: fact extraction failed; the file is skipped", path)
        facts = FileFacts(path)
    return FileState(path, source, tree, index, facts, syntax)


def _syntax_findings(
    path: str, tree: SyntaxTree, index: LineIndex
) -> Iterable[Finding]:
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
        self._flake_dirs: dict[str, bool] = {}
        self._findings: dict[str, list[Finding]] | None = None

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
        """Read every file of the workspace."""
        started = time.perf_counter()
        self._flake_dirs.clear()
        self._unit_settings.clear()
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
            log.info("%s: cannot read: %s", rel, error)
            self._invalidate()
            return
        self.unreadable.pop(rel, None)
        self.set_source(rel, source)

    def set_source(
        self, rel: str, source: bytes, tree: SyntaxTree | None = None
    ) -> FileState:
        """Replace one file's text (from disk or an editor buffer)."""
        state = analyse_source(rel, source, tree, loaded_by_import_tree(rel))
        self.files[rel] = state
        self._invalidate()
        return state

    def remove(self, rel: str) -> None:
        if self.files.pop(rel, None) is not None or self.unreadable.pop(rel, None):
            self._invalidate()

    def _invalidate(self) -> None:
        self._models = None
        self._findings = None

    # -- analysis ------------------------------------------------------------------

    def unit_of(self, rel: str) -> str:
        """The configuration a file belongs to: its nearest folder with flake.nix.

        A repository can hold several den configurations (templates, a
        monorepo); each nested flake is analysed as a workspace of its own, as
        den would evaluate it, and the files outside any nested flake form
        the root's.
        """
        parts = rel.split("/")[:-1]
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
            units: dict[str, list[FileFacts]] = {}
            for rel, state in self.files.items():
                units.setdefault(self.unit_of(rel), []).append(state.facts)
            models = {}
            for unit, facts in sorted(units.items()):
                uses: set[str] = set()
                for f in facts:
                    uses |= f.uses
                profile = resolve_profile(self.settings_of(unit).profile, uses)
                models[unit] = build_model(facts, profile)
            self._models = models
        return self._models

    def findings(self) -> dict[str, list[Finding]]:
        """Findings by file, with the user's severities applied."""
        if self._findings is None:
            by_file: dict[str, list[Finding]] = {path: [] for path in self.files}
            found = [f for model in self.models().values() for f in analyze(model)]
            for state in self.files.values():
                found.extend(state.syntax)
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
