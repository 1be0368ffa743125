"""Per-evaluation capture of ``log()`` calls and, optionally, stdout/stderr.

Each evaluation runs with its own ``LogContext`` held in a context variable,
so concurrent evaluations on worker threads never mix their lines. A thread
that an evaluator starts itself does not inherit context variables; hand it
the context explicitly::

    ctx = hn.get_log_context()
    threading.Thread(target=lambda: (hn.set_log_context(ctx), hn.log("hi"))).start()

or run the thread's target inside a copy of the current context:
``threading.Thread(target=contextvars.copy_context().run, args=(work,))``.
"""

from __future__ import annotations

import contextvars
import io
import sys
import threading
import warnings
from typing import Any, TextIO


class LogContext:
    """A thread-safe buffer collecting one evaluation's diagnostics."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._log = io.StringIO()
        self._stdout = io.StringIO()
        self._stderr = io.StringIO()

    def write(self, text: str) -> None:
        with self._lock:
            self._log.write(text)

    def write_stream(self, name: str, text: str) -> None:
        with self._lock:
            (self._stdout if name == "stdout" else self._stderr).write(text)

    def collected(self) -> dict[str, str]:
        """What was captured, by side-info key (empty streams left out)."""
        with self._lock:
            found = {"log": self._log.getvalue(), "stdout": self._stdout.getvalue(), "stderr": self._stderr.getvalue()}
        return {key: text for key, text in found.items() if text}


_current: contextvars.ContextVar[LogContext | None] = contextvars.ContextVar("honing_log_context", default=None)
_next: contextvars.ContextVar[LogContext | None] = contextvars.ContextVar("honing_next_log_context", default=None)
_capture_streams: contextvars.ContextVar[bool] = contextvars.ContextVar("honing_capture_streams", default=False)


def log(*args: object, sep: str = " ", end: str = "\n") -> None:
    """Like ``print``, but the text becomes side information of the current evaluation."""
    ctx = _current.get()
    if ctx is None:
        warnings.warn(
            "honing.log() was called outside an evaluation, so its text is dropped. Call it inside the "
            "evaluator, or pass the evaluation's context to your thread with get_log_context()/set_log_context().",
            stacklevel=2,
        )
        return
    ctx.write(sep.join(str(a) for a in args) + end)


def get_log_context() -> LogContext:
    """The current evaluation's log context, to hand to a thread the evaluator starts."""
    ctx = _current.get()
    if ctx is None:
        raise RuntimeError("get_log_context() must be called inside an evaluator run by optimize_anything()")
    return ctx


def set_log_context(ctx: LogContext | None) -> None:
    """Route this thread's ``log()`` calls (and captured output) into ``ctx``."""
    _current.set(ctx)


class _StreamRouter(io.TextIOBase):
    """Stands in for sys.stdout/sys.stderr; sends text to the capturing evaluation, if any."""

    def __init__(self, name: str, original: TextIO) -> None:
        self.name = name
        self.original = original

    def write(self, text: str) -> int:
        ctx = _current.get()
        if ctx is not None and _capture_streams.get():
            ctx.write_stream(self.name, text)
        else:
            self.original.write(text)
        return len(text)

    def flush(self) -> None:
        self.original.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.original, "encoding", "utf-8")


class StdioCapture:
    """Installs the stream routers while at least one run captures stdio."""

    _lock = threading.Lock()
    _users = 0
    _saved: tuple[TextIO, TextIO] | None = None

    @classmethod
    def acquire(cls) -> None:
        with cls._lock:
            if cls._users == 0:
                cls._saved = (sys.stdout, sys.stderr)
                sys.stdout = _StreamRouter("stdout", sys.stdout)
                sys.stderr = _StreamRouter("stderr", sys.stderr)
            cls._users += 1

    @classmethod
    def original(cls, name: str) -> TextIO:
        """The process's own stdout or stderr, even while evaluations capture them.

        Progress bars and honing's log lines go here: they belong to the terminal,
        not to whichever evaluation happens to be running.
        """
        with cls._lock:
            saved = cls._saved
        if saved is not None:
            return saved[0] if name == "stdout" else saved[1]
        return sys.stdout if name == "stdout" else sys.stderr

    @classmethod
    def release(cls) -> None:
        with cls._lock:
            cls._users -= 1
            if cls._users == 0 and cls._saved is not None:
                sys.stdout, sys.stderr = cls._saved
                cls._saved = None


class use_context:
    """Context manager: the next ``capture`` in this thread collects into ``ctx``.

    The evaluation pool hands each evaluation a context it can still read if
    the evaluation has to be abandoned (its partial logs are then recorded).
    """

    def __init__(self, ctx: LogContext) -> None:
        self._ctx = ctx
        self._token: contextvars.Token[LogContext | None] | None = None

    def __enter__(self) -> LogContext:
        self._token = _next.set(self._ctx)
        return self._ctx

    def __exit__(self, *exc: object) -> None:
        assert self._token is not None
        _next.reset(self._token)


class capture:
    """Context manager: run one evaluation with a fresh LogContext (and stream capture)."""

    def __init__(self, streams: bool = False) -> None:
        self.context = _next.get() or LogContext()
        self._streams = streams
        self._tokens: tuple[Any, ...] | None = None

    def __enter__(self) -> LogContext:
        self._tokens = (_current.set(self.context), _capture_streams.set(self._streams))
        return self.context

    def __exit__(self, *exc: object) -> None:
        assert self._tokens is not None
        _current.reset(self._tokens[0])
        _capture_streams.reset(self._tokens[1])
