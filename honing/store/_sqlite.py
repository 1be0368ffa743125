"""``SQLiteStore``: the durable run store (one SQLite file per run, stdlib only).

Why SQLite: a run is an append-only log written by a few threads and read,
often at the same time, by a dashboard in another process. SQLite in WAL mode
gives exactly that -- one writer, any number of readers that see consistent
snapshots -- with atomic commits and no server.

Durability: ``start_evaluations`` and ``add_admission`` commit before they
return: a start is on disk before the evaluator runs, which is what lets a
resumed run know which evaluations a crash cut short (and how often each was
tried). Evaluations, candidates and proposals are queued and committed in
batches at most ``DEFER_S`` after they arrive, and always with or before the
next record that waits, so the file keeps the order of events; a crash loses
at most those last milliseconds of the log, which the resumed run redoes (see
``Store``'s durability guarantee). Three synchronous commits per proposal had
been a tenth of a long run's wall-clock. With the
default ``synchronous="NORMAL"`` a commit survives the process being killed at
any instant (the WAL is written before the call returns); pass
``synchronous="FULL"`` to also survive a power cut, at the price of an fsync
per record. What is batched is what can be without weakening that: an
evaluation, the blobs it references and nothing else go in one transaction,
and values are encoded before the lock is taken.

One connection, shared by all threads behind a lock (``check_same_thread=False``):
writes are serialized by SQLite anyway, and a single connection avoids
``database is locked`` retries between the engine's own threads.

Opening a session takes the writer lock (``_liveness``), checks the file's
structure (``PRAGMA quick_check``) and reads the whole run *before* writing
anything, so a damaged file is reported, never written into. While the session
lasts, a heartbeat thread refreshes the session's liveness stamp and runs a
PASSIVE checkpoint on its own connection whenever the write-ahead log passes
``CHECKPOINT_BYTES``: the writers never wait for it, and a killed run leaves a
small ``-wal`` file instead of tens of megabytes.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .._records import AdmissionRecord, CandidateRecord, EvaluationRecord, ProposalRecord
from ._base import RunHeader, StoredRun, StoreError, StoreInUseError, check_resume
from ._codec import Decoder, Encoder, pack_payload
from ._failures import reading_errors, translate
from ._history import StoredCandidates, StoredEvaluations, StoredProposals
from ._liveness import HEARTBEAT_S, STALE_AFTER_S, Heartbeat, LockState, WriterLock
from ._prompts import PromptPacker
from ._rows import (
    ADMISSION_COLUMNS,
    CANDIDATE_COLUMNS,
    EVALUATION_COLUMNS,
    INSERT_ADMISSION,
    INSERT_CANDIDATE,
    INSERT_EVALUATION,
    INSERT_PROPOSAL,
    admission_from_row,
    admission_params,
    blob_reader,
    candidate_from_row,
    candidate_params,
    evaluation_from_row,
    evaluation_params,
    header_to_json,
    proposal_params,
    read_header,
)
from ._schema import DB_FILENAME, connect, migrate, quick_check

logger = logging.getLogger("honing.store")

CHECKPOINT_BYTES = 2 * 2**20  # a -wal file larger than this is checkpointed by the heartbeat
# An evaluation is committed at most this long after it was added (with others that came meanwhile): at a
# thousand evaluations a second, one commit each was most of the engine's time; the cost is that a crash
# can lose the last few milliseconds of results, whose evaluations a resumed run then scores again.
DEFER_S = 0.005
WAL_LIMIT_BYTES = 4 * 2**20  # and truncated back to at most this when SQLite restarts it
# The page cache per connection (negative: KiB). A run appends; the pages it touches are the tables' and indexes'
# last leaves, so SQLite's 2 MiB default only held more of a long run in memory (1 MiB of a 10,000-proposal run).
CACHE_KIB = -512


class SQLiteStore:
    """A ``Store`` kept in ``path`` (``<run_dir>/honing.db`` via ``for_run_dir``)."""

    def __init__(self, path: str | os.PathLike[str], *, run_dir: str | os.PathLike[str] | None = None,
                 synchronous: str = "NORMAL", heartbeat_s: float = HEARTBEAT_S) -> None:
        if synchronous.upper() not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        self.path = Path(path)
        self.run_dir = str(Path(run_dir) if run_dir is not None else self.path.parent)
        self._synchronous = synchronous.upper()
        self._heartbeat_s = heartbeat_s
        self._lock = threading.Lock()  # the connection
        self._queue_lock = threading.Lock()  # records waiting for a group commit
        self._queue: list[_Pending] = []
        self._known_blobs: set[str] = set()
        self._session: int | None = None
        self._writer_lock = WriterLock(self.path)
        self._heartbeat: Heartbeat | None = None
        self._checkpointer: sqlite3.Connection | None = None
        self._commits = 0
        self._packer = PromptPacker()
        self._proposals_before = 0  # the last proposal's seq when this session opened
        self._deferred = threading.Event()  # an evaluation waits for the background commit
        self._deferred_error: BaseException | None = None  # a background commit failed: raised by the next call
        self._flusher: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = self._connect()  # fail early on a foreign or damaged file

    @classmethod
    def for_run_dir(cls, run_dir: str | os.PathLike[str], **kwargs: Any) -> SQLiteStore:
        """The store of the run kept in ``run_dir`` (created if needed)."""
        directory = Path(run_dir)
        if directory.exists() and not directory.is_dir():
            raise StoreError(f"run_dir {directory} is a file, not a directory; pass a directory path")
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise translate(exc, directory / DB_FILENAME, "creating its directory") from exc
        return cls(directory / DB_FILENAME, run_dir=directory, **kwargs)

    def __repr__(self) -> str:
        return f"SQLiteStore({str(self.path)!r})"

    # -- connection ------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = connect(self.path, create_unsynced=self._synchronous == "NORMAL")
        try:
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            # Checkpoints are where WAL mode fsyncs; the default (every 1000 pages) costs ~20% of the write time
            # of a busy run. The heartbeat checkpoints in the background instead; this is only the backstop.
            conn.execute("PRAGMA wal_autocheckpoint=10000")
            conn.execute(f"PRAGMA cache_size={CACHE_KIB}")
            conn.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
        except sqlite3.Error as exc:
            conn.close()
            raise translate(exc, self.path, "opening it") from exc
        return conn

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:  # reopened after close(): a store object can serve several runs in turn
            self._conn = self._connect()
        return self._conn

    def _write(self, statements: list[tuple[str, tuple[Any, ...]]], blobs: list[tuple[str, str, bytes]], what: str,
               *, wait: bool = True) -> None:
        """Commit one record; returns once it is committed (``wait``), or at once, committed within moments.

        Group commit: a writer queues its record, then takes the connection
        lock; whoever gets the lock commits everything queued so far in one
        transaction, so threads that queued meanwhile find their record
        already durable. Under concurrency (8 evaluation workers) this turns
        many commits into few, without any caller returning before its write.
        A record queued without ``wait`` is committed by the next writer that
        waits, or by a background thread ``DEFER_S`` later, whichever is first,
        so records still reach the file in the order they were written.
        """
        self._raise_deferred_error()
        item = _Pending(statements, blobs, what, deferred=not wait)
        with self._queue_lock:
            self._queue.append(item)
        if not wait:
            self._start_flusher()
            self._deferred.set()
            return
        with self._lock:
            if not item.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._commit(batch)
                self._keep_deferred_error(batch)
                self._commits += 1
                if self._commits % 32 == 0 and self._heartbeat is not None \
                        and self._wal_bytes() >= CHECKPOINT_BYTES:
                    self._heartbeat.wake()
        if item.error is not None:
            raise item.error
        self._raise_deferred_error()  # a queued evaluation committed with this record failed: the run must know

    def _keep_deferred_error(self, batch: list[_Pending]) -> None:
        """Nobody waits for a queued record, so its failure is raised by the store's next call."""
        failed = next((i.error for i in batch if i.deferred and i.error is not None), None)
        if failed is not None and self._deferred_error is None:
            self._deferred_error = failed
            logger.error("storing queued records failed: %s", failed)

    def _raise_deferred_error(self) -> None:
        error, self._deferred_error = self._deferred_error, None
        if error is not None:
            raise error

    def _start_flusher(self) -> None:
        if self._flusher is None:
            with self._queue_lock:
                if self._flusher is None:
                    self._flusher = threading.Thread(target=self._flush_loop, name="honing-store-flush", daemon=True)
                    self._flusher.start()

    def _flush_loop(self) -> None:
        while True:
            self._deferred.wait()
            if self._flusher is None:
                return
            time.sleep(DEFER_S)  # let more records join this commit
            self._deferred.clear()
            self.flush(raise_errors=False)

    def flush(self, *, raise_errors: bool = True) -> None:
        """Commit every queued record now (the background commit does this within ``DEFER_S``)."""
        with self._lock:
            self._commit_queued()
        if raise_errors:
            self._raise_deferred_error()

    def _commit_queued(self) -> None:
        """Commit what is queued (the caller holds the connection lock); a failure is kept for the next call."""
        with self._queue_lock:
            batch, self._queue = self._queue, []
        if batch and self._conn is not None:
            self._commit(batch)
            self._commits += 1
            self._keep_deferred_error(batch)

    def _commit(self, batch: list[_Pending]) -> None:
        try:
            conn = self._db()
            self._transaction(conn, batch)
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = translate(exc, self.path, batch[0].what)
            else:  # one bad record must not fail its neighbours: retry each on its own
                for item in batch:
                    try:
                        self._transaction(self._db(), [item])
                    except Exception as exc:
                        item.error = translate(exc, self.path, item.what)
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
            _insert_blobs(conn, fresh.items())
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
    def open(self, header: RunHeader, session: dict[str, Any], *, takeover: bool = False,
             evaluator_changed_ok: bool = False) -> StoredRun:
        enc, blobs = self._encoder()
        session_text = enc.dumps(dict(session))
        with self._lock:
            conn = self._db()
            state = self._take_writer_lock(conn, takeover)
            try:
                run = self._open_session(conn, header, session_text, blobs, state, takeover, evaluator_changed_ok)
            except BaseException:
                self._writer_lock.release()
                raise
        self._heartbeat = Heartbeat(self._beat, self._checkpoint_if_large, self._heartbeat_s)
        return run

    def _take_writer_lock(self, conn: sqlite3.Connection, takeover: bool) -> LockState:
        try:
            state = self._writer_lock.acquire()
        except OSError as exc:
            raise translate(exc, self.path, "taking its writer lock") from exc
        if state == "busy":
            holder = self._describe_open_session(conn)
            if not takeover:
                raise StoreInUseError(
                    f"the run store {self.path} is in use by another process{holder}: it holds the writer lock "
                    f"{self._writer_lock.path}. Wait for it to finish or stop it; if no process is really writing "
                    "this run, pass EngineConfig(takeover=True) (or --force)")
            logger.warning("taking over the run store %s although another process%s holds its writer lock "
                           "(takeover=True): if it is still running, both will write this run", self.path, holder)
        return state

    def _open_session(self, conn: sqlite3.Connection, header: RunHeader, session_text: str,
                      blobs: list[tuple[str, str, bytes]], state: LockState, takeover: bool,
                      evaluator_changed_ok: bool) -> StoredRun:
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                quick_check(conn, self.path)  # nothing is written into a damaged file
                migrate(conn, self.path)
                stored = read_header(conn)
                if stored is not None:
                    check_resume(stored, header, where=f"the run store {self.path}",
                                 evaluator_changed_ok=evaluator_changed_ok)
                if not takeover:
                    self._refuse_live_sessions(conn, other_hosts_only=state == "held")
                run = self._load(conn, header)  # damage that quick_check cannot see shows here, still before writes
                self._start_session(conn, header, session_text, blobs)
                run.sessions.append(Decoder(blob_reader(conn)).loads(session_text))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise translate(exc, self.path, "opening the run") from exc
        return run

    def _start_session(self, conn: sqlite3.Connection, header: RunHeader, session_text: str,
                       blobs: list[tuple[str, str, bytes]]) -> None:
        now = time.time()
        conn.execute("INSERT OR REPLACE INTO honing_meta (key, value) VALUES ('header', ?)", (header_to_json(header),))
        conn.execute("INSERT OR REPLACE INTO honing_meta (key, value) VALUES ('fingerprint', ?)",
                     (header.fingerprint,))
        conn.execute("INSERT OR IGNORE INTO honing_meta (key, value) VALUES ('created_at', ?)", (repr(now),))
        _insert_blobs(conn, ((digest, (kind, payload)) for digest, kind, payload in blobs))
        cursor = conn.execute("INSERT INTO sessions (opened_at, pid, host, data, heartbeat_at) VALUES (?, ?, ?, ?, ?)",
                              (now, os.getpid(), _host_name(), session_text, now))
        self._session = cursor.lastrowid

    def _load(self, conn: sqlite3.Connection, header: RunHeader) -> StoredRun:
        """The stored run; its candidates, evaluations and proposals are read as the resume goes through them.

        Loaded at once, a 20,000-proposal run took 150 MB to replay (its prompts and replies, and the side
        information of every child that lost its minibatch) where the run itself had peaked at 37 MB.
        """
        dec = Decoder(blob_reader(conn), unpickle=True)
        run = StoredRun(header=header)

        def last(table: str) -> int:
            return int(conn.execute(f"SELECT coalesce(max(seq), 0) FROM {table}").fetchone()[0])

        self._proposals_before = last("proposals")
        # Not checked record by record here (decoding everything twice made a resume 40% slower): a record that
        # cannot be decoded stops the resume when it is reached, before any record is written.
        run.candidates = StoredCandidates(self.path, 0, last("candidates"), unpickle=True, resuming=True)
        run.evaluations = StoredEvaluations(self.path, 0, last("evaluations"), unpickle=True, resuming=True)
        run.proposals = StoredProposals(self.path, 0, self._proposals_before, resuming=True)
        with reading_errors(self.path, "reading its sessions", decoding=True):  # undecodable: the file is damaged
            run.sessions = [dec.loads(text) for (text,) in conn.execute("SELECT data FROM sessions ORDER BY seq")]
            run.admissions = [admission_from_row(r) for r in
                              conn.execute(f"SELECT {ADMISSION_COLUMNS} FROM admissions ORDER BY seq")]
        run.started = [(cid, key) for cid, key in conn.execute(
            "SELECT candidate_id, example_key FROM started AS s WHERE NOT EXISTS (SELECT 1 FROM evaluations AS e "
            "WHERE e.candidate_id = s.candidate_id AND e.example_key = s.example_key) ORDER BY seq")]
        self._known_blobs.update(h for (h,) in conn.execute("SELECT hash FROM blobs"))
        return run

    def _refuse_live_sessions(self, conn: sqlite3.Connection, *, other_hosts_only: bool) -> None:
        """Sessions the lock cannot vouch for: refused while their heartbeat is fresh.

        With the lock held, a same-host session cannot be alive (the kernel
        would still hold its lock for it), but one on another host may be, where
        the filesystem's locks do not reach across machines.
        """
        host = _host_name()
        fresh_since = time.time() - STALE_AFTER_S
        for pid, other, beat in conn.execute(
                "SELECT pid, host, heartbeat_at FROM sessions WHERE closed_at IS NULL AND heartbeat_at > ?",
                (fresh_since,)):
            if other_hosts_only and other == host:
                continue
            raise StoreInUseError(
                f"the run store {self.path} is in use by pid {pid} on {other} (its last heartbeat was "
                f"{time.time() - beat:.0f} s ago; a session silent for {STALE_AFTER_S:.0f} s counts as dead). Wait "
                "for it to finish; if that process is gone, pass EngineConfig(takeover=True) (or --force)")

    def _describe_open_session(self, conn: sqlite3.Connection) -> str:
        try:
            row = conn.execute("SELECT pid, host, opened_at, heartbeat_at FROM sessions WHERE closed_at IS NULL "
                               "ORDER BY seq DESC LIMIT 1").fetchone()
        except sqlite3.Error:
            return ""
        if row is None:
            return ""
        pid, host, opened_at, beat = row
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(opened_at))
        alive = f", last heartbeat {time.time() - beat:.0f} s ago" if beat else ""
        return f" (pid {pid} on {host}, since {since}{alive})"

    def _beat(self) -> None:
        if self._session is None:
            return
        self._write([("UPDATE sessions SET heartbeat_at=? WHERE seq=?", (time.time(), self._session))], [],
                    "refreshing its heartbeat")

    def _wal_bytes(self) -> int:
        try:
            return os.stat(f"{self.path}-wal").st_size
        except FileNotFoundError:
            return 0

    def _checkpoint_if_large(self) -> None:
        """Copy the WAL into the database so SQLite can restart it (and truncate it to ``WAL_LIMIT_BYTES``).

        The bulk is copied on the heartbeat's own connection, concurrently with
        the writers; then a second PASSIVE checkpoint on the writers' connection,
        between two of their transactions, copies the few frames written
        meanwhile. Only that completes a checkpoint under a steady stream of
        writes, and it holds the writers for the time of those few frames.
        """
        if self._wal_bytes() < CHECKPOINT_BYTES:
            return
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            self._checkpointer.execute(f"PRAGMA cache_size={CACHE_KIB}")
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        with self._lock:
            if self._conn is not None:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()

    def add_candidate(self, record: CandidateRecord) -> None:
        enc, blobs = self._encoder()
        self._write([(INSERT_CANDIDATE, candidate_params(record, enc))], blobs, "storing a candidate", wait=False)

    def start_evaluations(self, pairs: Sequence[tuple[int, str]]) -> None:
        now = time.time()
        self._write([("INSERT INTO started (candidate_id, example_key, session, started_at) VALUES (?, ?, ?, ?)",
                      (cid, key, self._session, now)) for cid, key in pairs], [], "marking evaluations started")

    def add_evaluation(self, record: EvaluationRecord) -> None:
        """Queued and committed within ``DEFER_S`` (or with the next record that waits), so evaluation
        workers never wait for the disk; see ``Store.add_evaluation`` for what a crash can cost."""
        enc, blobs = self._encoder()
        self._write([(INSERT_EVALUATION, evaluation_params(record, enc))], blobs, "storing an evaluation",
                    wait=False)

    def add_proposal(self, record: ProposalRecord) -> None:
        enc, blobs = self._encoder()
        self._write([(INSERT_PROPOSAL, proposal_params(record, enc, self._packer))], blobs, "storing a proposal",
                    wait=False)

    def add_admission(self, record: AdmissionRecord) -> None:
        self._write([(INSERT_ADMISSION, admission_params(record))], [], "storing a validation race's verdict")

    def recall(self, candidate_id: int) -> tuple[CandidateRecord, list[EvaluationRecord]] | None:
        """A candidate and its evaluations as stored (queued evaluations are committed first)."""
        with self._lock:
            self._commit_queued()
            conn = self._db()
            dec = Decoder(blob_reader(conn), unpickle=True)  # this session's own records, as a resume reads them
            with reading_errors(self.path, f"reading candidate {candidate_id} back", decoding=True,
                                written="the records stored before are kept"):
                row = conn.execute(f"SELECT {CANDIDATE_COLUMNS} FROM candidates WHERE id=? ORDER BY seq DESC LIMIT 1",
                                   (candidate_id,)).fetchone()
                if row is None:
                    return None
                evaluations = [evaluation_from_row(r, dec) for r in conn.execute(
                    f"SELECT {EVALUATION_COLUMNS} FROM evaluations WHERE candidate_id=? ORDER BY seq", (candidate_id,))]
                return candidate_from_row(row, dec), evaluations

    def proposal_log(self) -> StoredProposals:
        """This session's proposals so far, read from the file on access (also after ``close``).

        What could not be stored (a full disk, already reported to the run) is not among them.
        """
        with self._lock:
            self._commit_queued()
            try:
                last = self._db().execute("SELECT coalesce(max(seq), 0) FROM proposals").fetchone()[0]
            except sqlite3.Error as exc:
                raise translate(exc, self.path, "listing this session's proposals") from exc
        return StoredProposals(self.path, self._proposals_before, last)

    def close(self) -> None:
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            self._deferred.set()  # wake it so it ends
        try:
            self.flush(raise_errors=False)
        except Exception as exc:  # noqa: BLE001 - reported; what was committed is safe
            logger.error("storing the last queued records failed: %s", exc)
        if self._heartbeat is not None:
            self._heartbeat.stop()
            self._heartbeat = None
        with self._lock:
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
            if self._conn is None:
                self._writer_lock.release()
                return
            try:
                if self._session is not None:
                    self._conn.execute("UPDATE sessions SET closed_at=? WHERE seq=?", (time.time(), self._session))
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:  # what was committed is safe; the next open checks the file
                logger.warning("closing the run store %s: %s", self.path, translate(exc, self.path, "closing it"))
            finally:
                self._conn.close()
                self._conn = None
                self._session = None
                self._writer_lock.release()


def _insert_blobs(conn: sqlite3.Connection, blobs: Iterable[tuple[str, tuple[str, bytes]]]) -> None:
    for digest, (kind, payload) in blobs:
        data, compressed = pack_payload(payload)
        conn.execute("INSERT OR IGNORE INTO blobs (hash, kind, compressed, size, data) VALUES (?, ?, ?, ?, ?)",
                     (digest, kind, int(compressed), len(payload), data))


class _Pending:
    __slots__ = ("blobs", "deferred", "done", "error", "statements", "what")

    def __init__(self, statements: list[tuple[str, tuple[Any, ...]]], blobs: list[tuple[str, str, bytes]], what: str,
                 deferred: bool = False) -> None:
        self.deferred = deferred
        self.statements = statements
        self.blobs = blobs
        self.what = what
        self.done = False
        self.error: BaseException | None = None


def _host_name() -> str:
    """This machine's name, as ``socket.gethostname()`` gives it on POSIX (without importing ``socket``)."""
    return os.uname().nodename
