"""Read a file's bytes as Nix source, saying clearly what is wrong with bad input.

Nix sources are UTF-8. A file may still start with a byte order mark, contain
invalid UTF-8, or not be text at all (a binary that happens to end in
``.nix``). None of these may crash the server: the bytes are made parseable
where that is meaningful, and the caller gets a one-line description of the
problem to report or log.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

UTF8_BOM = b"\xef\xbb\xbf"

# Git and most editors make the same guess: a NUL byte near the start means
# the file is not text.
_BINARY_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class DecodedSource:
    """A file's content, ready to parse.

    ``source`` is the file's bytes without a UTF-8 byte order mark, so byte
    offsets and positions agree with what an editor shows (editors hide the
    mark). ``text`` is the same content decoded, invalid UTF-8 replaced by
    U+FFFD. ``problem`` describes what is wrong with the file, or is None.
    A binary file has ``binary`` set and empty ``source``/``text``: it should
    be reported, not parsed.
    """

    source: bytes
    text: str
    problem: str | None = None
    binary: bool = False
    had_bom: bool = False


def looks_binary(data: bytes) -> bool:
    """Whether ``data`` looks like a binary file rather than text."""
    return b"\0" in data[:_BINARY_SNIFF_BYTES]


def strip_bom(data: bytes) -> bytes:
    return data[len(UTF8_BOM) :] if data.startswith(UTF8_BOM) else data


def decode_source(data: bytes) -> DecodedSource:
    """Prepare a file's raw bytes for parsing and describe any problem with them."""
    if looks_binary(data):
        return DecodedSource(
            b"",
            "",
            problem="binary file (contains NUL bytes); not read as Nix",
            binary=True,
        )

    source = strip_bom(data)
    had_bom = len(source) != len(data)
    try:
        return DecodedSource(source, source.decode("utf-8"), had_bom=had_bom)
    except UnicodeDecodeError as error:
        line = source.count(b"\n", 0, error.start) + 1
        problem = (
            f"not valid UTF-8 (byte 0x{source[error.start]:02x} on line {line}); "
            "invalid bytes are read as U+FFFD"
        )
        log.debug("%s", problem)
        return DecodedSource(
            source, source.decode("utf-8", "replace"), problem, had_bom=had_bom
        )


def read_workspace_file(path: Path | str, root: Path, limit: int) -> bytes:
    """The bytes of a file of the workspace at ``root`` (a resolved path).

    Raises ``OSError``, with a message for the user, rather than follow a
    symlink out of the workspace, or read what is not a regular file (a FIFO
    blocks its reader forever, a device such as /dev/zero never ends), or
    read more than ``limit`` bytes.
    """
    real = os.path.realpath(path)
    top = os.fspath(root)
    if real != top and not real.startswith(top.rstrip(os.sep) + os.sep):
        raise OSError(f"a symlink to {real}, outside the workspace; not followed")
    # O_NONBLOCK: opening a FIFO for reading would wait for a writer.
    flags = os.O_RDONLY | os.O_NONBLOCK
    flags |= getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    descriptor = os.open(real, flags)
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise OSError("not a regular file")
        if info.st_size > limit:
            raise OSError(f"file is {info.st_size} bytes, more than den-lsp reads")
        chunks = []
        size = 0
        while chunk := os.read(descriptor, 1 << 20):
            size += len(chunk)
            if size > limit:  # the file grew while it was read
                raise OSError(f"file is over {limit} bytes, more than den-lsp reads")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(descriptor)
