"""The worker pool grows to the work given at once, not to its size, and keeps its capacity when a call sticks."""

from __future__ import annotations

import threading

import pytest

from honing._workers import WorkerPool


@pytest.fixture
def make_pool():
    pools: list[WorkerPool] = []

    def make(size: int, name: str) -> WorkerPool:
        pools.append(WorkerPool(size, name))
        return pools[-1]

    yield make
    for pool in pools:
        pool.shutdown()


def _threads(pool: WorkerPool) -> int:
    return sum(t.name.startswith(pool.name + "-") for t in threading.enumerate())


def test_tasks_given_one_at_a_time_reuse_one_thread(make_pool):
    pool = make_pool(8, "pool-one-at-a-time")
    for i in range(50):
        assert pool.submit(lambda x: x * 2, i).future.result(timeout=5) == 2 * i
    assert _threads(pool) == 1


def test_tasks_given_together_get_threads_up_to_the_size_and_all_run(make_pool):
    pool = make_pool(4, "pool-together")
    release = threading.Event()
    tasks = [pool.submit(release.wait, 5) for _ in range(6)]
    assert _threads(pool) == 4
    release.set()
    assert all(t.future.result(timeout=5) for t in tasks)
    more = [pool.submit(lambda: 1) for _ in range(3)]  # idle threads take these: no new ones
    assert [t.future.result(timeout=5) for t in more] == [1, 1, 1]
    assert _threads(pool) == 4


def test_an_abandoned_call_is_replaced_so_the_others_still_run(make_pool):
    pool = make_pool(1, "pool-abandon")
    stuck = threading.Event()
    try:
        task = pool.submit(stuck.wait, 10)
        while not pool.running():
            pass
        assert pool.abandon(task)
        assert pool.submit(lambda: "next").future.result(timeout=5) == "next"
    finally:
        stuck.set()
