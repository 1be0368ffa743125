"""Parent, component and minibatch selection."""

from __future__ import annotations

import random
import threading
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from honing._frontier import pareto_front
from honing._selection import (
    AllComponents,
    ComponentSelector,
    CurrentBestSelector,
    EpsilonGreedySelector,
    MinibatchSampler,
    ParentSelector,
    ParetoSelector,
    RoundRobinComponents,
    make_component_selector,
    make_parent_selector,
)
from tests.conftest import run_in_threads

# 0 leads a, b, c; 1 leads d; 2 leads e and ties 0 on c; 3 is dominated by 0.
POINTS = {
    0: {"a": 1.0, "b": 1.0, "c": 1.0, "d": 0.0, "e": 0.0},
    1: {"a": 0.0, "b": 0.0, "c": 0.0, "d": 1.0, "e": 0.0},
    2: {"a": 0.0, "b": 0.0, "c": 1.0, "d": 0.0, "e": 1.0},
    3: {"a": 1.0, "b": 0.5, "c": 0.0, "d": 0.0, "e": 0.0},
}
FRONT = pareto_front(POINTS)
AGGREGATE = {c: sum(p.values()) / len(p) for c, p in POINTS.items()}


def draws(selector, n=200, seed=7, front=FRONT, aggregate=AGGREGATE):
    rng = random.Random(seed)
    return [selector.select(front, aggregate, rng) for _ in range(n)]


# -- parents ---------------------------------------------------------------------

def test_fixture_front_is_what_the_tests_assume():
    assert FRONT.members() == {0, 1, 2, 3}
    assert FRONT.non_dominated() == {0, 1, 2}
    assert FRONT.lead_counts() == {0: 3, 1: 1, 2: 2, 3: 1}


@pytest.mark.parametrize("name", ["pareto", "current_best", "epsilon_greedy"])
def test_selectors_are_deterministic_under_a_seed(name):
    selector = make_parent_selector(name, epsilon=0.5)
    assert draws(selector) == draws(make_parent_selector(name, epsilon=0.5))
    assert isinstance(selector, ParentSelector)


def test_pareto_never_picks_a_dominated_member_and_follows_lead_counts():
    n = 6000
    counts = Counter(draws(ParetoSelector(), n=n, seed=1))
    assert set(counts) == {0, 1, 2}
    # weights 3 : 1 : 2 over the non-dominated members
    for c, share in {0: 3 / 6, 1: 1 / 6, 2: 2 / 6}.items():
        assert abs(counts[c] / n - share) < 0.03, (c, counts)


def test_pareto_ignores_id_iteration_order():
    shuffled = pareto_front(dict(reversed(list(POINTS.items()))))
    assert draws(ParetoSelector(), front=shuffled) == draws(ParetoSelector())


def test_pareto_falls_back_to_the_best_aggregate_on_an_empty_front():
    assert draws(ParetoSelector(), n=5, front=pareto_front({}), aggregate={4: 0.2, 5: 0.9}) == [5] * 5


def test_current_best_takes_the_highest_aggregate_lowest_id_on_ties():
    assert set(draws(CurrentBestSelector(), n=20)) == {0}
    assert CurrentBestSelector().select(FRONT, {7: 0.5, 3: 0.5, 9: 0.1}, random.Random(0)) == 3
    with pytest.raises(ValueError):
        CurrentBestSelector().select(pareto_front({}), {}, random.Random(0))


def test_epsilon_zero_is_always_the_best():
    assert set(draws(EpsilonGreedySelector(0.0), n=300)) == {0}


def test_epsilon_one_is_uniform_over_all_candidates():
    n = 4000
    counts = Counter(draws(EpsilonGreedySelector(1.0), n=n))
    assert set(counts) == set(AGGREGATE)  # dominated 3 included
    for c in AGGREGATE:
        assert abs(counts[c] / n - 0.25) < 0.03


def test_epsilon_explores_about_epsilon_of_the_time():
    n = 4000
    picks = draws(EpsilonGreedySelector(0.2), n=n)
    # exploration hits the best a quarter of the time, so non-best picks are 0.2 * 3/4
    assert abs(sum(p != 0 for p in picks) / n - 0.15) < 0.03


def test_epsilon_must_be_a_probability():
    with pytest.raises(ValueError):
        EpsilonGreedySelector(1.5)


def test_make_parent_selector_names_and_objects():
    assert isinstance(make_parent_selector("pareto"), ParetoSelector)
    assert isinstance(make_parent_selector("current_best"), CurrentBestSelector)
    greedy = make_parent_selector("epsilon_greedy", epsilon=0.3)
    assert isinstance(greedy, EpsilonGreedySelector) and greedy.epsilon == 0.3

    class Mine:
        def select(self, front, aggregate, rng):
            return 42

    mine = Mine()
    assert make_parent_selector(mine) is mine
    for bad in ("best", object(), None):
        with pytest.raises(ValueError) as info:
            make_parent_selector(bad)
        for name in ("pareto", "current_best", "epsilon_greedy"):
            assert name in str(info.value)


