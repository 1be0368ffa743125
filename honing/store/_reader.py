"""``RunReader``: a read-only view of a stored run, for ``show``, ``report`` and ``dashboard``.

It opens the database read-only and relies on WAL snapshots, so it can watch a
run that another process is writing. Because the log is append-only it reads
only rows it has not seen (``seq`` above the last one) on each ``refresh()``,
which keeps a polling dashboard cheap on long runs.

Side info and outputs are left out of the bulk load and decoded per candidate
on demand. Pickled values are *not* unpickled unless asked (``unpickle=True``):
a viewer may be pointed at a run someone else wrote, and unpickling runs code.
The derived views (pool, scores, best, frontier) follow the engine's rules so
the dashboard shows what ``Result`` would.
"""

from __future__ import annotations

import contextlib
import math
import os
import sqlite3
import threading
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._records import CandidateRecord, EvaluationRecord, ProposalRecord
from ._base import RunHeader
from ._codec import Decoder
from ._rows import (
    CANDIDATE_COLUMNS,
    EVALUATION_COLUMNS,
    PROPOSAL_COLUMNS,
    blob_reader,
    candidate_from_row,
    evaluation_from_row,
    proposal_from_row,
    read_header,
)
from ._failures import damaged_error, translate
from ._schema import DB_FILENAME, connect

VAL_SPLITS = ("val", "single")


