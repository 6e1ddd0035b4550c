"""Logging for the language server: stderr, and the client's log window.

stdout is the protocol channel, so nothing here ever writes to it. Records of
den-lsp's own loggers reach the client as ``window/logMessage`` once the
session is initialized; records from before that are kept and sent then.
Records may come from the analysis thread, so sending is always handed to the
event loop that owns the connection.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import threading
from collections import deque
from collections.abc import Callable

from lsprotocol import types
from pygls.exceptions import JsonRpcException

REQUEST_FAILED = types.LSPErrorCodes.RequestFailed

PACKAGE_LOGGER = "den_lsp"
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_MESSAGE_TYPE = (
    (logging.ERROR, types.MessageType.Error),
    (logging.WARNING, types.MessageType.Warning),
    (logging.INFO, types.MessageType.Info),
)

Send = Callable[[types.LogMessageParams], None]


def message_type(level: int) -> types.MessageType:
    for threshold, kind in _MESSAGE_TYPE:
        if level >= threshold:
            return kind
    return types.MessageType.Log


class ClientLogHandler(logging.Handler):
    """Forwards records to the client once ``connect`` has been called."""

    def __init__(self, level: int = logging.INFO, backlog: int = 200):
        super().__init__(level)
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        self._send: Send | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._early: deque[types.LogMessageParams] = deque(maxlen=backlog)
        # Sending a message can itself log (pygls logs at debug level); the
        # guard keeps that from looping back into the client.
        self._busy = threading.local()

    def connect(self, send: Send, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._send = send
        while self._early:
            self._deliver(self._early.popleft())

    def emit(self, record: logging.LogRecord) -> None:
        if getattr(self._busy, "active", False):
            return
        try:
            params = types.LogMessageParams(
                type=message_type(record.levelno), message=self.format(record)
            )
        except Exception:
            self.handleError(record)
            return
        if self._send is None:
            self._early.append(params)
            return
        self._hand_over(params)

    def _hand_over(self, params: types.LogMessageParams) -> None:
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop:
            self._deliver(params)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(self._deliver, params)

    def _deliver(self, params: types.LogMessageParams) -> None:
        if self._send is None:
            return
        self._busy.active = True
        try:
            self._send(params)
        except Exception:
            # The connection may already be gone; stderr still has the record.
            pass
        finally:
            self._busy.active = False


class RefusalFilter(logging.Filter):
    """Keeps a request den-lsp declines on purpose out of the error log.

    A rename den-lsp cannot make safely is answered with a ``RequestFailed``
    error that tells the user why; pygls logs every such answer as an
    exception with its traceback. It is one INFO line here.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        code = getattr(error, "code", None)
        if isinstance(error, JsonRpcException) and code == REQUEST_FAILED:
            record.msg, record.args = "request declined: %s", (error.message,)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
            return logging.getLogger("pygls").isEnabledFor(logging.INFO)
        return True


def setup_logging(level: int | str = logging.INFO) -> ClientLogHandler:
    """Log at ``level`` on stderr, and den-lsp's own records to the client.

    The client's log window gets INFO and above even when stderr is quieter
    (the CLI defaults stderr to warnings), and DEBUG when that is asked for.
    pygls logs every message it handles at INFO, which would drown the log;
    below WARNING its records appear only at DEBUG, and only on stderr.
    """
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
        if not isinstance(level, int):
            level = logging.INFO
    client_level = min(level, logging.INFO)

    root = logging.getLogger()
    root.setLevel(level)
    streams = [h for h in root.handlers if isinstance(h, logging.StreamHandler)]
    for handler in streams:
        if getattr(handler, "stream", None) is sys.stdout:
            root.removeHandler(handler)
    # The CLI may have set up stderr already; one handler there is enough.
    stderr = [h for h in streams if getattr(h, "stream", None) is sys.stderr]
    if not stderr:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
        stderr = [handler]
    for handler in stderr:
        handler.setLevel(level)

    logging.getLogger("pygls").setLevel(
        logging.DEBUG if level <= logging.DEBUG else logging.WARNING
    )
    rpc = logging.getLogger("pygls.protocol.json_rpc")
    if not any(isinstance(f, RefusalFilter) for f in rpc.filters):
        rpc.addFilter(RefusalFilter())

    client = ClientLogHandler(level=client_level)
    package = logging.getLogger(PACKAGE_LOGGER)
    package.setLevel(client_level)
    package.addHandler(client)
    return client
