"""Choosing the embedded model's thread count from the cores other work leaves free."""

from __future__ import annotations

import pytest

from honing.llm import _threads
from honing.llm._threads import OwnLoad, choose_threads


@pytest.mark.parametrize("other, expected", [
    (0.0, 2), (0.3, 2), (0.6, 1), (1.0, 1), (5.0, 1),  # 2 cores
])
def test_two_cores(other, expected):
    assert choose_threads(2, other) == expected


def test_more_cores_and_a_cap():
    assert choose_threads(8, 2.2) == 6
    assert choose_threads(8, 0.0, limit=4) == 4
    assert choose_threads(8, None) == 8  # load unknown: all the cores
    assert choose_threads(8, None, limit=3) == 3


def test_a_load_hovering_at_a_boundary_keeps_the_current_count():
    # 2 cores: the boundary between 1 and 2 threads is at 0.5 busy cores.
    assert choose_threads(2, 0.45, current=1) == 1
    assert choose_threads(2, 0.25, current=1) == 2
    assert choose_threads(2, 0.55, current=2) == 2
    assert choose_threads(2, 0.75, current=2) == 1


def test_other_load_leaves_out_this_process(monkeypatch):
    monkeypatch.setattr(_threads, "load_average", lambda: 2.5)
    monkeypatch.setattr(_threads._own, "sample", lambda: 2.0)  # this process kept two cores busy
    assert _threads.other_load() == pytest.approx(0.5)
    monkeypatch.setattr(_threads, "load_average", lambda: None)
    assert _threads.other_load() is None


def test_own_load_averages_cpu_time_like_the_load_average(monkeypatch):
    clock = {"wall": 0.0, "cpu": 0.0}
    monkeypatch.setattr(_threads.time, "monotonic", lambda: clock["wall"])
    monkeypatch.setattr(_threads.time, "process_time", lambda: clock["cpu"])
    own = OwnLoad()
    for _ in range(60):  # two busy cores for five minutes, sampled every 5 s
        clock["wall"] += 5.0
        clock["cpu"] += 10.0
        own.sample()
    assert own.sample() == pytest.approx(2.0, abs=0.05)
    clock["wall"] += 60.0  # then a minute idle: decays by e
    assert own.sample() == pytest.approx(2.0 / 2.718, abs=0.05)