class RunReader:
    def __init__(self, path: str | os.PathLike[str], *, unpickle: bool = False) -> None:
        p = Path(path)
        self.path = p / DB_FILENAME if p.is_dir() else p
        self.run_dir = str(self.path.parent)
        self._lock = threading.RLock()
        self._conn = connect(self.path, readonly=True)
        self._dec = Decoder(blob_reader(self._conn, cache={}), unpickle=unpickle)
        self._seen = {"candidates": 0, "evaluations": 0, "proposals": 0, "started": 0}
        self.header: RunHeader | None = None
        self.sessions: list[dict[str, Any]] = []
        self.candidates: dict[int, CandidateRecord] = {}
        self.evaluations: list[EvaluationRecord] = []  # without side info / output
        self.proposals: list[ProposalRecord] = []
        self._started: list[tuple[int, str]] = []
        self._by_candidate: dict[int, dict[str, EvaluationRecord]] = {}
        try:
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
    def refresh(self) -> bool:
        """Read what was written since the last look; returns whether anything was new."""
        with self._reading("reading the run"):
            return self._refresh()

    @contextlib.contextmanager
    def _reading(self, doing: str):
        """Every failure to read becomes a ``StoreError`` that names the file and says what to do."""
        with self._lock:
            try:
                yield
            except sqlite3.Error as exc:
                raise translate(exc, self.path, doing) from exc
            except (KeyError, ValueError, TypeError, zlib.error) as exc:
                raise damaged_error(self.path, f"a stored record cannot be read back: {exc}") from exc

    def _refresh(self) -> bool:
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN")  # one snapshot for all tables
            try:
                self.header = read_header(conn)
                self.sessions = [
                    {"opened_at": opened, "closed_at": closed, "pid": pid, "host": host, **_as_dict(self._dec, data)}
                    for opened, closed, pid, host, data in
                    conn.execute("SELECT opened_at, closed_at, pid, host, data FROM sessions ORDER BY seq")]
                new = 0
                for seq, *row in self._rows(conn, "candidates", CANDIDATE_COLUMNS):
                    record = candidate_from_row(tuple(row), self._dec)
                    self.candidates[record.id] = record
                    new += 1
                for seq, *row in self._rows(conn, "evaluations", EVALUATION_COLUMNS):
                    record = evaluation_from_row(tuple(row), None)
                    self.evaluations.append(record)
                    self._by_candidate.setdefault(record.candidate_id, {})[record.example_key] = record
                    new += 1
                for seq, *row in self._rows(conn, "proposals", PROPOSAL_COLUMNS):
                    self.proposals.append(proposal_from_row(tuple(row), self._dec))
                    new += 1
                for seq, cid, key in self._rows(conn, "started", "candidate_id, example_key"):
                    self._started.append((cid, key))
                    new += 1
            finally:
                conn.execute("COMMIT")
            return new > 0

    def _rows(self, conn, table: str, columns: str) -> list[tuple]:
        rows = conn.execute(f"SELECT seq, {columns} FROM {table} WHERE seq > ? ORDER BY seq",
                            (self._seen[table],)).fetchall()
        if rows:
            self._seen[table] = rows[-1][0]
        return rows

    def evaluation_details(self, candidate_id: int) -> list[EvaluationRecord]:
        """A candidate's evaluations with side info and output decoded (loaded on demand)."""
        with self._reading(f"reading candidate {candidate_id}'s evaluations"):
            rows = self._conn.execute(f"SELECT {EVALUATION_COLUMNS} FROM evaluations WHERE candidate_id=? "
                                      "ORDER BY seq", (candidate_id,)).fetchall()
            return [evaluation_from_row(row, self._dec) for row in rows]

    # -- what the run did ----------------------------------------------------------
    @property
    def pending(self) -> list[tuple[int, str]]:
        """Evaluations started and not finished: running now, or lost to a crash."""
        with self._lock:
            done = {(e.candidate_id, e.example_key) for e in self.evaluations}
            return [pair for pair in self._started if pair not in done]

    @property
    def metric_calls(self) -> int:
        with self._lock:
            return sum(not e.cached for e in self.evaluations) + len(self.pending)

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
        record = self.candidates.get(candidate_id)
        if record is None or record.proposal_id is None:
            return None
        with self._lock:
            same_id = [p for p in self.proposals if p.id == record.proposal_id]
        exact = [p for p in same_id if p.child_id == candidate_id]
        if exact:
            return exact[-1]
        loose = [p for p in same_id if p.child_id is None]
        return loose[-1] if loose else None

    # -- derived views (the engine's rules) ----------------------------------------
    @property
    def val_keys(self) -> list[str]:
        with self._lock:
            return sorted({e.example_key for e in self.evaluations if e.split in VAL_SPLITS})

    @property
    def pool(self) -> list[int]:
        """Accepted candidates: seeds and the children of accepted proposals."""
        with self._lock:
            ids = {c.id for c in self.candidates.values() if c.origin in ("seed", "generated")}
            ids |= {p.child_id for p in self.proposals if p.accepted and p.child_id is not None}
            return sorted(i for i in ids if i in self.candidates)

    def val_scores(self, candidate_id: int) -> dict[str, float]:
        with self._lock:
            evals = self._by_candidate.get(candidate_id, {})
            return {k: e.score for k, e in sorted(evals.items()) if e.split in VAL_SPLITS}

    def val_objective_scores(self, candidate_id: int) -> dict[str, dict[str, float]]:
        with self._lock:
            evals = self._by_candidate.get(candidate_id, {})
            return {k: dict(e.objective_scores) for k, e in sorted(evals.items())
                    if e.split in VAL_SPLITS and e.objective_scores}

    def val_mean(self, candidate_id: int) -> float | None:
        scores = self.val_scores(candidate_id)
        return sum(scores.values()) / len(scores) if scores else None

    def best_id(self) -> int | None:
        """Highest mean validation score, preferring candidates scored on every validation example."""
        pool = self.pool
        means = {cid: m for cid in pool if (m := self.val_mean(cid)) is not None}
        if not means:
            return pool[0] if pool else None
        n_val = len(self.val_keys)
        full = {c: s for c, s in means.items() if len(self.val_scores(c)) == n_val}
        ranked = full or means
        return max(sorted(ranked), key=lambda c: ranked[c])

    def front(self) -> Any:
        """The Pareto front of the pool, computed exactly as the engine does (``honing._frontier``)."""
        from .._frontier import frontier_points, pareto_front

        points = {}
        for cid in self.pool:
            found = frontier_points(self.frontier_type, self.val_scores(cid), self.val_objective_scores(cid))
            if found:
                points[cid] = found
        return pareto_front(points)

    def trajectory(self) -> dict[str, list[dict[str, Any]]]:
        """Score against metric calls.

        ``points``: each pool candidate when its validation scoring completed (its
        mean then); ``best``: the running best of those -- the curve a user asks
        about ("how good was the run after N evaluator calls?").
        """
        with self._lock:
            pool = set(self.pool)
            n_val = len(self.val_keys)
            seen: dict[int, dict[str, float]] = {}
            points: list[dict[str, Any]] = []
            best: list[dict[str, Any]] = []
            calls = 0
            for e in self.evaluations:
                calls += 0 if e.cached else 1
                if e.candidate_id not in pool or e.split not in VAL_SPLITS:
                    continue
                scores = seen.setdefault(e.candidate_id, {})
                scores[e.example_key] = e.score
                if len(scores) == n_val and n_val:
                    mean = sum(scores.values()) / n_val
                    if math.isnan(mean):
                        continue
                    points.append({"calls": calls, "id": e.candidate_id, "score": mean})
                    if not best or mean > best[-1]["score"]:
                        best.append({"calls": calls, "id": e.candidate_id, "score": mean})
            return {"points": points, "best": best}


def _as_dict(dec: Decoder, text: str) -> dict[str, Any]:
    try:
        value = dec.loads(text)
    except Exception:
        return {}
    return value if isinstance(value, dict) else {"session": value}
