"""Pareto frontiers over candidates' scores.

A single "best" candidate throws away everything a run learns about
specialists: a prompt that is mediocre on average but the only one to solve
three hard examples is exactly the parent reflection should build on. So the
engine keeps a frontier instead: every candidate occupies a set of named
*points* (coordinates, higher is better) and the frontier remembers, per
coordinate, which candidates reach the best value there.

Which coordinates a candidate has is the frontier *type*:

* ``instance``  -- one per example (``"ex:<key>"``), the example's score.
* ``objective`` -- one per objective the evaluator reported (``"obj:<name>"``),
  averaged over the examples that reported it.
* ``hybrid``    -- both of the above, so specialists on examples *and* on
  objectives survive.
* ``cartesian`` -- one per (example, objective) pair (``"ex:<key>|obj:<name>"``),
  the finest grain: a candidate survives if it is best on any single objective
  of any single example.

Candidates are not all scored on the same examples (a budget can run out
mid-valset), so a candidate simply lacks the coordinates it was not scored on;
nothing here assumes full coverage.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

FRONTIER_TYPES = ("instance", "objective", "hybrid", "cartesian")

# Scores are floats produced by arbitrary user code; values this close are the
# same score, so two candidates that both reach it both lead the coordinate.
_REL_TOL = 1e-9
_ABS_TOL = 1e-12

_FALLBACK_OBJECTIVE = "score"


def _tied(a: float, b: float) -> bool:
    return a == b or math.isclose(a, b, rel_tol=_REL_TOL, abs_tol=_ABS_TOL)


def _is_number(value: Any) -> bool:
    """Whether a value can sit on a frontier: a real number that is not NaN.

    NaN compares false with everything, so one NaN score would make a
    coordinate's leaders depend on insertion order; it is dropped instead.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return not math.isnan(value)


def _clean(points: Mapping[str, float]) -> dict[str, float]:
    return {str(k): float(v) for k, v in points.items() if _is_number(v)}


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


# -- coordinates ---------------------------------------------------------------

def _check_type(frontier_type: str) -> None:
    if frontier_type not in FRONTIER_TYPES:
        raise ValueError(f"unknown frontier type {frontier_type!r}; valid types are {', '.join(FRONTIER_TYPES)}")


def _instance_points(example_scores: Mapping[str, float]) -> dict[str, float]:
    return {f"ex:{key}": score for key, score in example_scores.items()}


