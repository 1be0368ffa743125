"""Daemon worker threads whose stuck calls can be abandoned.

``concurrent.futures.ThreadPoolExecutor`` joins its threads when the
interpreter exits, so one evaluator or LM call that never returns keeps the
process alive forever, and a pool cannot lose a thread without losing
capacity. Runs need both: a call that outlives its time limit (or a stop) is
*abandoned*: its future is settled by whoever gave up on it, the pool starts a
replacement thread so the other calls keep their capacity, and the stuck
thread, a daemon, discards whatever it eventually returns and ends.
"""

from __future__ import annotations

import itertools
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

_current = threading.local()


def current_task() -> Task | None:
    """The task the calling worker thread runs (None outside a pool's workers).

    Code deep inside a call (an executor waiting on a worker process) polls
    ``current_task().abandoned`` to stop waiting, and to kill what it started,
    once the pool has given up on the call.
    """
    return getattr(_current, "task", None)


class Task:
    """One submitted call: its future, and while it runs, since when and on which thread."""

    __slots__ = ("fn", "args", "future", "started_at", "abandoned", "finished")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn = fn
        self.args = args
        self.future: Future[Any] = Future()
        self.started_at: float | None = None
        self.abandoned = False
        self.finished = False


class WorkerPool:
    def __init__(self, size: int, name: str) -> None:
        if size < 1:
            raise ValueError(f"a worker pool needs at least one thread, got {size}")
        self.size = size
        self.name = name
        self._queue: queue.SimpleQueue[Task | None] = queue.SimpleQueue()  # None: one thread stops
        self._lock = threading.Lock()
        self._running: set[Task] = set()
        self._threads = 0
        self._spare = 0  # threads waiting for work, less the queued tasks they will take
        self._numbers = itertools.count(1)
        self._closed = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> Task:
        return self.submit_task(Task(fn, args))

    def submit_task(self, task: Task) -> Task:
        """Queue a task made beforehand (so others could wait on its future before it was queued)."""
        with self._lock:
            if self._closed:
                raise RuntimeError(f"the {self.name} pool is shut down")
            # A thread only when no idle one will take the task: a pool grows to what is used at once, not to
            # its size (each thread costs memory: its stack, and for a busy one a malloc arena of its own).
            self._spare -= 1
            if self._spare < 0 and self._threads < self.size:
                self._start_thread()
        self._queue.put(task)
        return task

    def _start_thread(self) -> None:  # called with the lock held
        self._threads += 1
        thread = threading.Thread(target=self._work, name=f"{self.name}-{next(self._numbers)}", daemon=True)
        thread.start()

    def _work(self) -> None:
        while True:
            with self._lock:
                self._spare += 1
            task = self._queue.get()
            if task is None:
                with self._lock:
                    self._threads -= 1
                return
            with self._lock:
                if task.abandoned:  # given up on while it waited: whoever gave up settles its future
                    continue
                task.started_at = time.monotonic()
                self._running.add(task)
            _current.task = task
            try:
                result = task.fn(*task.args)
            except BaseException as exc:  # handed to whoever waits on the future
                outcome: tuple[bool, Any] = (False, exc)
            else:
                outcome = (True, result)
            finally:
                _current.task = None
            with self._lock:
                self._running.discard(task)
                if task.abandoned:  # no longer counted, and a replacement took its place: end quietly
                    return
                task.finished = True
            ok, value = outcome
            if ok:
                task.future.set_result(value)
            else:
                task.future.set_exception(value)

    def abandon(self, task: Task) -> bool:
        """Give up on a running or queued task, keeping the pool's capacity.

        The task's own outcome will be discarded; the caller settles its
        future. Returns False when the task had already finished (its own
        outcome stands) or was abandoned before.
        """
        with self._lock:
            if task.finished or task.abandoned:
                return False
            task.abandoned = True
            if task in self._running:
                self._running.discard(task)
                self._threads -= 1  # the stuck thread no longer counts; it ends when its call does
                if not self._closed:
                    self._start_thread()
        return True

    def claim(self, task: Task) -> bool:
        """Claim a running task's outcome for the call itself, before it acts on it (records a result).

        From then on ``abandon`` refuses the task, so exactly one side settles
        it. False when the task was abandoned first: the call must then drop
        its outcome.
        """
        with self._lock:
            if task.abandoned:
                return False
            task.finished = True
            return True

    @property
    def closed(self) -> bool:
        return self._closed

    def running(self) -> list[Task]:
        with self._lock:
            return list(self._running)

    def shutdown(self) -> None:
        """Stop accepting work; idle threads end, running ones end after their call (they are daemons)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = self._threads
        for _ in range(threads):
            self._queue.put(None)
