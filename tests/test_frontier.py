"""Frontier coordinates, from-scratch fronts and the incremental tracker."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honing._frontier import FRONTIER_TYPES, FrontierTracker, ParetoFront, frontier_points, pareto_front

# Scores on a coarse grid so ties are common (ties are where frontiers go wrong).
scores = st.integers(0, 4).map(lambda i: i / 4)
keys = st.sampled_from([f"k{i}" for i in range(5)])
point_sets = st.dictionaries(keys, scores, max_size=5)
populations = st.dictionaries(st.integers(0, 7), point_sets, max_size=8)
finite = st.floats(-1e6, 1e6, allow_nan=False)


# -- frontier_points -------------------------------------------------------------

def test_instance_points_are_one_per_example():
    assert frontier_points("instance", {"a": 0.5, "b": 1.0}, {"a": {"acc": 0.2}}) == {"ex:a": 0.5, "ex:b": 1.0}


def test_objective_points_average_each_objective_over_the_examples_reporting_it():
    points = frontier_points("objective", {"a": 0.0, "b": 1.0, "c": 0.5},
                             {"a": {"acc": 0.2, "len": 1.0}, "b": {"acc": 0.6}})
    assert points == pytest.approx({"obj:acc": 0.4, "obj:len": 1.0})


def test_objective_points_fall_back_to_the_mean_score_without_objectives():
    assert frontier_points("objective", {"a": 0.25, "b": 0.75}, {}) == {"obj:score": 0.5}
    assert frontier_points("objective", {}, {}) == {}


def test_hybrid_is_the_union_of_instance_and_objective():
    ex, objs = {"a": 0.5, "b": 1.0}, {"a": {"acc": 0.3}}
    hybrid = frontier_points("hybrid", ex, objs)
    assert hybrid == {**frontier_points("instance", ex, objs), **frontier_points("objective", ex, objs)}
    assert set(hybrid) == {"ex:a", "ex:b", "obj:acc"}


def test_cartesian_has_one_point_per_example_objective_pair_and_plain_scores_otherwise():
    points = frontier_points("cartesian", {"a": 0.5, "b": 1.0}, {"a": {"acc": 0.3, "len": 0.9}})
    assert points == {"ex:a|obj:acc": 0.3, "ex:a|obj:len": 0.9, "ex:b|obj:score": 1.0}


def test_nan_scores_are_left_out():
    points = frontier_points("hybrid", {"a": math.nan, "b": 1.0}, {"b": {"acc": math.nan, "len": 2.0}})
    assert points == {"ex:b": 1.0, "obj:len": 2.0}


def test_unknown_frontier_type_names_the_valid_ones():
    with pytest.raises(ValueError) as info:
        frontier_points("pareto", {"a": 1.0}, {})
    for name in FRONTIER_TYPES:
        assert name in str(info.value)


@given(st.sampled_from(FRONTIER_TYPES), st.dictionaries(keys, scores, min_size=1),
       st.dictionaries(keys, st.dictionaries(st.sampled_from(["acc", "len"]), scores)))
def test_points_are_never_empty_when_something_was_scored(frontier_type, ex, objs):
    assert frontier_points(frontier_type, ex, objs)


# -- pareto_front ----------------------------------------------------------------

def test_ties_within_float_tolerance_share_the_lead():
    front = pareto_front({0: {"k": 0.1 + 0.2}, 1: {"k": 0.3}, 2: {"k": 0.2}})
    assert front.leaders["k"] == {0, 1}
    assert front.members() == {0, 1}


def test_a_specialist_stays_on_the_instance_front():
    points = {0: {"ex:a": 1.0, "ex:b": 1.0, "ex:c": 0.0},  # best on average
              1: {"ex:a": 0.0, "ex:b": 0.0, "ex:c": 1.0},  # the only one solving c
              2: {"ex:a": 0.5, "ex:b": 0.5, "ex:c": 0.0}}  # dominated by 0
    front = pareto_front(points)
    assert front.members() == {0, 1}
    assert front.lead_counts() == {0: 2, 1: 1}


def test_non_dominated_drops_a_member_that_only_ties_where_another_is_better_elsewhere():
    front = pareto_front({0: {"a": 1.0, "b": 1.0}, 1: {"a": 1.0, "b": 0.5}, 2: {"a": 0.0, "b": 0.0}})
    assert front.members() == {0, 1}
    assert front.non_dominated() == {0}


def test_missing_coverage_protects_from_domination():
    # 1 leads "a" jointly with 0 and was never scored on "b": 0 cannot be shown better.
    front = pareto_front({0: {"a": 1.0, "b": 1.0}, 1: {"a": 1.0}})
    assert front.non_dominated() == {0, 1}
    # ...but a candidate lacking a key the other has cannot dominate it.
    front = pareto_front({0: {"a": 1.0}, 1: {"a": 1.0, "b": 0.0}, 2: {"b": 1.0}})
    assert front.non_dominated() == {0, 1, 2}


def test_near_identical_co_leaders_do_not_dominate_each_other():
    front = pareto_front({0: {"a": 0.1 + 0.2, "b": 1.0}, 1: {"a": 0.3, "b": 1.0}})
    assert front.non_dominated() == {0, 1}


def test_a_front_built_without_points_keeps_every_member():
    front = ParetoFront(leaders={"a": frozenset({0}), "b": frozenset({1})}, best={"a": 1.0, "b": 1.0})
    assert front.non_dominated() == {0, 1}


def test_to_dict_is_json_ready():
    front = pareto_front({3: {"a": 1.0, "b": 0.0}, 1: {"a": 0.0, "b": 1.0}})
    data = json.loads(json.dumps(front.to_dict()))
    assert data["leaders"] == {"a": [3], "b": [1]}
    assert data["best"] == {"a": 1.0, "b": 1.0}
    assert data["members"] == [1, 3]
    assert data["non_dominated"] == [1, 3]
    assert data["lead_counts"] == {"1": 1, "3": 1}


def test_empty_front():
    front = pareto_front({})
    assert front.members() == frozenset() and front.non_dominated() == frozenset()
    assert front.lead_counts() == {}


@settings(max_examples=300)
@given(populations)
def test_leaders_reach_the_best_value_and_nobody_beats_them(population):
    front = pareto_front(population)
    for key, leaders in front.leaders.items():
        values = [p[key] for p in population.values() if key in p]
        assert front.best[key] == max(values)
        assert leaders, key
        for c in leaders:
            assert math.isclose(population[c][key], front.best[key])
        for c, p in population.items():
            if key in p and c not in leaders:
                assert p[key] < front.best[key]
    # every scored key has leaders, and members are exactly those leading something
    assert set(front.leaders) == {k for p in population.values() for k in p}
    assert front.members() == {c for ids in front.leaders.values() for c in ids}
    assert sum(front.lead_counts().values()) == sum(len(ids) for ids in front.leaders.values())


@settings(max_examples=300)
@given(populations)
def test_non_dominated_is_a_non_empty_subset_of_members_and_nobody_dominates_it(population):
    front = pareto_front(population)
    kept = front.non_dominated()
    assert kept <= front.members()
    assert bool(kept) == bool(front.members())
    for b in kept:
        pb = population[b]
        for a, pa in population.items():
            if a == b:
                continue
            dominates = (all(k in pa and pa[k] >= pb[k] for k in pb)
                         and any(pa[k] > pb[k] for k in pb))
            assert not dominates, (a, b)
    # and whatever was dropped really is dominated by some member
    for b in front.members() - kept:
        pb = population[b]
        assert any(all(k in population[a] and population[a][k] >= pb[k] for k in pb)
                   for a in front.members() if a != b)


@settings(max_examples=300)
@given(st.dictionaries(st.integers(0, 7), st.fixed_dictionaries({f"k{i}": scores for i in range(4)}),
                       min_size=1))
def test_a_candidate_best_on_every_key_is_on_the_front(population):
    # (A best *mean* alone does not earn a place: membership means leading some key.)
    best = max(population, key=lambda c: sum(population[c].values()))
    front = pareto_front(population)
    if all(population[best][k] >= max(p[k] for p in population.values()) for k in population[best]):
        assert best in front.members()
        assert best in front.non_dominated()
    for member in front.members():
        assert any(member in front.leaders[key] for key in front.leaders)


@settings(max_examples=300)
@given(populations, st.data())
def test_adding_a_dominated_candidate_changes_nothing(population, data):
    if not population:
        return
    base = data.draw(st.sampled_from(sorted(population)))
    # strictly worse than `base` on a subset of its keys
    sub = {k: v - 0.5 for k, v in population[base].items() if data.draw(st.booleans())}
    before = pareto_front(population)
    after = pareto_front({**population, 100: sub})
    assert after == before
    tracker = FrontierTracker()
    for c, p in population.items():
        tracker.update(c, p)
    assert tracker.update(100, sub) is False
    assert tracker.front == before


# -- FrontierTracker -----------------------------------------------------------

@settings(max_examples=300)
@given(st.lists(st.tuples(st.integers(0, 5), point_sets), max_size=25))
def test_incremental_matches_from_scratch(updates):
    tracker = FrontierTracker()
    latest: dict[int, dict[str, float]] = {}
    for candidate, points in updates:
        before = pareto_front(latest)
        changed = tracker.update(candidate, points)
        latest[candidate] = points
        after = pareto_front(latest)
        assert tracker.front == after
        assert changed == (before.leaders != after.leaders or before.best != after.best)
        assert tracker.front.non_dominated() == after.non_dominated()
        assert tracker.non_dominated() == after.non_dominated()  # the tracker's own (cached) computation
        assert dict(sorted(tracker.lead_counts().items())) == after.lead_counts()


def test_growing_coverage_replaces_points():
    tracker = FrontierTracker()
    assert tracker.update(0, {"ex:a": 1.0}) is True
    assert tracker.update(1, {"ex:a": 0.5}) is False
    assert tracker.update(1, {"ex:a": 0.5, "ex:b": 0.9}) is True
    assert tracker.front.members() == {0, 1}
    assert tracker.update(1, {"ex:a": 0.5, "ex:b": 0.9}) is False  # same points again
    assert tracker.update(0, {"ex:a": 1.0, "ex:b": 1.0}) is True
    assert tracker.front.members() == {0}
    assert tracker.front.leaders["ex:b"] == {0}


def test_replacing_points_can_remove_a_key():
    tracker = FrontierTracker()
    tracker.update(0, {"obj:score": 1.0})
    tracker.update(0, {"obj:acc": 0.5})
    assert set(tracker.front.leaders) == {"obj:acc"}
    assert tracker.front == pareto_front({0: {"obj:acc": 0.5}})


@settings(max_examples=200)
@given(st.lists(st.tuples(st.integers(0, 5), keys, st.one_of(st.none(), scores, finite)), max_size=40))
def test_point_by_point_updates_match_from_scratch(steps):
    tracker = FrontierTracker()
    latest: dict[int, dict[str, float]] = {}
    for candidate, key, value in steps:
        before = pareto_front(latest)
        changed = tracker.set(candidate, key, value)
        point = latest.setdefault(candidate, {})
        if value is None:
            point.pop(key, None)
        else:
            point[key] = value
        after = pareto_front(latest)
        assert tracker.front == after
        assert changed == (before.leaders != after.leaders or before.best != after.best)
        assert tracker.non_dominated() == after.non_dominated()


@given(finite, finite)
def test_tracker_handles_arbitrary_floats(a, b):
    tracker = FrontierTracker()
    tracker.update(0, {"k": a})
    tracker.update(1, {"k": b})
    assert tracker.front == pareto_front({0: {"k": a}, 1: {"k": b}})
    assert tracker.front.best["k"] == max(a, b)
