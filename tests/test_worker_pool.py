"""The worker pool grows to the work given at once, not to its size, and keeps its capacity when a call sticks."""

from __future__ import annotations

import threading

from honing._workers import WorkerPool


def _threads(pool: WorkerPool) -> int:
    return sum(t.name.startswith(pool.name + "-") for t in threading.enumerate())


def test_tasks_given_one_at_a_time_reuse_one_thread():
    pool = WorkerPool(8, "pool-one-at-a-time")
    try:
        for i in range(50):
            assert pool.submit(lambda x: x * 2, i).future.result(timeout=5) == 2 * i
        assert _threads(pool) == 1
    finally:
        pool.shutdown()


def test_tasks_given_together_get_threads_up_to_the_size_and_all_run():
    pool = WorkerPool(4, "pool-together")
    release = threading.Event()
    try:
        tasks = [pool.submit(release.wait, 5) for _ in range(6)]
        assert _threads(pool) == 4
        release.set()
        assert all(t.future.result(timeout=5) for t in tasks)
        more = [pool.submit(lambda: 1) for _ in range(3)]  # idle threads take these: no new ones
        assert [t.future.result(timeout=5) for t in more] == [1, 1, 1]
        assert _threads(pool) == 4
    finally:
        pool.shutdown()


def test_an_abandoned_call_is_replaced_so_the_others_still_run():
    pool = WorkerPool(1, "pool-abandon")
    stuck = threading.Event()
    try:
        task = pool.submit(stuck.wait, 10)
        while not pool.running():
            pass
        assert pool.abandon(task)
        assert pool.submit(lambda: "next").future.result(timeout=5) == "next"
    finally:
        stuck.set()
        pool.shutdown()
