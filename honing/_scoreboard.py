"""The in-memory index of a run: candidates, their evaluations, the pool and its frontier.

Built from records (``_replay`` feeds a stored run through the same methods,
so a resumed run and a viewer rebuild exactly the same view) and updated as
new records arrive. Everything derived is *maintained*, not recomputed: one
evaluation updates one candidate's running sums and, for a pool member, the
frontier coordinates that evaluation touches, in O(1) amortized; the means,
the best candidate and the lead counts are read in O(1). Nothing on the
evaluation path is proportional to the valset or to the number of candidates
(the issue that motivated this: scoring one candidate on 10,000 examples
rebuilt its points over the whole valset after every evaluation).

Thread-safe: one re-entrant lock, held only for these small updates.
Validation examples may carry weights (a duplicated example counts as often
as it appears in the valset, but is evaluated once).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import MappingProxyType

from ._frontier import FRONTIER_TYPES, FrontierTracker, ParetoFront, _is_number
from ._records import CandidateRecord, EvaluationRecord, candidate_hash

_SCORE = "score"  # the objective a candidate stands on when its evaluator reports none
TOP_KEPT = 64  # best evaluations kept per example (GEPA's opt_state asks for 30 by default)


def _rank(record: EvaluationRecord) -> tuple[float, int]:
    """Sort key: higher scores first, then older candidates; unusable scores last."""
    return (-(record.score if _is_number(record.score) else float("-inf")), record.candidate_id)


class _Stats:
    """Running validation sums of one candidate."""

    __slots__ = ("weighted", "weight", "count", "objectives")

    def __init__(self) -> None:
        self.weighted = 0.0
        self.weight = 0
        self.count = 0
        self.objectives: dict[str, list[float]] = {}  # name -> [weighted sum, weight]

    def mean(self) -> float | None:
        return self.weighted / self.weight if self.weight else None


class _IdFlags:
    """A set of candidate ids as one bit each: ids are dense, and a long run retires nearly all of them."""

    __slots__ = ("_bits",)

    def __init__(self) -> None:
        self._bits = bytearray()

    def add(self, cid: int) -> None:
        if cid < 0:
            raise ValueError(f"candidate ids are not negative, got {cid}")
        byte = cid >> 3
        if byte >= len(self._bits):
            self._bits.extend(bytes(byte + 1 - len(self._bits)))
        self._bits[byte] |= 1 << (cid & 7)

    def discard(self, cid: int) -> None:
        if cid in self:
            self._bits[cid >> 3] &= ~(1 << (cid & 7)) & 0xFF

    def __contains__(self, cid: object) -> bool:
        return (isinstance(cid, int) and 0 <= cid >> 3 < len(self._bits)
                and bool(self._bits[cid >> 3] >> (cid & 7) & 1))


class ScoreBoard:
    def __init__(self, val_keys: Sequence[str], frontier_type: str,
                 weights: Mapping[str, int] | None = None, *, keep_top: bool = True) -> None:
        if frontier_type not in FRONTIER_TYPES:
            raise ValueError(f"unknown frontier type {frontier_type!r}; valid types are {', '.join(FRONTIER_TYPES)}")
        self.val_keys = tuple(dict.fromkeys(val_keys))
        self._weights = {k: int((weights or {}).get(k, 1)) for k in self.val_keys}
        self.frontier_type = frontier_type
        self._instance = frontier_type in ("instance", "hybrid")
        self._objective = frontier_type in ("objective", "hybrid")
        self._cartesian = frontier_type == "cartesian"
        self._lock = threading.RLock()
        self._candidates: dict[int, CandidateRecord] = {}
        self._by_hash: dict[int, int] = {}  # the content hash's 128 bits (an int is half the size of its hex string)
        self._retired = _IdFlags()  # lost for good or for now; their records are in the store (``retire``)
        self._recorded = 0  # evaluations recorded so far, in this board's order
        self._discovered: dict[int, int] = {}  # candidate -> evaluations recorded when it won its minibatch
        self._next_id = 0
        self._evals: dict[int, dict[str, EvaluationRecord]] = {}
        self._stats: dict[int, _Stats] = {}
        self._pool: list[int] = []
        self._in_pool: set[int] = set()
        self._means: dict[int, float] = {}  # pool members with at least one validation score
        self._best_complete: int | None = None  # the best pool member scored on every validation example
        self._example_best: dict[str, float] = {}  # per validation example, the best score in the pool
        # per example, its best evaluations so far, best first (only kept when an evaluator asks for them)
        self._top: dict[str, list[tuple[tuple[float, int], EvaluationRecord]]] | None = {} if keep_top else None
        self._point_keys: dict[str, str] = {}  # example key -> its frontier coordinate, one string each
        self.frontier = FrontierTracker()

    @contextmanager
    def locked(self) -> Iterator[ScoreBoard]:
        """Hold the board still (e.g. while a selector reads its live views)."""
        with self._lock:
            yield self

    # -- candidates -------------------------------------------------------
    def add_candidate(self, record: CandidateRecord) -> None:
        with self._lock:
            self._retired.discard(record.id)
            self._candidates[record.id] = record
            self._by_hash.setdefault(int(record.content_hash, 16), record.id)
            self._evals.setdefault(record.id, {})
            self._next_id = max(self._next_id, record.id + 1)

    def candidate(self, candidate_id: int) -> CandidateRecord:
        with self._lock:
            return self._candidates[candidate_id]

    def find(self, components: Mapping[str, str]) -> int | None:
        """The id of an existing candidate with exactly these components, if any (retired ones included)."""
        digest = int(candidate_hash(dict(components)), 16)
        with self._lock:
            return self._by_hash.get(digest)

    def next_id(self) -> int:
        with self._lock:
            return self._next_id

    def retire(self, candidate_id: int) -> bool:
        """Forget a candidate that is out of the search: its text, its evaluations and their side info.

        For a child that lost its minibatch (the engine's only use), only
        ``find`` still knows its text (so it is never scored twice on the
        same example); the store keeps every record, and ``recall`` brings
        them back if the same text is proposed again. What a long run holds
        in memory then grows with the pool, not with the proposals made.
        Pool members are never retired. Returns whether it was.
        """
        with self._lock:
            if candidate_id in self._in_pool or candidate_id not in self._candidates:
                return False
            del self._candidates[candidate_id]
            self._evals.pop(candidate_id, None)
            self._stats.pop(candidate_id, None)
            self._retired.add(candidate_id)
            return True

    def is_retired(self, candidate_id: int) -> bool:
        return candidate_id in self._retired

    def recall(self, record: CandidateRecord, evaluations: Sequence[EvaluationRecord]) -> None:
        """Bring a retired candidate back with its stored evaluations (the store's copies)."""
        with self._lock:
            self.add_candidate(record)
            for evaluation in evaluations:
                self.add_evaluation(evaluation, recalled=True)

    def mark_discovered(self, candidate_id: int, evaluations: int | None = None) -> None:
        """Date a minibatch winner: how many evaluations had been recorded when it won (GEPA's discovery count)."""
        with self._lock:
            self._discovered.setdefault(candidate_id, self._recorded if evaluations is None else evaluations)

    def discovered(self, candidate_id: int) -> int:
        return self._discovered.get(candidate_id, 0)

    @property
    def candidates(self) -> list[CandidateRecord]:
        with self._lock:
            return [self._candidates[i] for i in sorted(self._candidates)]

    @property
    def candidate_count(self) -> int:
        return len(self._candidates)

    # -- evaluations ------------------------------------------------------
    def add_evaluation(self, record: EvaluationRecord, *, recalled: bool = False) -> bool:
        """Record an evaluation; returns whether the frontier's leaders or best values changed.

        ``recalled``: a retired candidate's stored evaluation coming back (it
        was counted, and ranked among the best, when it was first recorded).
        """
        cid, key = record.candidate_id, record.example_key
        with self._lock:
            if cid in self._retired:  # finished after its candidate was retired (or replayed after): the store has it
                self._recorded += 1
                self._rank(record)
                return False
            evals = self._evals.setdefault(cid, {})
            if key in evals:
                return False  # a (candidate, example) pair is scored once; the first record stands
            evals[key] = record
            if not recalled:  # a recalled one was counted, and ranked among the best, when first recorded
                self._recorded += 1
                self._rank(record)
            weight = self._weights.get(key)
            if weight is None:
                return False  # a training example: it never counts towards validation views
            stats = self._stats.setdefault(cid, _Stats())
            score = record.score if _is_number(record.score) else None
            if score is not None:
                stats.weighted += weight * score
                stats.weight += weight
            stats.count += 1
            for name, value in record.objective_scores.items():
                if _is_number(value):
                    sums = stats.objectives.setdefault(name, [0.0, 0])
                    sums[0] += weight * value
                    sums[1] += weight
            if cid not in self._in_pool:
                return False
            self._refresh_mean(cid, stats)
            changed = self._place(cid, record, stats)
            if stats.count == len(self.val_keys):
                self._consider_best(cid)
            return changed

    def _rank(self, record: EvaluationRecord) -> None:
        """Keep ``record`` among its example's best evaluations (for ``opt_state``) if it is one of them."""
        if self._top is None:
            return
        top = self._top.setdefault(record.example_key, [])
        entry = (_rank(record), record)
        if len(top) < TOP_KEPT or entry[0] < top[-1][0]:
            bisect.insort(top, entry, key=lambda item: item[0])
            del top[TOP_KEPT:]

    def evaluation(self, candidate_id: int, key: str) -> EvaluationRecord | None:
        with self._lock:
            return self._evals.get(candidate_id, {}).get(key)

    def evaluations(self, candidate_id: int) -> dict[str, EvaluationRecord]:
        with self._lock:
            return dict(self._evals.get(candidate_id, {}))

    def top_evaluations(self, example_key: str, k: int) -> list[EvaluationRecord]:
        """The ``k`` highest-scoring evaluations of one example by any candidate, best first.

        Ties keep the order the candidates were created in. Feeds the
        ``opt_state`` an evaluator may declare, to warm-start from the best so
        far; the best ``TOP_KEPT`` per example are kept as evaluations arrive,
        so asking costs O(k), not a scan of every candidate.
        """
        if k <= 0:
            return []
        with self._lock:
            if k <= TOP_KEPT and self._top is not None:
                return [record for _, record in self._top.get(example_key, [])[:k]]
            found = [evals[example_key] for _, evals in sorted(self._evals.items()) if example_key in evals]
        return sorted(found, key=_rank)[:k]

    # -- the pool of accepted candidates ------------------------------------
    def admit(self, candidate_id: int) -> bool:
        """Put a candidate into the pool; returns whether the frontier changed."""
        with self._lock:
            if candidate_id in self._in_pool:
                return False
            self._pool.append(candidate_id)
            self._in_pool.add(candidate_id)
            stats = self._stats.get(candidate_id)
            if stats is None:
                return False
            self._refresh_mean(candidate_id, stats)
            changed = False
            for key, record in self._evals[candidate_id].items():
                if key in self._weights:
                    changed = self._place(candidate_id, record, stats, objectives=False) or changed
            changed = self._place_objectives(candidate_id, stats) or changed
            if stats.count == len(self.val_keys):
                self._consider_best(candidate_id)
            return changed

    @property
    def pool(self) -> list[int]:
        """Pool members in the order they were admitted."""
        with self._lock:
            return list(self._pool)

    def admitted_since(self, mark: int) -> list[int]:
        """Pool members admitted after the pool had ``mark`` members."""
        with self._lock:
            return self._pool[mark:]

    def ancestors(self, candidate_id: int) -> set[int]:
        """Every candidate this one descends from (O(lineage))."""
        seen: set[int] = set()
        with self._lock:
            stack = list(self._candidates[candidate_id].parents)
            while stack:
                cid = stack.pop()
                if cid not in seen and cid in self._candidates:
                    seen.add(cid)
                    stack.extend(self._candidates[cid].parents)
        return seen

    def in_pool(self, candidate_id: int) -> bool:
        return candidate_id in self._in_pool

    @property
    def pool_size(self) -> int:
        return len(self._pool)

    def val_scores(self, candidate_id: int) -> dict[str, float]:
        """Validation scores by example key, in valset order (O(valset): for reports, not hot paths)."""
        with self._lock:
            evals = self._evals.get(candidate_id, {})
            return {k: evals[k].score for k in self.val_keys if k in evals}

    def val_objective_scores(self, candidate_id: int) -> dict[str, dict[str, float]]:
        with self._lock:
            evals = self._evals.get(candidate_id, {})
            return {k: dict(evals[k].objective_scores) for k in self.val_keys
                    if k in evals and evals[k].objective_scores}

    def objective_means(self, candidate_id: int) -> dict[str, float]:
        """Each reported objective's (weighted) mean over the validation examples that reported it."""
        with self._lock:
            stats = self._stats.get(candidate_id)
            return {} if stats is None else {n: s / w for n, (s, w) in stats.objectives.items() if w}

    def val_mean(self, candidate_id: int) -> float | None:
        with self._lock:
            stats = self._stats.get(candidate_id)
            return None if stats is None else stats.mean()

    def coverage(self, candidate_id: int) -> int:
        """How many validation examples the candidate was scored on."""
        with self._lock:
            stats = self._stats.get(candidate_id)
            return 0 if stats is None else stats.count

    def is_complete(self, candidate_id: int) -> bool:
        return self.coverage(candidate_id) == len(self.val_keys)

    def aggregates(self) -> Mapping[int, float]:
        """Mean validation score of each pool member that has one (a read-only live view)."""
        return MappingProxyType(self._means)

    def best_id(self) -> int | None:
        """Highest mean validation score, preferring candidates scored on the whole valset (lowest id on ties)."""
        with self._lock:
            if self._best_complete is not None:
                return self._best_complete
            if not self._means:
                return self._pool[0] if self._pool else None
            return min(self._means, key=lambda c: (-self._means[c], c))

    def best_score(self) -> float | None:
        best = self.best_id()
        return None if best is None else self.val_mean(best)

    def example_best(self, key: str) -> float | None:
        """The best score any pool member has on one validation example."""
        return self._example_best.get(key)

    def prospective_points(self, candidate_id: int) -> dict[str, float]:
        """The frontier coordinates a candidate would occupy if admitted (O(valset)).

        Exactly what ``admit`` would place, so "would it lead somewhere?" can be
        asked before deciding.
        """
        with self._lock:
            points: dict[str, float] = {}
            evals = self._evals.get(candidate_id, {})
            for key in self.val_keys:
                record = evals.get(key)
                if record is None:
                    continue
                if self._instance and _is_number(record.score):
                    points[f"ex:{key}"] = record.score
                elif self._cartesian:
                    reported = {n: v for n, v in record.objective_scores.items() if _is_number(v)}
                    for name, value in reported.items():
                        points[f"ex:{key}|obj:{name}"] = value
                    if not reported and _is_number(record.score):
                        points[f"ex:{key}|obj:{_SCORE}"] = record.score
            stats = self._stats.get(candidate_id)
            if self._objective and stats is not None:
                means = {n: w_sum / w for n, (w_sum, w) in stats.objectives.items() if w}
                if means:
                    points.update({f"obj:{n}": v for n, v in means.items()})
                elif stats.mean() is not None:
                    points[f"obj:{_SCORE}"] = stats.mean()  # type: ignore[assignment]
            return points

    @property
    def front(self) -> ParetoFront:
        """A frozen snapshot of the frontier (built on demand, cached until it changes)."""
        with self._lock:
            return self.frontier.front

    # -- maintenance --------------------------------------------------------
    def _refresh_mean(self, cid: int, stats: _Stats) -> None:
        mean = stats.mean()
        if mean is not None:
            self._means[cid] = mean

    def _consider_best(self, cid: int) -> None:
        best = self._best_complete
        if best is None or (self._means.get(cid, float("-inf")), -cid) > (self._means.get(best, float("-inf")), -best):
            self._best_complete = cid

    def _place(self, cid: int, record: EvaluationRecord, stats: _Stats, objectives: bool = True) -> bool:
        """Put one validation evaluation of a pool member on the frontier."""
        changed = False
        key, score = record.example_key, record.score
        if _is_number(score) and score > self._example_best.get(key, float("-inf")):
            self._example_best[key] = score
        if self._instance:
            point = self._point_keys.get(key)
            if point is None:
                point = self._point_keys[key] = f"ex:{key}"
            changed = self.frontier.set(cid, point, score if _is_number(score) else None)
        elif self._cartesian:
            reported = {n: v for n, v in record.objective_scores.items() if _is_number(v)}
            if reported:
                for name, value in reported.items():
                    changed = self.frontier.set(cid, f"ex:{key}|obj:{name}", value) or changed
            elif _is_number(score):
                changed = self.frontier.set(cid, f"ex:{key}|obj:{_SCORE}", score)
        if objectives:
            changed = self._place_objectives(cid, stats) or changed
        return changed

    def _place_objectives(self, cid: int, stats: _Stats) -> bool:
        if not self._objective:
            return False
        means = {n: s / w for n, (s, w) in stats.objectives.items() if w}
        if not means:  # no objectives reported: the candidate stands on its mean score
            return self.frontier.set(cid, f"obj:{_SCORE}", stats.mean())
        changed = False
        if _SCORE not in means:  # the fallback point goes once real objectives appear
            changed = self.frontier.set(cid, f"obj:{_SCORE}", None)
        for name, value in means.items():
            changed = self.frontier.set(cid, f"obj:{name}", value) or changed
        return changed
