"""The in-memory index of a run: candidates, their evaluations, the pool and its frontier.

Built from records (so a resumed run rebuilds exactly the same view) and
updated as new records arrive. Thread-safe: proposals read it from several
threads while evaluations are added.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

from ._frontier import FrontierTracker, ParetoFront, frontier_points
from ._records import CandidateRecord, EvaluationRecord, candidate_hash


class ScoreBoard:
    def __init__(self, val_keys: Sequence[str], frontier_type: str) -> None:
        self.val_keys = tuple(val_keys)
        self._val_set = frozenset(val_keys)
        self.frontier_type = frontier_type
        self._lock = threading.RLock()
        self._candidates: dict[int, CandidateRecord] = {}
        self._by_hash: dict[str, int] = {}
        self._evals: dict[int, dict[str, EvaluationRecord]] = {}
        self._pool: list[int] = []
        self._tracker = FrontierTracker()

    # -- candidates -------------------------------------------------------
    def add_candidate(self, record: CandidateRecord) -> None:
        with self._lock:
            self._candidates[record.id] = record
            self._by_hash.setdefault(record.content_hash, record.id)
            self._evals.setdefault(record.id, {})

    def candidate(self, candidate_id: int) -> CandidateRecord:
        with self._lock:
            return self._candidates[candidate_id]

    def find(self, components: dict[str, str]) -> int | None:
        """The id of an existing candidate with exactly these components, if any."""
        with self._lock:
            return self._by_hash.get(candidate_hash(components))

    def next_id(self) -> int:
        with self._lock:
            return max(self._candidates, default=-1) + 1

    @property
    def candidates(self) -> list[CandidateRecord]:
        with self._lock:
            return [self._candidates[i] for i in sorted(self._candidates)]

    # -- evaluations ------------------------------------------------------
    def add_evaluation(self, record: EvaluationRecord) -> bool:
        """Record an evaluation; returns whether the frontier changed."""
        with self._lock:
            self._evals.setdefault(record.candidate_id, {})[record.example_key] = record
            if record.candidate_id in self._pool and record.example_key in self._val_set:
                return self._refresh(record.candidate_id)
            return False

    def evaluation(self, candidate_id: int, key: str) -> EvaluationRecord | None:
        with self._lock:
            return self._evals.get(candidate_id, {}).get(key)

    def evaluations(self, candidate_id: int) -> dict[str, EvaluationRecord]:
        with self._lock:
            return dict(self._evals.get(candidate_id, {}))

    def missing(self, candidate_id: int, keys: Iterable[str]) -> list[str]:
        with self._lock:
            done = self._evals.get(candidate_id, {})
            return [k for k in keys if k not in done]

    # -- the pool of accepted candidates ------------------------------------
    def admit(self, candidate_id: int) -> bool:
        """Put an accepted candidate into the pool; returns whether the frontier changed."""
        with self._lock:
            if candidate_id not in self._pool:
                self._pool.append(candidate_id)
            return self._refresh(candidate_id)

    @property
    def pool(self) -> list[int]:
        with self._lock:
            return list(self._pool)

    def val_scores(self, candidate_id: int) -> dict[str, float]:
        with self._lock:
            evals = self._evals.get(candidate_id, {})
            return {k: evals[k].score for k in self.val_keys if k in evals}

    def val_objective_scores(self, candidate_id: int) -> dict[str, dict[str, float]]:
        with self._lock:
            evals = self._evals.get(candidate_id, {})
            return {k: dict(evals[k].objective_scores) for k in self.val_keys if k in evals and evals[k].objective_scores}

    def val_mean(self, candidate_id: int) -> float | None:
        scores = self.val_scores(candidate_id)
        return sum(scores.values()) / len(scores) if scores else None

    def coverage(self, candidate_id: int) -> int:
        return len(self.val_scores(candidate_id))

    def aggregates(self) -> dict[int, float]:
        """Mean validation score of each pool member that has one."""
        with self._lock:
            out = {}
            for cid in self._pool:
                mean = self.val_mean(cid)
                if mean is not None:
                    out[cid] = mean
            return out

    def best_id(self) -> int | None:
        """Highest mean validation score, preferring candidates scored on the whole valset."""
        with self._lock:
            aggregates = self.aggregates()
            if not aggregates:
                return self._pool[0] if self._pool else None
            full = {c: s for c, s in aggregates.items() if self.coverage(c) == len(self.val_keys)}
            ranked = full or aggregates
            return max(sorted(ranked), key=lambda c: ranked[c])

    @property
    def front(self) -> ParetoFront:
        with self._lock:
            return self._tracker.front

    def _refresh(self, candidate_id: int) -> bool:
        points = frontier_points(self.frontier_type, self.val_scores(candidate_id),
                                 self.val_objective_scores(candidate_id))
        if not points:
            return False
        return self._tracker.update(candidate_id, points)

    # -- one example's history (GEPA's OptimizationState) ------------------------
    def top_evaluations(self, example_key: str, k: int) -> list[EvaluationRecord]:
        """The ``k`` highest-scoring evaluations of one example by any candidate, best first.

        Ties keep the order the candidates were created in. Feeds the
        ``opt_state`` an evaluator may declare, to warm-start from the best so far.
        """
        if k <= 0:
            return []
        with self._lock:
            found = [evals[example_key] for _, evals in sorted(self._evals.items()) if example_key in evals]
        return sorted(found, key=lambda record: record.score, reverse=True)[:k]
