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

IdSet = set[int]  # inside FrontierTracker, ``set`` names its method

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
    """A frontier kept up to date one point at a time.

    ``set(candidate, key, value)`` costs O(1) amortized: a new or rising value
    only meets the key's current best, and a key is recomputed from all its
    values only when one of its leaders falls or leaves (which happens to
    averaged objective points while a candidate is still being scored, never
    to per-example points). The result always equals ``pareto_front`` of the
    latest points (the tests hold it to that). Lead counts are kept as they
    change; the snapshot (``front``) and the non-dominated set are built on
    demand and cached until the next change. Not thread-safe by itself: the
    owner (the scoreboard) serialises access.
    """

    def __init__(self) -> None:
        self._points: dict[int, dict[str, float]] = {}
        self._leaders: dict[str, set[int]] = {}
        self._best: dict[str, float] = {}
        self._lead_count: dict[int, int] = {}
        self.version = 0  # bumped whenever some key's leaders or best value change
        self._state = 0  # bumped whenever any point changes
        self._front: ParetoFront | None = None
        self._non_dominated: tuple[int, frozenset[int]] | None = None

    # -- updates ----------------------------------------------------------------------
    def set(self, candidate_id: int, key: str, value: float | None) -> bool:
        """Set (or with None remove) one coordinate; returns whether a leader or best value changed."""
        if value is not None and not _is_number(value):
            value = None
        points = self._points.setdefault(candidate_id, {})
        old = points.get(key)
        if value == old:
            return False
        if value is None:
            del points[key]
        else:
            points[key] = float(value)
        self._state += 1  # points changed: the snapshot and the dominance cache are stale
        self._front = None
        leaders = self._leaders.get(key)
        if leaders is None:
            if value is None:
                return False
            self._leaders[key] = set()
            self._best[key] = float(value)
            return self._replace_leaders(key, {candidate_id})
        if candidate_id in leaders and (value is None or value < old):  # type: ignore[operator]
            return self._recompute(key)
        if value is None:
            return False
        best = self._best[key]
        if value > best:
            self._best[key] = value
            keep = {c for c in leaders if _tied(self._points[c][key], value)}
            keep.add(candidate_id)
            if not self._replace_leaders(key, keep):
                self.version += 1
            return True
        if candidate_id not in leaders and _tied(value, best):
            return self._replace_leaders(key, leaders | {candidate_id})
        return False

    def update(self, candidate_id: int, points: Mapping[str, float]) -> bool:
        """Replace all of a candidate's points; returns whether any key's leaders or best value changed."""
        candidate_id = int(candidate_id)
        new = _clean(points)
        old = self._points.get(candidate_id, {})
        changed = False
        for key in list(old) + [k for k in new if k not in old]:
            changed = self.set(candidate_id, key, new.get(key)) or changed
        self._points.setdefault(candidate_id, {})
        return changed

    def _recompute(self, key: str) -> bool:
        values = {c: p[key] for c, p in self._points.items() if key in p}
        if not values:
            self._replace_leaders(key, set())
            del self._leaders[key], self._best[key]
            return True
        best, leaders = _leaders_of(values)
        changed = best != self._best[key]
        self._best[key] = best
        if self._replace_leaders(key, set(leaders)):
            return True
        if changed:
            self.version += 1
        return changed

    def _replace_leaders(self, key: str, new: IdSet) -> bool:
        old = self._leaders[key]
        if new == old:
            return False
        for c in old - new:
            self._lead_count[c] -= 1
            if not self._lead_count[c]:
                del self._lead_count[c]
        for c in new - old:
            self._lead_count[c] = self._lead_count.get(c, 0) + 1
        self._leaders[key] = new
        self.version += 1
        return True

    # -- reading (the same read interface as ``ParetoFront``) ---------------------------
    def best_value(self, key: str) -> float | None:
        return self._best.get(key)

    @property
    def best(self) -> Mapping[str, float]:
        return MappingProxyType(self._best)

    @property
    def leaders(self) -> Mapping[str, IdSet]:
        return MappingProxyType(self._leaders)

    def members(self) -> frozenset[int]:
        return frozenset(self._lead_count)

    def lead_counts(self) -> Mapping[int, int]:
        """Each member's number of led keys (a live view: do not modify)."""
        return self._lead_count

    def non_dominated(self) -> frozenset[int]:
        """Members no other member dominates (see ``ParetoFront.non_dominated``), cached per version.

        A member that leads some key alone cannot be dominated (a dominator
        would have to tie it there), so only members without a key of their
        own are checked, and only against the members that co-lead every key
        they lead.
        """
        if self._non_dominated is not None and self._non_dominated[0] == self._state:
            return self._non_dominated[1]
        led: dict[int, list[str]] = {}
        for key, ids in self._leaders.items():
            for c in ids:
                led.setdefault(c, []).append(key)
        kept = set()
        for b, keys in led.items():
            if any(len(self._leaders[k]) == 1 for k in keys):
                kept.add(b)
                continue
            rivals: set[int] | None = None
            for k in sorted(keys, key=lambda k: len(self._leaders[k])):
                rivals = (self._leaders[k] - {b}) if rivals is None else rivals & self._leaders[k]
                if not rivals:
                    break
            snapped_b = self._snapped(b)
            if not rivals or not any(_dominates(self._snapped(a), snapped_b) for a in sorted(rivals)):
                kept.add(b)
        result = frozenset(kept)
        self._non_dominated = (self._state, result)
        return result

    def _snapped(self, candidate_id: int) -> dict[str, float]:
        out = {}
        for key, value in self._points[candidate_id].items():
            best = self._best.get(key)
            out[key] = best if best is not None and _tied(value, best) else value
        return out

    @property
    def front(self) -> ParetoFront:
        if self._front is None:
            self._front = _freeze({k: frozenset(v) for k, v in self._leaders.items()}, self._best, self._points)
        return self._front

    @property
    def points(self) -> dict[int, dict[str, float]]:
        """A copy of every candidate's current points (members or not)."""
        return {c: dict(p) for c, p in self._points.items()}
