"""The database layout, its version, and opening a file with errors that say what to do.

One SQLite file holds one run. Every table has an autoincrement ``seq`` so
records read back in the order they were written and a reader can fetch just
what is new since its last look (the log is append-only). The schema version
lives in ``honing_meta``; a file without that table is not ours, and a file
with a newer version was written by a newer honing that may store things this
one would misread, so both are refused rather than guessed at. An older
version is brought up to date by ``migrate`` when a writer opens it (readers
read every version without changing the file).

Versions: 1 -- the first layout; 2 -- ``sessions.heartbeat_at`` (liveness); 3 -- prompts compressed
against a stored dictionary (the ``zjson`` value tag, ``zdict`` blobs; no table changes); 4 -- the
``admissions`` table (validation races; older runs admitted every child that won its minibatch,
and the migration writes that down as admission rows).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from ._base import StoreDamagedError, StoreError
from ._failures import (
    NEW_RUN_DIR,
    damaged_error,
    read_only_location,
    sqlite_code,
    translate,
)

SCHEMA_VERSION = 4
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
    data TEXT NOT NULL,
    heartbeat_at REAL
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
ADMISSIONS_TABLE = """CREATE TABLE IF NOT EXISTS admissions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    candidate_id INTEGER NOT NULL,
    proposal_id INTEGER,
    admitted INTEGER NOT NULL,
    reason TEXT NOT NULL,
    val_evaluated INTEGER NOT NULL,
    created_at REAL NOT NULL
)"""
SCHEMA += ADMISSIONS_TABLE + ";\n"

logger = logging.getLogger("honing.store")

# version -> the statements that bring a store of that version to the next one (applied in order, in one
# transaction, by a writer; readers understand every version without changing the file)
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: ("ALTER TABLE sessions ADD COLUMN heartbeat_at REAL",),
    2: (),  # new value encodings only: older readers must refuse the file, nothing to convert
    3: (ADMISSIONS_TABLE,
        "INSERT INTO admissions (candidate_id, proposal_id, admitted, reason, val_evaluated, created_at) "
        "SELECT child_id, id, 1, 'admitted when it won its minibatch (stored before validation races)', 0, "
        "created_at FROM proposals WHERE accepted=1 AND child_id IS NOT NULL ORDER BY seq"),
}
_MAGIC = b"SQLite format 3\x00"


def connect(path: Path, *, readonly: bool = False, create_unsynced: bool = False) -> sqlite3.Connection:
    """Open ``path`` and check that it is a honing run store this version can use.

    A writer (``readonly=False``) gets a store in WAL mode, created when the
    file is missing or empty. ``create_unsynced``: create it without fsyncs
    (8 of them, 25-30 ms, most of a small run's store cost). For a writer that
    runs with ``synchronous=NORMAL`` this gives nothing up: there the WAL is
    synced only at checkpoints, and the first checkpoint syncs the file created
    here too, so until then a power cut loses the new run either way (a killed
    process loses nothing: the writes are in the OS's cache). A reader never changes the file; on a read-only
    filesystem it falls back to SQLite's ``immutable`` mode, the only way to
    open a WAL database there without its ``-shm`` file.
    """
    if readonly:
        if not path.exists():
            raise StoreError(f"no run store at {path}: expected the {DB_FILENAME} that a run with run_dir=... writes")
        if path.stat().st_size == 0:
            raise StoreDamagedError(f"the run store {path} is empty (0 bytes): its run was cut off before anything "
                                    "was stored, or the file was truncated; there is nothing to show")
    _check_header_bytes(path)
    conn = _open(path, readonly)
    try:
        _prepare(conn, path, readonly, create_unsynced)
    except BaseException:
        conn.close()
        raise
    return conn


def _open(path: Path, readonly: bool) -> sqlite3.Connection:
    options: dict[str, Any] = {"check_same_thread": False, "timeout": 30.0, "isolation_level": None}
    try:
        conn: sqlite3.Connection
        if not readonly:
            conn = sqlite3.connect(str(path), **options)
            return conn
        uri = path.resolve().as_uri()
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, **options)
        try:
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return conn
        except sqlite3.Error as exc:
            conn.close()
            if sqlite_code(exc) not in (14, 8) or not read_only_location(path):  # CANTOPEN, READONLY
                raise
        wal = Path(f"{path}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            logger.warning("%s is on a read-only filesystem and its write-ahead log cannot be read there; the "
                           "last %d KiB of records (written after its last checkpoint) are not shown",
                           path, wal.stat().st_size // 1024)
        conn = sqlite3.connect(f"{uri}?immutable=1", uri=True, **options)
        return conn
    except sqlite3.Error as exc:
        raise translate(exc, path, "opening it") from exc


def _check_header_bytes(path: Path) -> None:
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        with open(path, "rb") as fh:
            magic = fh.read(16)
    except OSError as exc:
        raise StoreError(f"cannot read the run store {path}: {exc}") from exc
    if magic != _MAGIC:
        raise StoreError(f"{path} is not a SQLite database, so it is not a honing run store "
                         f"(corrupted, or another program's file); {NEW_RUN_DIR}")


def _prepare(conn: sqlite3.Connection, path: Path, readonly: bool, create_unsynced: bool = False) -> None:
    try:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if tables and "honing_meta" not in tables:
            shown = ", ".join(sorted(tables)[:6])
            raise StoreError(f"{path} is a SQLite database but not a honing run store (it has tables {shown}); "
                             f"{NEW_RUN_DIR}")
        if not tables and readonly:
            raise StoreDamagedError(f"the run store {path} has no tables: its run was cut off before anything "
                                    "was stored; there is nothing to show")
        if tables:
            schema_version(conn, path)
        if not readonly:
            if not tables and create_unsynced:
                conn.execute("PRAGMA synchronous=OFF")  # the caller sets its own level once the store exists
            conn.execute("PRAGMA journal_mode=WAL")
            if not tables:
                conn.executescript("BEGIN;" + SCHEMA + "COMMIT;")
                conn.execute("INSERT OR IGNORE INTO honing_meta (key, value) VALUES ('schema_version', ?)",
                             (str(SCHEMA_VERSION),))
        conn.execute("PRAGMA foreign_keys=OFF")
    except sqlite3.DatabaseError as exc:
        if sqlite_code(exc) in (11, 26):  # CORRUPT, NOTADB
            raise damaged_error(path, str(exc)) from exc
        raise translate(exc, path, "opening it") from exc


def schema_version(conn: sqlite3.Connection, path: Path) -> int:
    row = conn.execute("SELECT value FROM honing_meta WHERE key='schema_version'").fetchone()
    if row is None:
        raise StoreError(f"{path} has a honing_meta table without a schema version; it was not written by "
                         f"honing or is damaged; {NEW_RUN_DIR}")
    try:
        version = int(row[0])
    except ValueError:
        raise StoreError(f"{path} has an unreadable schema version {row[0]!r}; {NEW_RUN_DIR}") from None
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path} was written by a newer honing (store schema {version}; this honing reads up to "
                         f"{SCHEMA_VERSION}); upgrade honing (pip install -U honing) to resume or view this run")
    return version


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring an older store up to ``SCHEMA_VERSION``; the caller holds a write transaction."""
    version = schema_version(conn, path)
    if version == SCHEMA_VERSION:
        return
    for step in range(version, SCHEMA_VERSION):
        for statement in MIGRATIONS[step]:
            conn.execute(statement)
    for statement in SCHEMA.split(";"):  # tables and indexes that later versions added
        if statement.strip():
            conn.execute(statement)
    conn.execute("UPDATE honing_meta SET value=? WHERE key='schema_version'", (str(SCHEMA_VERSION),))
    logger.info("%s: store schema %d upgraded to %d", path, version, SCHEMA_VERSION)


def has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    return any(row[1] == column for row in conn.execute(f"PRAGMA table_info({table})"))


def quick_check(conn: sqlite3.Connection, path: Path) -> None:
    """Raise ``StoreDamagedError`` unless SQLite finds the file's structure intact (reads every page once)."""
    try:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as exc:
        raise damaged_error(path, str(exc)) from exc
    if problems != ["ok"]:
        raise damaged_error(path, "; ".join(problems))
