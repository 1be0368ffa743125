"""SQLite and OS failures -> the ``StoreError`` subclass that says what happened and what to do.

The engine catches ``StoreFullError`` to stop a run cleanly, a viewer prints
the message of any ``StoreError`` as one line, so each failure is classified
once, here, by SQLite's result code (its message text on Pythons that do not
expose the code).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import zlib
from collections.abc import Iterator
from pathlib import Path

from ._base import (
    StoreDamagedError,
    StoreError,
    StoreFullError,
    StoreInUseError,
    StoreReadOnlyError,
)

NEW_RUN_DIR = "point run_dir at a new directory (or move this file away) to start a fresh run"

_FULL, _READONLY, _CORRUPT, _NOTADB, _CANTOPEN, _BUSY, _LOCKED = 13, 8, 11, 26, 14, 5, 6
_BY_TEXT = (("disk is full", _FULL), ("readonly", _READONLY), ("read-only", _READONLY), ("malformed", _CORRUPT),
            ("not a database", _NOTADB), ("unable to open", _CANTOPEN), ("locked", _BUSY))


def sqlite_code(exc: sqlite3.Error) -> int | None:
    """The primary SQLite result code of ``exc``."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF
    text = str(exc).lower()
    return next((c for needle, c in _BY_TEXT if needle in text), None)


def read_only_location(path: Path) -> bool:
    """Whether ``path`` (or the directory that would hold it and its -wal/-shm files) cannot be written."""
    directory = path.parent if path.parent != Path("") else Path(".")
    try:
        if os.statvfs(directory).f_flag & os.ST_RDONLY:
            return True
    except OSError:
        pass
    if path.exists() and not os.access(path, os.W_OK):
        return True
    return directory.exists() and not os.access(directory, os.W_OK)


def translate(exc: BaseException, path: Path, doing: str) -> StoreError:
    """The ``StoreError`` for ``exc``, raised while ``doing`` (e.g. "storing an evaluation") on the store ``path``."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, OSError):
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return full_error(path, doing, exc)
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return read_only_error(path, doing, exc)
        return StoreError(f"the run store {path} failed while {doing}: {exc}")
    code = sqlite_code(exc) if isinstance(exc, sqlite3.Error) else None
    if code == _FULL:
        return full_error(path, doing, exc)
    if code == _READONLY or (code == _CANTOPEN and read_only_location(path)):
        return read_only_error(path, doing, exc)
    if code in (_CORRUPT, _NOTADB):
        return damaged_error(path, f"{exc}, while {doing}")
    if code in (_BUSY, _LOCKED):
        return StoreInUseError(f"the run store {path} stayed locked by another process while {doing} ({exc}); "
                               "another honing process is writing it: wait for it to finish, or stop it")
    return StoreError(f"the run store {path} failed while {doing}: {exc}")


def full_error(path: Path, doing: str, exc: BaseException) -> StoreFullError:
    return StoreFullError(f"the disk holding the run store {path} is full ({exc}) while {doing}; that record was "
                          "not stored. Free some space and resume the run with the same run_dir: what was stored "
                          "is kept, and evaluations that were not stored are run again")


def read_only_error(path: Path, doing: str, exc: BaseException) -> StoreReadOnlyError:
    return StoreReadOnlyError(f"the run store {path} is read-only ({exc}) while {doing}: a read-only mount or no "
                              "write permission. `honing show`, `report` and `dashboard` can still read it; to "
                              "resume the run, copy its directory somewhere writable and pass that as run_dir")


def damaged_error(path: Path, what: str, *, written: str = "nothing was written to it") -> StoreDamagedError:
    return StoreDamagedError(f"the run store {path} is damaged ({what}); {written}. Salvage what is readable with "
                             f"`sqlite3 {path} .recover | sqlite3 recovered.db`, or {NEW_RUN_DIR}")


@contextlib.contextmanager
def reading_errors(path: Path, doing: str, *, decoding: bool = False,
                   written: str = "nothing was written to it") -> Iterator[None]:
    """Every failure to read ``path`` becomes a ``StoreError`` that names the file and says what to do.

    With ``decoding``, a stored value that cannot be decoded (a missing blob,
    broken JSON or compression) counts as damage too.
    """
    try:
        yield
    except sqlite3.Error as exc:
        raise translate(exc, path, doing) from exc
    except (KeyError, ValueError, TypeError, zlib.error) as exc:
        if not decoding:
            raise
        raise damaged_error(path, f"a stored record cannot be read back: {exc}", written=written) from exc