# -- components ------------------------------------------------------------------

def test_round_robin_cycles_per_candidate():
    selector = RoundRobinComponents()
    rng = random.Random(0)
    names = ["a", "b", "c"]
    assert [selector.select(0, names, rng) for _ in range(4)] == [["a"], ["b"], ["c"], ["a"]]
    # another candidate has its own counter
    assert selector.select(1, names, rng) == ["a"]
    assert selector.select(0, names, rng) == ["b"]
    assert selector.select(2, [], rng) == []


def test_round_robin_is_thread_safe():
    selector = RoundRobinComponents()
    names = [f"c{i}" for i in range(4)]
    picks: list[str] = []
    lock = threading.Lock()

    def work(_thread):
        for _ in range(250):
            (name,) = selector.select(0, names, random.Random(0))
            with lock:
                picks.append(name)

    run_in_threads(work, 8)
    assert Counter(picks) == {name: 500 for name in names}


def test_all_components_and_factory():
    assert AllComponents().select(0, ("a", "b"), random.Random(0)) == ["a", "b"]
    assert isinstance(make_component_selector("round_robin"), RoundRobinComponents)
    assert isinstance(make_component_selector("all"), AllComponents)
    mine = AllComponents()
    assert make_component_selector(mine) is mine
    assert isinstance(mine, ComponentSelector)
    with pytest.raises(ValueError) as info:
        make_component_selector("random")
    assert "round_robin" in str(info.value) and "all" in str(info.value)


# -- minibatches -----------------------------------------------------------------

@settings(max_examples=200)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**32 - 1))
def test_minibatches_cover_every_example_in_every_epoch(n, size, seed):
    keys = [f"k{i}" for i in range(n)]
    sampler = MinibatchSampler(keys, size, seed)
    expected = min(size, n)
    for epoch in range(3):
        batches = [sampler.batch(epoch * sampler.per_epoch + j) for j in range(sampler.per_epoch)]
        for batch in batches:
            assert len(batch) == expected
            assert len(set(batch)) == expected  # no repeats inside a batch
        assert {k for b in batches for k in b} == set(keys), epoch


def test_an_evenly_divided_epoch_is_a_permutation():
    keys = [f"k{i}" for i in range(12)]
    sampler = MinibatchSampler(keys, 3, seed=5)
    stream = [k for i in range(8) for k in sampler.batch(i)]
    assert sorted(stream[:12]) == sorted(keys) and sorted(stream[12:]) == sorted(keys)


def test_minibatch_size_at_least_the_dataset_is_the_whole_dataset():
    keys = ["a", "b", "c"]
    assert MinibatchSampler(keys, 10).batch(0) == keys
    assert MinibatchSampler(keys, 3).batch(7) == keys


def test_minibatches_are_shuffled_and_depend_only_on_their_number():
    keys = [f"k{i}" for i in range(20)]

    def run(seed, order=range(8)):
        sampler = MinibatchSampler(keys, 5, seed)
        return {i: sampler.batch(i) for i in order}

    assert run(3) == run(3)
    assert run(3) == run(3, order=[7, 2, 5, 0, 1, 6, 3, 4])  # any order of asking, same batches
    assert run(3) != run(4)
    assert [k for i in range(4) for k in run(3)[i]] != keys  # not the dataset order


def test_minibatch_sampler_is_thread_safe():
    keys = [f"k{i}" for i in range(10)]
    sampler = MinibatchSampler(keys, 5, seed=1)
    expected = {i: MinibatchSampler(keys, 5, seed=1).batch(i) for i in range(60)}
    found: dict[int, list[str]] = {}
    lock = threading.Lock()

    def work(start):
        for i in range(start, 60, 6):
            batch = sampler.batch(i)
            with lock:
                found[i] = batch

    run_in_threads(work, 6)
    assert found == expected


def test_minibatch_size_must_be_positive():
    with pytest.raises(ValueError):
        MinibatchSampler(["a"], 0)


def test_round_robin_children_go_on_from_the_component_after_the_one_their_proposal_edited():
    rr = RoundRobinComponents()
    names = ["a", "b", "c"]
    assert rr.select(0, names, random.Random(0)) == ["a"]  # the seed starts at the first
    rr.start_after(1, ["a"], names)  # candidate 1 was made by rewriting "a"
    assert rr.select(1, names, random.Random(0)) == ["b"]
    rr.start_after(2, ["c"], names)
    assert rr.select(2, names, random.Random(0)) == ["a"]  # wraps around
    rr.start_after(2, ["a"], names)  # only the first note counts
    assert rr.select(2, names, random.Random(0)) == ["b"]
    resumed = RoundRobinComponents()  # a resumed run: where each child started, then how often it was a parent
    resumed.start_after(1, ["a"], names)
    resumed.restore({1: 2})
    assert resumed.select(1, names, random.Random(0)) == ["a"]
