"""The derived views of a stored run (pool, scores, best, frontier, trajectory), kept as rows arrive.

``RunReader`` feeds it the score columns of each record -- never side info,
outputs or prompts -- so a run of a million evaluations costs a million small
updates, not a million decoded records. Each view is computed once and cached
until a record that can change it arrives.

The rules are the engine's ``ScoreBoard``'s, and a test holds them equal
(``tests/store/test_views_match_the_engine.py``): the pool is what
``honing._replay.PoolRule`` says (the seeds plus every candidate admitted by
its validation race; in a store from before races, every child of an accepted
proposal); the first record of a (candidate, example) pair stands; a
candidate's score is its mean over the numeric scores of the validation
examples it was scored on; the best candidate prefers those scored on the
whole valset (lowest id on ties); the frontier is ``honing._frontier``'s
over the pool. Why not replay into a ``ScoreBoard`` itself: it maintains the
frontier and a top list per example on every evaluation, which the engine
needs and a viewer does not -- replaying the million evaluations of
``bench/store.py --large`` into it took about 10 s, against about 4 s here.
"""

from __future__ import annotations

import json
import math
from array import array
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._records import Origin

VAL_SPLITS = frozenset({"val", "single"})


class RunViews:
    def __init__(self, frontier_type: str, *, legacy: bool = False) -> None:
        from .._replay import PoolRule

        self.frontier_type = frontier_type
        self._rule = PoolRule(legacy=legacy)
        self.metric_calls = 0
        self.evaluations = 0
        self._known: set[int] = set()  # candidates seen
        self._pool: dict[int, None] = {}  # in the order candidates were admitted (the engine's order)
        self._val: dict[int, dict[str, float]] = {}  # candidate -> val key -> score
        self._objectives: dict[int, dict[str, dict[str, float]]] = {}
        self._keys: dict[str, int] = {}  # val key -> index (interned)
        self._key_names: list[str] = []
        self._means: dict[int, float | None] = {}
        self._weights: dict[str, int] = {}  # validation examples given more than once (the engine's weights)
        self._front: Any = None
        self._trajectory: dict[str, list[dict[str, Any]]] | None = None
        # the val rows in write order, for the trajectory (20 bytes a row)
        self._log_calls = array("q")
        self._log_cid = array("q")
        self._log_key = array("i")

    # -- feeding -------------------------------------------------------------------
    def add_candidate(self, cid: int, origin: Origin) -> None:
        self._known.add(cid)
        for admitted in self._rule.candidate(cid, origin):
            self._admit(admitted)

    def add_proposal(self, accepted: bool, child_id: int | None) -> None:
        for admitted in self._rule.proposal(accepted, child_id):
            self._admit(admitted)

    def add_admission(self, cid: int, admitted: bool) -> None:
        for entered in self._rule.admission(cid, admitted):
            self._admit(entered)

    def add_evaluations(self, rows: list[tuple[Any, ...]]) -> None:
        """Score rows ``(seq, candidate_id, example_key, split, score, objective_scores, cached)`` in write order.

        The hot loop of opening a large run (a million rows), so it binds what it uses to locals.
        """
        keys, names, val, means, pool = self._keys, self._key_names, self._val, self._means, self._pool
        log_calls, log_cid, log_key = self._log_calls, self._log_cid, self._log_key
        calls = self.metric_calls
        front_dirty = False
        nan = math.nan
        for _seq, cid, key, split, score, objectives, cached in rows:
            if not cached:
                calls += 1
            if split != "val" and split != "single":
                continue
            index = keys.get(key)
            if index is None:
                index = keys[key] = len(names)
                names.append(key)
            key = names[index]
            value = nan if score is None else score
            scores = val.get(cid)
            if scores is None:
                scores = val[cid] = {}
            elif key in scores:
                continue  # a pair is scored once; the first record stands
            scores[key] = value
            if objectives is not None and objectives != "{}":
                self._add_objectives(cid, key, objectives)
            means.pop(cid, None)
            log_calls.append(calls)
            log_cid.append(cid)
            log_key.append(index)
            front_dirty = front_dirty or cid in pool
        self.evaluations += len(rows)
        self.metric_calls = calls
        self._trajectory = None
        if front_dirty:
            self._front = None

    def _add_objectives(self, cid: int, key: str, text: str) -> None:
        try:
            values = json.loads(text)
        except ValueError:
            return
        if isinstance(values, dict) and values:
            self._objectives.setdefault(cid, {})[key] = values
        else:
            self._objectives.get(cid, {}).pop(key, None)

    def set_weights(self, weights: Any) -> None:
        """How often each duplicated validation example was given (the run's session data), as the engine counts it.

        Read from a file that may be damaged or hostile: anything but positive integers is ignored.
        """
        clean = {}
        if isinstance(weights, dict):
            clean = {k: int(w) for k, w in weights.items()
                     if isinstance(k, str) and isinstance(w, int) and not isinstance(w, bool) and 1 < w < 2**31}
        if clean != self._weights:
            self._weights = clean
            self._means.clear()
            self._trajectory = None

    def _admit(self, cid: int) -> None:
        if cid not in self._pool:
            self._pool[cid] = None
            self._front = None
            self._trajectory = None

    # -- views ---------------------------------------------------------------------
    @property
    def pool(self) -> list[int]:
        return list(self._pool)

    def in_pool(self, cid: int) -> bool:
        return cid in self._pool

    @property
    def val_keys(self) -> list[str]:
        return sorted(self._keys)

    def val_scores(self, cid: int) -> dict[str, float]:
        return dict(sorted(self._val.get(cid, {}).items()))

    def val_objective_scores(self, cid: int) -> dict[str, dict[str, float]]:
        return {k: dict(v) for k, v in sorted(self._objectives.get(cid, {}).items())}

    def coverage(self, cid: int) -> int:
        return len(self._val.get(cid, ()))

    def val_mean(self, cid: int) -> float | None:
        """The mean of the candidate's numeric validation scores (NaN and failures without a score left out),
        a duplicated validation example counted as often as it was given."""
        if cid not in self._means:
            self._means[cid] = _mean(self._val.get(cid, {}), self._weights)
        return self._means[cid]

    def best_id(self) -> int | None:
        """Highest mean validation score, preferring candidates scored on every validation example."""
        pool = self.pool
        means = {cid: m for cid in pool if (m := self.val_mean(cid)) is not None}
        if not means:
            return next(iter(self._pool), None)  # the first admitted
        n_val = len(self._keys)
        full = {c: s for c, s in means.items() if self.coverage(c) == n_val}
        ranked = full or means
        return max(sorted(ranked), key=lambda c: ranked[c])

    def front(self) -> Any:
        """The Pareto front of the pool, computed as the engine does (``honing._frontier``)."""
        if self._front is None:
            from .._frontier import frontier_points, pareto_front

            points = {}
            for cid in self.pool:
                found = frontier_points(self.frontier_type, self._val.get(cid, {}), self._objectives.get(cid, {}))
                if found:
                    points[cid] = found
            self._front = pareto_front(points)
        return self._front

    def trajectory(self) -> dict[str, list[dict[str, Any]]]:
        """Score against metric calls.

        ``points``: each pool candidate when its validation scoring completed (its
        mean then); ``best``: the running best of those -- the curve a user asks
        about ("how good was the run after N evaluator calls?").
        """
        if self._trajectory is None:
            self._trajectory = self._build_trajectory()
        return self._trajectory

    def _build_trajectory(self) -> dict[str, list[dict[str, Any]]]:
        n_val = len(self._keys)
        seen: dict[int, set[int]] = {}
        points: list[dict[str, Any]] = []
        best: list[dict[str, Any]] = []
        pool = self._pool
        for calls, cid, key in zip(self._log_calls, self._log_cid, self._log_key):
            if cid not in pool:
                continue
            scored = seen.setdefault(cid, set())
            scored.add(key)
            if len(scored) == n_val and n_val:
                mean = self.val_mean(cid)
                if mean is None:
                    continue
                points.append({"calls": calls, "id": cid, "score": mean})
                if not best or mean > best[-1]["score"]:
                    best.append({"calls": calls, "id": cid, "score": mean})
        return {"points": points, "best": best}


def _mean(scores: dict[str, float], weights: dict[str, int]) -> float | None:
    total = count = 0.0
    for key, value in scores.items():
        if not math.isnan(value):
            weight = weights.get(key, 1)
            total += value * weight
            count += weight
    return total / count if count else None
