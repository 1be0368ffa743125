"""Where a run is kept: the ``Store`` protocol, its in-memory and SQLite implementations, and a reader.

* ``Store`` -- the protocol the engine writes a run through (``MemoryStore`` keeps it in memory).
* ``SQLiteStore`` -- the ``Store`` that makes a run survive a crash and resume
  exactly (``EngineConfig(run_dir=...)`` uses it).
* ``open_store(url_or_path)`` -- a store from a string (``Config(store="...")``).
* ``default_run_dir()`` -- a fresh directory for a run that was given none.
* ``RunReader`` -- a read-only view of a run, safe while the run is writing;
  ``honing.ui`` (``honing show``, ``report`` and ``dashboard``) is built on it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .._lazy import lazy_exports
from ._base import (
    EvaluatorChangedError,
    ReadBackStore,
    RunHeader,
    Store,
    StoreDamagedError,
    StoredRun,
    StoreError,
    StoreFullError,
    StoreInUseError,
    StoreMismatchError,
    StoreReadOnlyError,
)
from ._identity import evaluator_identity
from ._memory import MemoryStore
from ._schema import DB_FILENAME, SCHEMA_VERSION
from ._sqlite import SQLiteStore

if TYPE_CHECKING:
    from ._reader import RunReader


# The reader (and the viewers' views it feeds) is for show/report/dashboard: a run never needs it.
__getattr__, __dir__ = lazy_exports(__name__, {"RunReader": "._reader"}, globals())


__all__ = [
    "DB_FILENAME",
    "SCHEMA_VERSION",
    "EvaluatorChangedError",
    "MemoryStore",
    "ReadBackStore",
    "RunHeader",
    "RunReader",
    "SQLiteStore",
    "Store",
    "StoreDamagedError",
    "StoreError",
    "StoreFullError",
    "StoreInUseError",
    "StoreMismatchError",
    "StoreReadOnlyError",
    "StoredRun",
    "default_run_dir",
    "evaluator_identity",
    "open_store",
    "resolve_db_path",
]

DEFAULT_RUNS_DIR = "honing-runs"
_DB_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def default_run_dir(base: str | os.PathLike[str] | None = None) -> str:
    """A new, not yet existing directory ``<base>/honing-runs/<YYYYmmdd-HHMMSS>-<6 hex>``.

    Time first so runs sort chronologically; the random suffix keeps two runs
    started in the same second apart. ``base`` defaults to the working directory.
    """
    root = Path(base if base is not None else os.getcwd()) / DEFAULT_RUNS_DIR
    while True:
        candidate = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(3).hex()}"
        if not candidate.exists():
            return str(candidate)


def resolve_db_path(path: str | os.PathLike[str]) -> Path:
    """``run_dir`` or ``.../honing.db`` -> the database file."""
    p = Path(path)
    if p.is_dir() or (not p.exists() and p.suffix.lower() not in _DB_SUFFIXES):
        return p / DB_FILENAME
    return p


def open_store(url_or_path: str | os.PathLike[str]) -> Store:
    """A store from a string: a run directory, a database file, ``sqlite:///path`` or ``memory``."""
    text = os.fspath(url_or_path)
    if text in ("memory", "memory://", ":memory:"):
        return MemoryStore()
    if text.startswith("sqlite://"):
        text = text[len("sqlite://"):]
        if text.startswith("/") and not text.startswith("//"):
            text = text[1:] or "."  # sqlite:///relative/path (SQLAlchemy style); sqlite:////abs/path
        elif text.startswith("//"):
            text = text[1:]
    elif "://" in text:
        raise StoreError(f"unsupported store URL {url_or_path!r}: use a run directory, a .db file path, "
                         "'sqlite:///path' or 'memory'")
    p = Path(text)
    if p.is_dir() or (not p.exists() and p.suffix.lower() not in _DB_SUFFIXES):
        return SQLiteStore.for_run_dir(p)
    p.parent.mkdir(parents=True, exist_ok=True)
    return SQLiteStore(p)
