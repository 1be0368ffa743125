"""honing's loggers and the default handler that makes them visible.

Every message honing writes goes through ``logging`` under the ``honing``
logger (``honing.engine``, ``honing.progress``, ``honing.llm.server``, ...),
so ``logging.getLogger("honing").setLevel(logging.WARNING)`` silences it and
an application's own logging configuration decides where it goes.

An application that never configured logging would see nothing below WARNING,
not even where its run is stored or how it progresses. So when a run starts
(or the ``honing`` command runs) and neither the root logger nor the
``honing`` logger has been configured, honing attaches one handler of its own
to ``honing`` at INFO, as Optuna does. It writes to the real stderr (also while
``capture_stdio`` redirects it) and above a live progress bar. It stands back
as soon as the application configures the root logger, so no line is shown
twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

ROOT = "honing"

_writers: list[Callable[[str], bool]] = []  # live displays that can print a line above themselves
_writers_lock = threading.Lock()


def add_line_writer(writer: Callable[[str], bool]) -> None:
    """Register a live display; ``writer(line)`` prints above it and returns True, or False to decline."""
    with _writers_lock:
        _writers.append(writer)


def remove_line_writer(writer: Callable[[str], bool]) -> None:
    with _writers_lock:
        if writer in _writers:
            _writers.remove(writer)


def write_line(line: str, stream_name: str = "stderr") -> None:
    """Write one line to the terminal, above any live progress display."""
    with _writers_lock:
        writers = list(_writers)
    for writer in reversed(writers):
        if writer(line):
            return
    from ._log import StdioCapture

    stream = StdioCapture.original(stream_name)
    stream.write(line + "\n")
    stream.flush()


class DefaultHandler(logging.Handler):
    """honing's own handler: used only while the application has not configured logging."""

    def __init__(self, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.setFormatter(_Formatter())

    def emit(self, record: logging.LogRecord) -> None:
        if logging.getLogger().handlers and logging.getLogger(ROOT).propagate:
            _stand_down()
            return  # the application configured logging: the record reaches its handlers instead
        try:
            write_line(self.format(record))
        except Exception:  # logging's contract: a failing handler reports, never raises
            self.handleError(record)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        if record.levelno >= logging.WARNING:
            return f"honing {record.levelname.lower()}: {message}"
        return f"honing: {message}"


def default_handler() -> DefaultHandler | None:
    for handler in logging.getLogger(ROOT).handlers:
        if isinstance(handler, DefaultHandler):
            return handler
    return None


_auto_level: list[int] = []  # the level install_default_handler set, while nobody has changed it


def _stand_down() -> None:
    """The application configured logging after honing's handler came in: its levels rule from now on."""
    honing = logging.getLogger(ROOT)
    if _auto_level and honing.level == _auto_level[0]:
        honing.setLevel(logging.NOTSET)
    _auto_level.clear()


def install_default_handler(level: int = logging.INFO) -> bool:
    """Show honing's INFO messages when nobody configured logging; returns whether it did.

    Does nothing when the root logger has handlers (``logging.basicConfig``,
    pytest, a framework) or when the ``honing`` logger already has a level or
    a handler: then the application's configuration is followed as is.
    """
    honing = logging.getLogger(ROOT)
    if default_handler() is not None:
        if logging.getLogger().handlers:
            _stand_down()
            return False
        return True
    if logging.getLogger().handlers or honing.handlers or honing.level != logging.NOTSET:
        return False
    honing.addHandler(DefaultHandler())
    honing.setLevel(level)
    _auto_level[:] = [level]
    return True


def set_verbosity(level: int) -> None:
    """Set the ``honing`` logger's level and make sure its messages are shown (the CLI's -v / -q)."""
    honing = logging.getLogger(ROOT)
    if default_handler() is None and not logging.getLogger().handlers and not honing.handlers:
        honing.addHandler(DefaultHandler())
    honing.setLevel(level)
    _auto_level.clear()  # a level the user chose stays
