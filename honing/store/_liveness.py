"""Who is writing a run: an OS file lock, released by the kernel when its holder dies, plus a heartbeat.

A PID is no proof of life: after a crash the number may belong to another
process (PID 1 in a container), which once made a dead run impossible to
resume. The writer instead holds an exclusive ``flock`` on ``<db>.lock`` for
its whole session; the kernel drops it the instant the process dies, however
it dies. Where ``flock`` is not available (some network filesystems) the
session's heartbeat -- a timestamp the writer refreshes every
``HEARTBEAT_S`` -- decides: a session silent for ``STALE_AFTER_S`` is dead.
The heartbeat also tells viewers whether an unclosed session is still running.
``takeover=True`` overrides both for the cases they misjudge (a frozen
process that still holds its lock; a clock skewed across hosts).
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: heartbeats only
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("honing.store")

HEARTBEAT_S = 10.0
STALE_AFTER_S = 60.0

LockState = Literal["held", "busy", "unsupported"]


def lock_path(db_path: Path) -> Path:
    return Path(f"{db_path}.lock")


class WriterLock:
    """The exclusive lock of one writing session on one store."""

    def __init__(self, db_path: Path) -> None:
        self.path = lock_path(db_path)
        self._fd: int | None = None

    def acquire(self) -> LockState:
        """Try once, without waiting. ``OSError`` (other than "not supported") propagates."""
        if fcntl is None:
            return "unsupported"
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return "busy"
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                return "unsupported"
            raise
        self._fd = fd
        return "held"

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None


def writer_alive(db_path: Path) -> bool | None:
    """Whether a process holds the writer lock of ``db_path`` now; None when that cannot be told.

    For viewers: it takes a shared lock for an instant and never creates the file.
    """
    path = lock_path(db_path)
    if fcntl is None or not path.exists():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        os.close(fd)  # also drops the shared lock if it was taken
    return False


class Heartbeat:
    """A daemon thread that calls ``beat`` every ``interval`` seconds, and ``chore`` after each beat and on ``wake``.

    ``chore`` is background upkeep that should not wait for the next beat (the
    store's WAL checkpoint, woken when the log grows). A failing call (a full
    disk, say) is logged and retried next time: upkeep must never end a run.
    """

    def __init__(self, beat: Callable[[], None], chore: Callable[[], None], interval: float = HEARTBEAT_S,
                 name: str = "honing-heartbeat") -> None:
        self._beat = beat
        self._chore = chore
        self._interval = interval
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        next_beat = time.monotonic() + self._interval
        while True:
            self._wake.wait(max(0.0, next_beat - time.monotonic()))
            self._wake.clear()
            if self._stop.is_set():
                return
            if time.monotonic() >= next_beat:
                self._call(self._beat)
                next_beat = time.monotonic() + self._interval
            self._call(self._chore)

    def _call(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except Exception as exc:
            logger.warning("run store upkeep (%s) failed: %s: %s; retrying later",
                           getattr(fn, "__name__", "task"), type(exc).__name__, exc)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=30)