def _objective_points(example_scores: Mapping[str, float],
                      objective_scores: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    per_objective: dict[str, list[float]] = {}
    for scores in objective_scores.values():
        for name, value in scores.items():
            per_objective.setdefault(str(name), []).append(value)
    points = {f"obj:{name}": sum(values) / len(values) for name, values in per_objective.items()}
    if not points:
        # An evaluator that reports no objectives still deserves a frontier:
        # its one objective is the score itself.
        mean = _mean(example_scores.values())
        if mean is not None:
            points[f"obj:{_FALLBACK_OBJECTIVE}"] = mean
    return points


def _cartesian_points(example_scores: Mapping[str, float],
                      objective_scores: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    points: dict[str, float] = {}
    for key in list(example_scores) + [k for k in objective_scores if k not in example_scores]:
        scores = objective_scores.get(key) or {}
        if scores:
            for name, value in scores.items():
                points[f"ex:{key}|obj:{name}"] = value
        elif key in example_scores:
            points[f"ex:{key}|obj:{_FALLBACK_OBJECTIVE}"] = example_scores[key]
    return points


def frontier_points(frontier_type: str, example_scores: Mapping[str, float],
                    objective_scores: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """The coordinates a candidate occupies on a frontier of ``frontier_type``.

    ``example_scores`` maps example key -> score; ``objective_scores`` maps
    example key -> {objective name -> value} for the examples whose evaluator
    reported objectives. NaN and non-numeric values are left out (see
    ``_is_number``) rather than poisoning comparisons. An empty result means
    the candidate has nothing to stand on yet.
    """
    _check_type(frontier_type)
    scores = {str(k): float(v) for k, v in example_scores.items() if _is_number(v)}
    objectives = {str(k): {str(n): float(v) for n, v in objs.items() if _is_number(v)}
                  for k, objs in objective_scores.items()}
    objectives = {k: objs for k, objs in objectives.items() if objs}
    if frontier_type == "instance":
        return _instance_points(scores)
    if frontier_type == "objective":
        return _objective_points(scores, objectives)
    if frontier_type == "hybrid":
        return {**_instance_points(scores), **_objective_points(scores, objectives)}
    return _cartesian_points(scores, objectives)


# -- the frontier --------------------------------------------------------------

def _leaders_of(values: Mapping[int, float]) -> tuple[float, frozenset[int]]:
    best = max(values.values())
    return best, frozenset(c for c, v in values.items() if _tied(v, best))


@dataclass(frozen=True)
class ParetoFront:
    """A snapshot of a frontier: who leads each coordinate, and at what value.

    ``leaders[key]`` holds every candidate within float tolerance of
    ``best[key]``. ``points`` keeps the full coordinates of the members (the
    candidates that lead at least one key); ``non_dominated`` needs them, and
    only members can matter for it (see there).
    """

    leaders: Mapping[str, frozenset[int]]
    best: Mapping[str, float]
    points: Mapping[int, Mapping[str, float]] = field(default_factory=lambda: MappingProxyType({}))

    def members(self) -> frozenset[int]:
        """Every candidate that leads at least one coordinate."""
        return self._members

    def lead_counts(self) -> dict[int, int]:
        """How many coordinates each member leads (ties count for each tied leader)."""
        counts: dict[int, int] = {}
        for ids in self.leaders.values():
            for c in ids:
                counts[c] = counts.get(c, 0) + 1
        return dict(sorted(counts.items()))

    def non_dominated(self) -> frozenset[int]:
        """Members that no other member dominates.

        Member A dominates member B when A has a value on every key B has, A
        is at least as good as B on each of them, and strictly better on at
        least one. Values are compared exactly, except that a value tied (within
        tolerance) with a key's best counts *as* that best: co-leaders of a key
        are equal there, so near-identical floats never knock a leader out.
        Comparing (snapped) values exactly keeps dominance a strict partial
        order, so the result is non-empty whenever there are members.

        Without a member's points (a front built by hand with no ``points``)
        nothing can be shown dominated, so every member is kept.

        Non-members are not consulted: a candidate that dominated a member
        would tie it on every key that member leads, and so be a member itself.
        """
        return self._non_dominated

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (candidate ids as ints in lists, keys sorted)."""
        return {
            "leaders": {key: sorted(self.leaders[key]) for key in sorted(self.leaders)},
            "best": {key: self.best[key] for key in sorted(self.best)},
            "members": sorted(self.members()),
            "non_dominated": sorted(self.non_dominated()),
            "lead_counts": {str(c): n for c, n in self.lead_counts().items()},
        }

    # Derived views are cached: a front is immutable and selectors ask often.
    @cached_property
    def _members(self) -> frozenset[int]:
        out: set[int] = set()
        for ids in self.leaders.values():
            out.update(ids)
        return frozenset(out)

    @cached_property
    def _non_dominated(self) -> frozenset[int]:
        members = sorted(self._members)
        if not all(c in self.points for c in members):
            return frozenset(members)
        snapped = {c: self._snapped(c) for c in members}
        return frozenset(b for b in members
                         if not any(a != b and _dominates(snapped[a], snapped[b]) for a in members))

    def _snapped(self, candidate_id: int) -> dict[str, float]:
        out = {}
        for key, value in self.points[candidate_id].items():
            best = self.best.get(key)
            out[key] = best if best is not None and _tied(value, best) else value
        return out


def _dominates(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    strictly = False
    for key, vb in b.items():
        va = a.get(key)
        if va is None or va < vb:
            return False
        if va > vb:
            strictly = True
    return strictly


def _freeze(leaders: Mapping[str, frozenset[int]], best: Mapping[str, float],
            points: Mapping[int, Mapping[str, float]]) -> ParetoFront:
    keys = sorted(leaders)
    members = {c for ids in leaders.values() for c in ids}
    return ParetoFront(
        leaders=MappingProxyType({k: leaders[k] for k in keys}),
        best=MappingProxyType({k: best[k] for k in keys}),
        points=MappingProxyType({c: MappingProxyType(dict(points[c])) for c in sorted(members)}),
    )


def pareto_front(points: Mapping[int, Mapping[str, float]]) -> ParetoFront:
    """The frontier of ``points`` (candidate id -> coordinates), from scratch."""
    cleaned = {int(c): _clean(p) for c, p in points.items()}
    by_key: dict[str, dict[int, float]] = {}
    for c, p in cleaned.items():
        for key, value in p.items():
            by_key.setdefault(key, {})[c] = value
    leaders: dict[str, frozenset[int]] = {}
    best: dict[str, float] = {}
    for key, values in by_key.items():
        best[key], leaders[key] = _leaders_of(values)
    return _freeze(leaders, best, cleaned)


class FrontierTracker:
    """A frontier kept up to date as candidates' points arrive one at a time.

    An update only recomputes the coordinates the candidate had or now has, so
    scoring a valset example by example stays cheap; the result always equals
    ``pareto_front`` of the latest points (the tests hold it to that). Not
    thread-safe by itself: the owner (the scoreboard) serialises access.
    """

    def __init__(self) -> None:
        self._points: dict[int, dict[str, float]] = {}
        self._values: dict[str, dict[int, float]] = {}
        self._leaders: dict[str, frozenset[int]] = {}
        self._best: dict[str, float] = {}
        self._front: ParetoFront | None = None

    def update(self, candidate_id: int, points: Mapping[str, float]) -> bool:
        """Replace a candidate's points; returns whether any key's leaders or best value changed.

        A member whose points change without changing who leads where does
        not count as a change (its ``non_dominated`` standing may still move,
        and ``front`` reflects that).
        """
        candidate_id = int(candidate_id)
        new = _clean(points)
        old = self._points.get(candidate_id, {})
        if candidate_id in self._points and new == old:
            return False
        self._points[candidate_id] = new
        changed = False
        for key in set(old) | set(new):
            values = self._values.setdefault(key, {})
            if key in new:
                values[candidate_id] = new[key]
            else:
                values.pop(candidate_id, None)
            before = (self._best.get(key), self._leaders.get(key))
            if values:
                self._best[key], self._leaders[key] = _leaders_of(values)
            else:
                del self._values[key]
                self._best.pop(key, None)
                self._leaders.pop(key, None)
            changed = changed or before != (self._best.get(key), self._leaders.get(key))
        self._front = None
        return changed

    @property
    def front(self) -> ParetoFront:
        if self._front is None:
            self._front = _freeze(self._leaders, self._best, self._points)
        return self._front

    @property
    def points(self) -> dict[int, dict[str, float]]:
        """A copy of every candidate's current points (members or not)."""
        return {c: dict(p) for c, p in self._points.items()}
