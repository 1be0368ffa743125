"""``SQLiteStore``: the durable run store (one SQLite file per run, stdlib only).

Why SQLite: a run is an append-only log written by a few threads and read,
often at the same time, by a dashboard in another process. SQLite in WAL mode
gives exactly that -- one writer, any number of readers that see consistent
snapshots -- with atomic commits and no server.

Durability: every call commits before it returns. ``start_evaluation`` in
particular is on disk before the evaluator runs, which is what lets a resumed
run count a crashed evaluation as spent instead of running it again. With the
default ``synchronous="NORMAL"`` a commit survives the process being killed at
any instant (the WAL is written before the call returns); pass
``synchronous="FULL"`` to also survive a power cut, at the price of an fsync
per record. What is batched is what can be without weakening that: an
evaluation, the blobs it references and nothing else go in one transaction,
and values are encoded before the lock is taken.

One connection, shared by all threads behind a lock (``check_same_thread=False``):
writes are serialized by SQLite anyway, and a single connection avoids
``database is locked`` retries between the engine's own threads.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .._records import CandidateRecord, EvaluationRecord, ProposalRecord
from ._base import RunHeader, StoredRun, StoreError, StoreMismatchError
from ._codec import Decoder, Encoder, pack_payload
from ._rows import (
    CANDIDATE_COLUMNS,
    EVALUATION_COLUMNS,
    INSERT_CANDIDATE,
    INSERT_EVALUATION,
    INSERT_PROPOSAL,
    PROPOSAL_COLUMNS,
    blob_reader,
    candidate_from_row,
    candidate_params,
    describe_mismatch,
    evaluation_from_row,
    evaluation_params,
    header_to_json,
    proposal_from_row,
    proposal_params,
    read_header,
)
from ._schema import DB_FILENAME, connect


class SQLiteStore:
    """A ``Store`` kept in ``path`` (``<run_dir>/honing.db`` via ``for_run_dir``)."""

    def __init__(self, path: str | os.PathLike[str], *, run_dir: str | os.PathLike[str] | None = None,
                 synchronous: str = "NORMAL") -> None:
        if synchronous.upper() not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        self.path = Path(path)
        self.run_dir = str(Path(run_dir) if run_dir is not None else self.path.parent)
        self._synchronous = synchronous.upper()
        self._lock = threading.Lock()  # the connection
        self._queue_lock = threading.Lock()  # records waiting for a group commit
        self._queue: list[_Pending] = []
        self._known_blobs: set[str] = set()
        self._session: int | None = None
        self._conn: sqlite3.Connection | None = self._connect()  # fail early on a foreign or damaged file

    @classmethod
    def for_run_dir(cls, run_dir: str | os.PathLike[str], **kwargs: Any) -> SQLiteStore:
        """The store of the run kept in ``run_dir`` (created if needed)."""
        directory = Path(run_dir)
        if directory.exists() and not directory.is_dir():
            raise StoreError(f"run_dir {directory} is a file, not a directory; pass a directory path")
        directory.mkdir(parents=True, exist_ok=True)
        return cls(directory / DB_FILENAME, run_dir=directory, **kwargs)

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    # -- connection ------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = connect(self.path)
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        # Checkpoints are where WAL mode fsyncs; the default (every 1000 pages) costs ~20% of the
        # write time of a busy run. A 40 MB WAL between checkpoints is harmless; close() truncates it.
        conn.execute("PRAGMA wal_autocheckpoint=10000")
        return conn

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:  # reopened after close(): a store object can serve several runs in turn
            self._conn = self._connect()
        return self._conn

    def _write(self, statements: list[tuple[str, tuple]], blobs: list[tuple[str, str, bytes]]) -> None:
        """Commit one record; returns only once it is committed.

        Group commit: a writer queues its record, then takes the connection
        lock; whoever gets the lock commits everything queued so far in one
        transaction, so threads that queued meanwhile find their record
        already durable. Under concurrency (8 evaluation workers) this turns
        many commits into few, without any caller returning before its write.
        """
        item = _Pending(statements, blobs)
        with self._queue_lock:
            self._queue.append(item)
        with self._lock:
            if not item.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._commit(batch)
        if item.error is not None:
            raise item.error

    def _commit(self, batch: list[_Pending]) -> None:
        conn = self._db()
        try:
            self._transaction(conn, batch)
        except Exception:
            if len(batch) == 1:
                batch[0].error = sys.exc_info()[1]
            else:  # one bad record must not fail its neighbours: retry each on its own
                for item in batch:
                    try:
                        self._transaction(conn, [item])
                    except Exception as exc:
                        item.error = exc
        finally:
            for item in batch:
                item.done = True

    def _transaction(self, conn: sqlite3.Connection, batch: list[_Pending]) -> None:
        fresh: dict[str, tuple[str, bytes]] = {}
        for item in batch:
            for digest, kind, payload in item.blobs:
                if digest not in self._known_blobs:
                    fresh[digest] = (kind, payload)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for digest, (kind, payload) in fresh.items():
                data, compressed = pack_payload(payload)
                conn.execute("INSERT OR IGNORE INTO blobs (hash, kind, compressed, size, data) "
                             "VALUES (?, ?, ?, ?, ?)", (digest, kind, int(compressed), len(payload), data))
            for item in batch:
                for sql, params in item.statements:
                    conn.execute(sql, params)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._known_blobs.update(fresh)

    @staticmethod
    def _encoder() -> tuple[Encoder, list[tuple[str, str, bytes]]]:
        blobs: list[tuple[str, str, bytes]] = []
        return Encoder(lambda h, k, p: blobs.append((h, k, p))), blobs

    # -- the Store protocol --------------------------------------------------------
    def open(self, header: RunHeader, session: dict[str, Any]) -> StoredRun:
        enc, blobs = self._encoder()
        session_text = enc.dumps(dict(session))
        with self._lock:
            conn = self._db()
            conn.execute("BEGIN IMMEDIATE")
            try:
                stored = read_header(conn)
                if stored is not None and stored.fingerprint != header.fingerprint:
                    raise StoreMismatchError(
                        f"the run store {self.path} holds another run: {describe_mismatch(stored, header)} "
                        "differs. Resume only with the same seed candidate and objective; for a new problem "
                        "use a new run_dir (or store)")
                self._refuse_live_writer(conn)
                now = time.time()
                conn.execute("INSERT OR REPLACE INTO honing_meta (key, value) VALUES ('header', ?)",
                             (header_to_json(header),))
                conn.execute("INSERT OR REPLACE INTO honing_meta (key, value) VALUES ('fingerprint', ?)",
                             (header.fingerprint,))
                conn.execute("INSERT OR IGNORE INTO honing_meta (key, value) VALUES ('created_at', ?)", (repr(now),))
                for digest, kind, payload in blobs:
                    data, compressed = pack_payload(payload)
                    conn.execute("INSERT OR IGNORE INTO blobs (hash, kind, compressed, size, data) "
                                 "VALUES (?, ?, ?, ?, ?)", (digest, kind, int(compressed), len(payload), data))
                cursor = conn.execute("INSERT INTO sessions (opened_at, pid, host, data) VALUES (?, ?, ?, ?)",
                                      (now, os.getpid(), socket.gethostname(), session_text))
                self._session = cursor.lastrowid
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return self._load(conn, header)

    def _load(self, conn: sqlite3.Connection, header: RunHeader) -> StoredRun:
        dec = Decoder(blob_reader(conn), unpickle=True)
        run = StoredRun(header=header)
        run.candidates = [candidate_from_row(r, dec) for r in
                          conn.execute(f"SELECT {CANDIDATE_COLUMNS} FROM candidates ORDER BY seq")]
        run.evaluations = [evaluation_from_row(r, dec) for r in
                           conn.execute(f"SELECT {EVALUATION_COLUMNS} FROM evaluations ORDER BY seq")]
        run.proposals = [proposal_from_row(r, dec) for r in
                         conn.execute(f"SELECT {PROPOSAL_COLUMNS} FROM proposals ORDER BY seq")]
        done = {(e.candidate_id, e.example_key) for e in run.evaluations}
        run.started = [(cid, key) for cid, key in
                       conn.execute("SELECT candidate_id, example_key FROM started ORDER BY seq")
                       if (cid, key) not in done]
        run.sessions = [dec.loads(text) for (text,) in conn.execute("SELECT data FROM sessions ORDER BY seq")]
        self._known_blobs.update(h for (h,) in conn.execute("SELECT hash FROM blobs"))
        return run

    def _refuse_live_writer(self, conn: sqlite3.Connection) -> None:
        """Two processes appending to one run would both spend its budget; refuse the second."""
        host = socket.gethostname()
        for pid, opened_at in conn.execute(
                "SELECT pid, opened_at FROM sessions WHERE closed_at IS NULL AND host=? AND pid!=?",
                (host, os.getpid())):
            if _alive(pid):
                raise StoreError(
                    f"the run store {self.path} is in use by another process (pid {pid}, since "
                    f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(opened_at))}); wait for it to finish "
                    "or stop it before resuming this run")

    def add_candidate(self, record: CandidateRecord) -> None:
        enc, blobs = self._encoder()
        self._write([(INSERT_CANDIDATE, candidate_params(record, enc))], blobs)

    def start_evaluation(self, candidate_id: int, example_key: str) -> None:
        self._write([("INSERT INTO started (candidate_id, example_key, session, started_at) VALUES (?, ?, ?, ?)",
                      (candidate_id, example_key, self._session, time.time()))], [])

    def add_evaluation(self, record: EvaluationRecord) -> None:
        enc, blobs = self._encoder()
        self._write([(INSERT_EVALUATION, evaluation_params(record, enc))], blobs)

    def add_proposal(self, record: ProposalRecord) -> None:
        enc, blobs = self._encoder()
        self._write([(INSERT_PROPOSAL, proposal_params(record, enc))], blobs)

    def close(self) -> None:
        with self._lock:
            if self._conn is None:
                return
            try:
                if self._session is not None:
                    self._conn.execute("UPDATE sessions SET closed_at=? WHERE seq=?", (time.time(), self._session))
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                pass
            finally:
                self._conn.close()
                self._conn = None
                self._session = None


class _Pending:
    __slots__ = ("statements", "blobs", "done", "error")

    def __init__(self, statements: list[tuple[str, tuple]], blobs: list[tuple[str, str, bytes]]) -> None:
        self.statements = statements
        self.blobs = blobs
        self.done = False
        self.error: BaseException | None = None


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:  # a killed child its parent has not reaped yet is not a writer
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True
