"""``RunReader``: a read-only view of a stored run, for ``show``, ``report`` and ``dashboard``.

It opens the database read-only and relies on WAL snapshots, so it can watch a
run that another process is writing. Because the log is append-only it reads
only rows it has not seen (``seq`` above the last one) on each ``refresh()``,
which keeps a polling dashboard cheap on long runs.

What it keeps in memory is sized for runs of a million evaluations: the
lineage of each candidate and a summary of each proposal (small columns), and
the *score columns* of each evaluation, fed to ``RunViews`` which maintains
the pool, scores, best candidate, frontier and trajectory. Candidate texts,
prompts, replies, side info and outputs stay in the database and are decoded
on demand for the few candidates a page shows. Pickled values are *not*
unpickled unless asked (``unpickle=True``): a viewer may be pointed at a run
someone else wrote, and unpickling runs code.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._records import CandidateRecord, EvaluationRecord, LMUsage, Origin, ProposalKind, ProposalRecord
from ._base import RunHeader
from ._codec import Decoder
from ._failures import reading_errors
from ._liveness import STALE_AFTER_S, writer_alive
from ._rows import (
    CANDIDATE_COLUMNS,
    EVALUATION_COLUMNS,
    PROPOSAL_COLUMNS,
    blob_reader,
    candidate_from_row,
    evaluation_from_row,
    proposal_from_row,
    read_header,
    text_value,
)
from ._schema import DB_FILENAME, connect, has_column
from ._views import RunViews

_CANDIDATE_INFO = "seq, id, parents, origin, proposal_id, created_at"
_PROPOSAL_INFO = ("seq, id, kind, parent_ids, child_id, accepted, reason, parent_score, child_score, prompt_tokens, "
                  "completion_tokens, cost_usd, lm_duration_s, model, error, created_at")
_SCORES = "seq, candidate_id, example_key, split, score, NULLIF(objective_scores, '{}'), cached"
_CHUNK = 20_000


@dataclass(frozen=True)
class CandidateInfo:
    """A candidate without its text: what lists and lineage graphs need."""

    id: int
    parents: tuple[int, ...]
    origin: Origin
    proposal_id: int | None
    created_at: float


@dataclass(frozen=True)
class ProposalInfo:
    """A proposal without its prompt, reply and component names (``RunReader.proposal`` has them)."""

    seq: int
    id: int
    kind: ProposalKind
    parent_ids: tuple[int, ...]
    child_id: int | None
    accepted: bool
    reason: str
    parent_score: float | None
    child_score: float | None
    usage: LMUsage
    error: str | None
    created_at: float


class CandidateTable(Mapping[int, CandidateRecord]):
    """``reader.candidates[cid]``: the full record, its text decoded on first access (a few hundred are cached)."""

    def __init__(self, reader: RunReader) -> None:
        self._reader = reader
        self._cache: OrderedDict[int, CandidateRecord] = OrderedDict()

    def __getitem__(self, cid: int) -> CandidateRecord:
        if cid not in self._reader.candidate_info:
            raise KeyError(cid)
        record = self._cache.get(cid)
        if record is None:
            record = self._cache[cid] = self._reader._load_candidate(cid)
            if len(self._cache) > 256:
                self._cache.popitem(last=False)
        return record

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self._reader.candidate_info))

    def __len__(self) -> int:
        return len(self._reader.candidate_info)

    def __contains__(self, cid: object) -> bool:
        return cid in self._reader.candidate_info


class RunReader:
    def __init__(self, path: str | os.PathLike[str], *, unpickle: bool = False) -> None:
        p = Path(path)
        self.path = p / DB_FILENAME if p.is_dir() else p
        self.run_dir = str(self.path.parent)
        self._lock = threading.RLock()
        self._conn = connect(self.path, readonly=True)
        self._dec = Decoder(blob_reader(self._conn, cache={}), unpickle=unpickle)
        self._seen = {"candidates": 0, "evaluations": 0, "proposals": 0, "started": 0, "admissions": 0}
        self._has_admissions = False
        self.header: RunHeader | None = None
        self.sessions: list[dict[str, Any]] = []
        self.candidate_info: dict[int, CandidateInfo] = {}
        self.candidates = CandidateTable(self)
        self.proposals: list[ProposalInfo] = []
        self._proposals_by_id: dict[int, list[ProposalInfo]] = {}
        self._pending: set[tuple[int, str]] = set()
        self._views: RunViews | None = None
        try:
            self._heartbeats = has_column(self._conn, "sessions", "heartbeat_at")
            self.refresh()
        except BaseException:
            self._conn.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> RunReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- loading -----------------------------------------------------------------
    @contextlib.contextmanager
    def _reading(self, doing: str, *, decoding: bool = False) -> Iterator[None]:
        """Reads under the reader's lock; failures become ``StoreError``s (``_failures.reading_errors``)."""
        with self._lock, reading_errors(self.path, doing, decoding=decoding):
            yield

    def refresh(self) -> bool:
        """Read what was written since the last look; returns whether anything changed."""
        with self._reading("reading the run"):
            conn = self._conn
            conn.execute("BEGIN")  # one snapshot for all tables
            try:
                return self._refresh(conn)
            finally:
                conn.execute("COMMIT")

    def _refresh(self, conn: sqlite3.Connection) -> bool:
        first = self._views is None
        before = (self.sessions, self.header)
        self.header = read_header(conn)
        self.sessions = self._read_sessions(conn)
        if self._views is None:
            self._has_admissions = bool(conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='admissions'").fetchone())
            self._views = RunViews(self.frontier_type, legacy=not self._has_admissions)
        views = self._views
        if self.sessions:
            views.set_weights(self.sessions[-1].get("val_weights"))
        new = 0
        for _seq, cid, parents, origin, proposal_id, created_at in self._rows(conn, "candidates", _CANDIDATE_INFO):
            self.candidate_info[cid] = CandidateInfo(cid, tuple(json.loads(parents)), origin, proposal_id, created_at)
            views.add_candidate(cid, origin)
            new += 1
        for row in self._rows(conn, "proposals", _PROPOSAL_INFO):
            info = _proposal_info(row)
            self.proposals.append(info)
            self._proposals_by_id.setdefault(info.id, []).append(info)
            views.add_proposal(info.accepted, info.child_id)
            new += 1
        if self._has_admissions:
            for _seq, cid, admitted in self._rows(conn, "admissions", "seq, candidate_id, admitted"):
                views.add_admission(cid, bool(admitted))
                new += 1
        if first:  # one anti-join in SQL instead of a million pairs through Python
            self._seen["started"] = conn.execute("SELECT coalesce(max(seq), 0) FROM started").fetchone()[0]
            self._pending = set(conn.execute(
                "SELECT s.candidate_id, s.example_key FROM started s WHERE s.seq <= ? AND NOT EXISTS "
                "(SELECT 1 FROM evaluations e WHERE e.candidate_id = s.candidate_id AND "
                "e.example_key = s.example_key)", (self._seen["started"],)))
        else:
            started = self._rows(conn, "started", "seq, candidate_id, example_key")
            self._pending.update((cid, key) for _seq, cid, key in started)
            new += len(started)
        for rows in self._chunks(conn, "evaluations", _SCORES):
            views.add_evaluations(rows)
            if not first:
                self._pending.difference_update((row[1], row[2]) for row in rows)
            new += len(rows)
        return new > 0 or before != (self.sessions, self.header)

    def _read_sessions(self, conn: sqlite3.Connection) -> list[dict[str, Any]]:
        beat = "heartbeat_at" if self._heartbeats else "NULL"
        return [{"opened_at": opened, "closed_at": closed, "pid": pid, "host": host, "heartbeat_at": beat_at,
                 **_as_dict(self._dec, data)}
                for opened, closed, pid, host, beat_at, data in
                conn.execute(f"SELECT opened_at, closed_at, pid, host, {beat}, data FROM sessions ORDER BY seq")]

    def _rows(self, conn: sqlite3.Connection, table: str, columns: str) -> list[tuple[Any, ...]]:
        return [row for rows in self._chunks(conn, table, columns) for row in rows]

    def _chunks(self, conn: sqlite3.Connection, table: str, columns: str) -> Iterator[list[tuple[Any, ...]]]:
        """New rows of ``table`` (``columns`` starts with ``seq``), a chunk at a time."""
        cursor = conn.execute(f"SELECT {columns} FROM {table} WHERE seq > ? ORDER BY seq", (self._seen[table],))
        while rows := cursor.fetchmany(_CHUNK):
            self._seen[table] = rows[-1][0]
            yield rows

    def _load_candidate(self, cid: int) -> CandidateRecord:
        with self._reading(f"reading candidate {cid}", decoding=True):
            row = self._conn.execute(f"SELECT {CANDIDATE_COLUMNS} FROM candidates WHERE id=? ORDER BY seq DESC "
                                     "LIMIT 1", (cid,)).fetchone()
            return candidate_from_row(row, self._dec)

    def evaluation_details(self, candidate_id: int, limit: int | None = None) -> list[EvaluationRecord]:
        """A candidate's evaluations with side info and output decoded, in write order (the first ``limit``)."""
        with self._reading(f"reading candidate {candidate_id}'s evaluations", decoding=True):
            rows = self._conn.execute(f"SELECT {EVALUATION_COLUMNS} FROM evaluations WHERE candidate_id=? "
                                      f"ORDER BY seq LIMIT ?", (candidate_id, -1 if limit is None else limit))
            return [evaluation_from_row(row, self._dec) for row in rows.fetchall()]

    def evaluation_count(self, candidate_id: int | None = None) -> int:
        """Evaluations stored, of one candidate or of the whole run."""
        if candidate_id is None:
            return self.views.evaluations
        with self._reading("counting evaluations"):
            count: int = self._conn.execute("SELECT count(*) FROM evaluations WHERE candidate_id=?",
                                            (candidate_id,)).fetchone()[0]
            return count

    def proposal(self, info: ProposalInfo) -> ProposalRecord:
        """The whole proposal behind ``info``: its prompt, reply and components decoded."""
        with self._reading(f"reading proposal {info.id}", decoding=True):
            row = self._conn.execute(f"SELECT {PROPOSAL_COLUMNS} FROM proposals WHERE seq=?", (info.seq,)).fetchone()
            return proposal_from_row(row, self._dec)

    # -- what the run did ----------------------------------------------------------
    @property
    def views(self) -> RunViews:
        assert self._views is not None
        return self._views

    @property
    def pending(self) -> list[tuple[int, str]]:
        """Evaluations started and not finished: running now, or cut short by a crash."""
        with self._lock:
            return sorted(self._pending)

    @property
    def metric_calls(self) -> int:
        """Finished evaluations: what counts against the budget."""
        return self.views.metric_calls

    @property
    def live(self) -> bool:
        """Whether a process is writing the run now (its writer lock is held, or its heartbeat is fresh)."""
        if not self.sessions or self.sessions[-1]["closed_at"] is not None:
            return False
        held = writer_alive(self.path)
        if held is not None:
            return held
        beat = self.sessions[-1].get("heartbeat_at")
        return beat is None or time.time() - beat < STALE_AFTER_S

    def session_config(self, *path: str, default: Any = None) -> Any:
        """A value from the latest session's config, e.g. ``session_config("engine", "max_metric_calls")``."""
        for session in reversed(self.sessions):
            value: Any = session.get("config")
            for name in path:
                value = value.get(name) if isinstance(value, Mapping) else None
            if value is not None:
                return value
        return default

    @property
    def frontier_type(self) -> str:
        return str(self.session_config("engine", "frontier_type", default="hybrid"))

    def proposal_for(self, candidate_id: int) -> ProposalRecord | None:
        """The proposal that produced a candidate.

        Matched on the child id as well as the proposal id: a proposal cut short
        by a crash leaves a candidate whose proposal id a resumed session may
        give to another proposal.
        """
        info = self.candidate_info.get(candidate_id)
        if info is None or info.proposal_id is None:
            return None
        with self._lock:
            same_id = list(self._proposals_by_id.get(info.proposal_id, ()))
        exact = [p for p in same_id if p.child_id == candidate_id]
        loose = [p for p in same_id if p.child_id is None]
        found = exact[-1] if exact else loose[-1] if loose else None
        return None if found is None else self.proposal(found)

    # -- derived views (see RunViews) ------------------------------------------------
    @property
    def val_keys(self) -> list[str]:
        return self.views.val_keys

    @property
    def pool(self) -> list[int]:
        """The pool, in the order candidates were admitted: the seeds, then each winner of a validation race."""
        return [cid for cid in self.views.pool if cid in self.candidate_info]

    def val_scores(self, candidate_id: int) -> dict[str, float]:
        return self.views.val_scores(candidate_id)

    def val_objective_scores(self, candidate_id: int) -> dict[str, dict[str, float]]:
        return self.views.val_objective_scores(candidate_id)

    def val_mean(self, candidate_id: int) -> float | None:
        return self.views.val_mean(candidate_id)

    def coverage(self, candidate_id: int) -> int:
        return self.views.coverage(candidate_id)

    def best_id(self) -> int | None:
        return self.views.best_id()

    def front(self) -> Any:
        return self.views.front()

    def trajectory(self) -> dict[str, list[dict[str, Any]]]:
        return self.views.trajectory()


def _proposal_info(row: tuple[Any, ...]) -> ProposalInfo:
    (seq, pid, kind, parent_ids, child_id, accepted, reason, parent_score, child_score, prompt_tokens,
     completion_tokens, cost_usd, lm_duration_s, model, error, created_at) = row
    return ProposalInfo(seq=seq, id=pid, kind=kind, parent_ids=tuple(json.loads(parent_ids)), child_id=child_id,
                        accepted=bool(accepted), reason=text_value(reason) or "", parent_score=parent_score,
                        child_score=child_score,
                        usage=LMUsage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                                      cost_usd=cost_usd, duration_s=lm_duration_s, model=text_value(model)),
                        error=text_value(error), created_at=created_at)


def _as_dict(dec: Decoder, text: str) -> dict[str, Any]:
    try:
        value = dec.loads(text)
    except Exception:
        return {}
    return value if isinstance(value, dict) else {"session": value}
