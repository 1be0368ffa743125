"""The database layout, its version, and opening a file with errors that say what to do.

One SQLite file holds one run. Every table has an autoincrement ``seq`` so
records read back in the order they were written and a reader can fetch just
what is new since its last look (the log is append-only). The schema version
lives in ``honing_meta``; a file without that table is not ours, and a file
with a newer version was written by a newer honing that may store things this
one would misread, so both are refused rather than guessed at.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ._base import StoreError

SCHEMA_VERSION = 1
DB_FILENAME = "honing.db"

SCHEMA = """
CREATE TABLE IF NOT EXISTS honing_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    opened_at REAL NOT NULL,
    closed_at REAL,
    pid INTEGER,
    host TEXT,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS candidates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id INTEGER NOT NULL,
    components TEXT NOT NULL,
    parents TEXT NOT NULL,
    origin TEXT NOT NULL,
    proposal_id INTEGER,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS candidates_id ON candidates (id);
CREATE TABLE IF NOT EXISTS started (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    candidate_id INTEGER NOT NULL,
    example_key TEXT NOT NULL,
    session INTEGER,
    started_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS evaluations (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    candidate_id INTEGER NOT NULL,
    example_key TEXT NOT NULL,
    split TEXT NOT NULL,
    score REAL,
    objective_scores TEXT NOT NULL,
    side_info TEXT NOT NULL,
    output TEXT NOT NULL,
    duration_s REAL NOT NULL,
    error TEXT,
    cached INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS evaluations_pair ON evaluations (candidate_id, example_key);
CREATE TABLE IF NOT EXISTS proposals (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    parent_ids TEXT NOT NULL,
    components TEXT NOT NULL,
    prompt TEXT NOT NULL,
    reply TEXT,
    child_id INTEGER,
    accepted INTEGER NOT NULL,
    reason TEXT NOT NULL,
    parent_score REAL,
    child_score REAL,
    minibatch_keys TEXT NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    cost_usd REAL,
    lm_duration_s REAL NOT NULL,
    model TEXT,
    error TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS blobs (
    hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    compressed INTEGER NOT NULL,
    size INTEGER NOT NULL,
    data BLOB NOT NULL
);
"""

_WHAT_TO_DO = "point run_dir at a new directory (or move this file away) to start a fresh run"


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open ``path`` and check that it is a honing run store this version can use.

    A missing or empty file becomes a new store (unless ``readonly``).
    """
    if readonly and not path.exists():
        raise StoreError(f"no run store at {path}: expected the {DB_FILENAME} that a run with run_dir=... writes")
    _check_header_bytes(path)
    try:
        if readonly:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False,
                                   timeout=30.0, isolation_level=None)
        else:
            conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30.0, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the run store {path}: {exc}") from exc
    try:
        _prepare(conn, path, readonly)
    except BaseException:
        conn.close()
        raise
    return conn


def _check_header_bytes(path: Path) -> None:
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb") as fh:
        magic = fh.read(16)
    if magic != b"SQLite format 3\x00":
        raise StoreError(f"{path} is not a SQLite database, so it is not a honing run store "
                         f"(corrupted, or another program's file); {_WHAT_TO_DO}")


def _prepare(conn: sqlite3.Connection, path: Path, readonly: bool) -> None:
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "honing_meta" not in tables:
            shown = ", ".join(sorted(tables)[:6])
            raise StoreError(f"{path} is a SQLite database but not a honing run store (it has tables {shown}); "
                             f"{_WHAT_TO_DO}")
        if tables:
            _check_version(conn, path)
        if not readonly:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            if not tables:
                conn.executescript("BEGIN;" + SCHEMA + "COMMIT;")
                conn.execute("INSERT OR IGNORE INTO honing_meta (key, value) VALUES ('schema_version', ?)",
                             (str(SCHEMA_VERSION),))
        conn.execute("PRAGMA foreign_keys=OFF")
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"the run store {path} is damaged ({exc}); {_WHAT_TO_DO}, or try to salvage it with "
                         f"`sqlite3 {path} .recover`") from exc


def _check_version(conn: sqlite3.Connection, path: Path) -> None:
    row = conn.execute("SELECT value FROM honing_meta WHERE key='schema_version'").fetchone()
    if row is None:
        raise StoreError(f"{path} has a honing_meta table without a schema version; it was not written by "
                         f"honing or is damaged; {_WHAT_TO_DO}")
    try:
        version = int(row[0])
    except ValueError:
        raise StoreError(f"{path} has an unreadable schema version {row[0]!r}; {_WHAT_TO_DO}") from None
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path} was written by a newer honing (store schema {version}; this honing reads up to "
                         f"{SCHEMA_VERSION}); upgrade honing (pip install -U honing) to resume or view this run")
