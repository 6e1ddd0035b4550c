"""The on-disk cache of per-file facts, shared by ``den-lsp check`` and the server.

Reading a file's facts means parsing it and walking its module, which is most
of the time a cold check takes. The cache keeps, per file, what that produced
(its facts and its syntax findings), keyed by a digest of the file's path and
bytes, so a run over an unchanged workspace reads no tree at all. It also
keeps the findings of the last complete run over a workspace, keyed by every
file's digest and the settings, so that a run over exactly the same workspace
does not even rebuild the model.

Two pack files per workspace root hold them (the entries, and the last
findings), under the user's cache directory (``$XDG_CACHE_HOME/den-lsp``,
else ``~/.cache/den-lsp``), never in the workspace. Every pack records the fingerprint of the den-lsp code that
wrote it (its version and the digest of its own sources and queries); a pack
from other code, or one that cannot be read, is ignored and later replaced,
without a word beyond a debug log line. Entries are Python pickles, read back
by an unpickler that knows only den-lsp's own data classes: the cache
directory is the user's own and nothing in it comes from the workspace, yet
a pack that was corrupted or planted there must never run code, and a pickle
that names anything else (``os.system``, say) is refused as unreadable.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import importlib
import io
import logging
import os
import pickle
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from den_lsp import __version__

log = logging.getLogger(__name__)

_MAGIC = "den-lsp facts cache 2"
_PACKAGE = Path(__file__).resolve().parents[1]


def cache_root() -> Path:
    """The user's cache directory for den-lsp (XDG base directory rules)."""
    base = os.environ.get("XDG_CACHE_HOME")
    if not base or not os.path.isabs(base):
        base = os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "den-lsp"


@cache
def code_fingerprint() -> str:
    """Which den-lsp wrote an entry: its version and its own code.

    A source checkout says ``0.1.0`` before and after a change to the
    extractor, so the version alone would let stale facts through.
    """
    digest = hashlib.blake2b(__version__.encode(), digest_size=16)
    queries = _PACKAGE / "grammar_queries"
    if not queries.is_dir():
        queries = _PACKAGE.parents[1] / "grammar-queries"
    files = sorted(_PACKAGE.rglob("*.py")) + sorted(queries.glob("*.scm"))
    for path in files:
        try:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"?")
    return digest.hexdigest()


def file_digest(rel: str, with_facts: bool, source: bytes) -> bytes:
    """The key of one file's entry: its path, how it is read, its bytes."""
    digest = hashlib.blake2b(digest_size=20)
    digest.update(rel.encode("utf-8", "surrogateescape"))
    digest.update(b"\0f\0" if with_facts else b"\0s\0")
    digest.update(source)
    return digest.digest()


class FactsCache:
    """The cache of one workspace root: per-file entries and its last findings.

    They live in two files, the findings beside the pack of file entries, so
    that a run over an unchanged workspace reads only the small one: the
    pack is read the first time an entry is asked for.
    """

    def __init__(self, root: Path, directory: Path | None = None):
        directory = directory or cache_root()
        name = hashlib.blake2b(str(root).encode(), digest_size=12).hexdigest()
        self.path = directory / f"{name}.pack"
        self.findings_path = directory / f"{name}.findings"
        self._files: dict[bytes, bytes] | None = None
        self.workspace: tuple[bytes, bytes] | None = None
        self._read_findings()

    @property
    def files(self) -> dict[bytes, bytes]:
        if self._files is None:
            self._files = {}
            pack = _read_pack(self.path)
            if pack is not None and isinstance(pack.get("files"), dict):
                self._files = pack["files"]
        return self._files

    def _read_findings(self) -> None:
        pack = _read_pack(self.findings_path)
        if pack is None:
            return
        workspace = pack.get("workspace")
        if (
            isinstance(workspace, tuple)
            and len(workspace) == 2
            and all(isinstance(part, bytes) for part in workspace)
        ):
            self.workspace = workspace

    def entry(self, digest: bytes) -> bytes | None:
        """The stored entry for a file digest, still to be decoded."""
        return self.files.get(digest)

    def findings(self, key: bytes) -> Any | None:
        """The findings of the last run, if it read exactly this workspace."""
        if self.workspace is None or self.workspace[0] != key:
            return None
        return decode(self.workspace[1])

    def write(
        self, files: dict[bytes, bytes], key: bytes | None, findings: Any | None
    ) -> None:
        """Replace the cache: these file entries, and these findings for ``key``."""
        workspace = (key, encode(findings)) if key is not None else None
        try:
            _write_pack(self.path, {"files": files})
            _write_pack(self.findings_path, {"workspace": workspace})
        except OSError as error:
            log.info("cannot write the facts cache %s: %s", self.path, error)
            return
        self._files = files
        self.workspace = workspace


def _read_pack(path: Path) -> dict | None:
    """A pack written by this code, or None (missing, unreadable, other code)."""
    try:
        with open(path, "rb") as stream:
            pack = _load(stream)
        if not isinstance(pack, dict) or pack.get("magic") != _MAGIC:
            raise ValueError("not a den-lsp facts cache")
    except FileNotFoundError:
        return None
    except Exception as error:  # anything unreadable is only a miss
        log.debug("%s: unreadable facts cache, ignored: %s", path, error)
        return None
    if pack.get("code") != code_fingerprint():
        log.debug("%s: written by other den-lsp code; ignored", path)
        return None
    return pack


def _write_pack(path: Path, content: dict) -> None:
    pack = {"magic": _MAGIC, "code": code_fingerprint(), **content}
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=".pack-", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "wb") as stream:
            pickle.dump(pack, stream, protocol=pickle.HIGHEST_PROTOCOL)
        # Atomic: a reader sees the old pack or the new one.
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


# The modules whose classes entries are made of: facts, spans, findings.
_DATA_MODULES = (
    "den_lsp.facts.types",
    "den_lsp.syntax.span",
    "den_lsp.analysis.findings",
)


@cache
def _data_classes(module_name: str) -> dict[str, Any]:
    """Every class, and singleton, an entry may be made of in one data module.

    Dataclasses and enumerations defined in the module, and module-level
    instances of classes defined there (``UNKNOWN``): values to rebuild, none
    of them able to reach a file, a process or another module. A module is
    imported when a pickle first names it (findings name no facts).
    """
    found = {}
    module = importlib.import_module(module_name)
    for name, value in vars(module).items():
        kind = value if isinstance(value, type) else type(value)
        if kind.__module__ != module_name:
            continue
        if isinstance(value, type) and not (
            dataclasses.is_dataclass(value) or issubclass(value, enum.Enum)
        ):
            continue
        found[name] = value
    return found


class _DataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if module in _DATA_MODULES and name in _data_classes(module):
            return _data_classes(module)[name]
        raise pickle.UnpicklingError(f"{module}.{name} is not den-lsp data")


def _load(stream) -> Any:
    return _DataUnpickler(stream).load()


def encode(value: Any) -> bytes:
    return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)


def decode(blob: bytes) -> Any | None:
    """A stored value, or None when it cannot be read back."""
    try:
        return _load(io.BytesIO(blob))
    except Exception as error:
        log.debug("unreadable facts cache entry, ignored: %s", error)
        return None
