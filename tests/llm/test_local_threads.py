"""Choosing the embedded model's thread count from the cores other work leaves free."""

from __future__ import annotations

import pytest

from honing.llm import _threads
from honing.llm._threads import OwnLoad, choose_threads, threads_for


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


def test_the_first_count_follows_the_recent_load_and_a_change_needs_both():
    assert threads_for(2, None, recent=0.1, steady=2.0) == 2  # a minute-old load average is ignored at first
    assert threads_for(2, None, recent=None, steady=2.0) == 1  # off Linux: the load average
    assert threads_for(2, 2, recent=1.5, steady=0.1) == 2  # a burst
    assert threads_for(2, 2, recent=1.5, steady=1.2) == 1
    assert threads_for(2, 1, recent=0.1, steady=1.5) == 1  # the load average has not caught up yet
    assert threads_for(2, 1, recent=0.1, steady=0.1) == 2


def test_recent_other_load_reads_proc_stat(monkeypatch):
    samples = iter([(100.0, 400.0), (250.0, 600.0)])  # 150 of 200 jiffies busy: 1.5 of 2 cores
    monkeypatch.setattr(_threads, "_cpu_times", lambda: next(samples))
    monkeypatch.setattr(_threads.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(_threads.time, "sleep", lambda s: None)
    cpu = iter([10.0, 10.0])  # this process used nothing meanwhile
    monkeypatch.setattr(_threads.time, "process_time", lambda: next(cpu))
    assert _threads.recent_other_load(1.0) == pytest.approx(1.5)
    monkeypatch.setattr(_threads, "_cpu_times", lambda: None)
    assert _threads.recent_other_load(1.0) is None


def test_other_cpu_leaves_out_this_process_and_its_children(monkeypatch):
    """A demo's own sandboxed evaluations are not 'other programs' (they made an idle machine read as busy)."""
    import os

    stats = iter([(100.0, 400.0), (300.0, 600.0)])  # 200 of 200 jiffies busy: both cores, for 10 s
    clock = iter([0.0, 10.0])
    own = iter([os.times_result((1.0, 0.0, 0.0, 0.0, 0.0)),  # user, system, children user, children system
                os.times_result((11.0, 0.0, 5.0, 0.0, 0.0))])  # 10 s itself + 5 s in children since
    monkeypatch.setattr(_threads, "_cpu_times", lambda: next(stats))
    monkeypatch.setattr(_threads.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(_threads.os, "times", lambda: next(own))
    monkeypatch.setattr(_threads.os, "cpu_count", lambda: 2)
    sampler = _threads.OtherCPU()
    assert sampler.sample() == pytest.approx(0.5)  # 2 busy cores - 1.5 of this process tree's
