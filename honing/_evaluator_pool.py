"""Runs evaluations on worker threads under the budget, never twice per pair, never forever.

``evaluate(candidate_id, keys)`` is the only way the engine calls the user's
evaluator. For each example key it reuses a recorded evaluation, joins one
already in flight, or takes a budget unit and queues the evaluation on the
workers. A worker writes the evaluation's start to the store right before it
calls the evaluator (not when it is queued: a start row is an *attempt*, and
an evaluation that waited in the queue when the process died was never
attempted). Keys the budget cannot cover, and evaluations cut short by a
stop, are simply left out of the returned mapping.

An evaluation cut short by a stop is *not* recorded as a result: it was never
scored, so a resumed run scores it then (the start rows count the attempts).
A retried evaluation runs alone, with no other evaluation beside it: if it
kills the process again, it alone is charged with the attempt, and after
``MAX_ATTEMPTS`` it is recorded as failed instead of killing every resume.
An evaluation that outlives ``evaluation_timeout_s`` is recorded as a failed
evaluation with whatever it logged so far, its worker is abandoned and
replaced, and the run goes on.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from typing import Any

from ._budget import Budget
from ._evaluation import Outcome
from ._log import LogContext, use_context
from ._records import EvaluationRecord, Split
from ._scoreboard import ScoreBoard
from ._workers import Task, WorkerPool
from .store import Store

Refine = Callable[[int, dict[str, str], str, Outcome], Outcome]  # (candidate, components, example key, first outcome)

#: How many times an evaluation may be started in all (across resumed sessions) before it counts as failed:
#: an evaluator that kills its process on one example must not make every resume die again.
MAX_ATTEMPTS = 3


class EvaluatorPool:
    def __init__(
        self,
        *,
        adapter: Callable[..., Outcome],
        examples: Mapping[str, Any],
        splits: Mapping[str, Split],
        scoreboard: ScoreBoard,
        budget: Budget,
        store: Store,
        workers: int,
        on_record: Callable[[EvaluationRecord, bool], None],
        failure_score: float = 0.0,
        timeout_s: float | None = None,
        refine: Refine | None = None,
        history_k: int = 0,
    ) -> None:
        self._history_k = history_k  # > 0: each call gets the example's best evaluations so far (opt_state)
        self._adapter = adapter
        self._examples = examples
        self._splits = splits
        self._board = scoreboard
        self._budget = budget
        self._store = store
        self._on_record = on_record
        self._failure_score = failure_score
        self._timeout_s = timeout_s
        self._refine = refine
        self._workers = WorkerPool(workers, "honing-eval")
        self._lock = threading.Lock()
        self._in_flight: dict[tuple[int, str], Task] = {}
        self._contexts: dict[Task, LogContext] = {}
        self._running_since: dict[Task, float] = {}  # evaluator calls under way (what the watchdog times)
        self._gate = _RetryGate()
        self._gated: dict[Task, bool] = {}  # tasks inside the gate -> whether alone (a retry)
        self._busy = 0
        self._busy_time = 0.0
        self._busy_since = 0.0
        self.workers = workers
        self.stopping = threading.Event()
        self._attempts: Counter[tuple[int, str]] = Counter()  # starts without a result, from earlier sessions
        self._watchdog: threading.Thread | None = None
        if timeout_s is not None:
            self._watchdog = threading.Thread(target=self._watch, name="honing-eval-watchdog", daemon=True)
            self._watchdog.start()

    def restore_attempts(self, unfinished: Counter[tuple[int, str]]) -> None:
        """Evaluations earlier sessions started and never finished (each start is one attempt)."""
        self._attempts.update(unfinished)

    # -- the one way in ----------------------------------------------------------
    def evaluate(self, candidate_id: int, keys: Iterable[str], counter: list[int] | None = None
                 ) -> dict[str, EvaluationRecord]:
        """Evaluate one candidate on the given examples; returns what could be evaluated.

        ``counter[0]`` (when given) is increased by the number of evaluator runs this call started.
        """
        results: dict[str, EvaluationRecord] = {}
        waiting: dict[str, Future[Any]] = {}
        claimed: list[Task] = []
        with self._lock:
            for key in dict.fromkeys(keys):
                task = self._in_flight.get((candidate_id, key))
                if task is not None:
                    waiting[key] = task.future
                    continue
                # Checked under the lock: a worker records its result before leaving _in_flight,
                # so a pair that is in neither place has really not been evaluated.
                done = self._board.evaluation(candidate_id, key)
                if done is not None:
                    results[key] = done
                elif not self.stopping.is_set() and self._budget.try_acquire(1):
                    task = Task(self._run, (candidate_id, key))
                    self._in_flight[(candidate_id, key)] = task
                    claimed.append(task)
                    waiting[key] = task.future
        if claimed:
            claimed = self._give_up_on_repeat_crashes(candidate_id, claimed, results)
        for task in claimed:
            self._workers.submit_task(task)
        if counter is not None:
            counter[0] += len(claimed)
        for key, future in waiting.items():
            record = future.result()  # re-raises EvaluatorError when raise_on_exception=True
            if record is not None:
                results[key] = record
        return results

    def _give_up_on_repeat_crashes(self, candidate_id: int, tasks: list[Task],
                                   results: dict[str, EvaluationRecord]) -> list[Task]:
        """Record as failed (spending their unit) the evaluations that were cut short MAX_ATTEMPTS times."""
        kept = []
        for task in tasks:
            key = task.args[1]
            attempts = self._attempts.get((candidate_id, key), 0)
            if attempts < MAX_ATTEMPTS:
                kept.append(task)
                continue
            message = (f"this evaluation was started {attempts} times and never finished (the run was killed "
                       "each time); it is scored as a failure instead of being tried again")
            outcome = Outcome(score=self._failure_score, side_info={"error": message}, error=message)
            try:
                record = self._finish(candidate_id, key, outcome)
            finally:
                with self._lock:
                    self._in_flight.pop((candidate_id, key), None)
            task.future.set_result(record)
            results[key] = record
        return kept

    def _run(self, candidate_id: int, key: str) -> EvaluationRecord | None:
        """One evaluation on a worker. Exactly one side settles it: this call (``claim``) or whoever abandons it."""
        pair = (candidate_id, key)
        with self._lock:
            task = self._in_flight[pair]
        try:
            alone = self._attempts.get(pair, 0) > 0  # a retry: it may be what killed the process last time
            if not self._enter_gate(task, alone):
                if self._workers.claim(task):
                    self._budget.refund(1)  # stopped before it started: the unit goes back
                return None
            try:
                self._store.start_evaluations([pair])  # durable before the evaluator runs: one attempt
                context = LogContext()
                with self._lock:
                    self._contexts[task] = context
                    self._running_since[task] = time.monotonic()
                self._mark_busy(+1)
                try:
                    components = self._board.candidate(candidate_id).components
                    history = (self._board.top_evaluations(key, self._history_k),) if self._history_k else ()
                    with use_context(context):
                        outcome = self._adapter(components, self._examples[key], *history)
                    if self._refine is not None:
                        outcome = self._refine(candidate_id, components, key, outcome)
                finally:
                    self._mark_busy(-1)
                if not self._workers.claim(task):
                    return None  # timed out or stopped meanwhile: whoever gave up settled it
            except BaseException:
                if self._workers.claim(task):
                    self._budget.refund(1)  # not recorded: a resumed run scores it (its start row is there)
                raise
            try:
                return self._finish(candidate_id, key, outcome)
            except BaseException:
                self._budget.refund(1)  # not stored (a full disk?): a resumed run scores it again
                raise
        finally:
            self._leave_gate(task)
            with self._lock:
                self._contexts.pop(task, None)
                self._running_since.pop(task, None)
                if self._in_flight.get(pair) is task and not task.abandoned:
                    del self._in_flight[pair]

    def _enter_gate(self, task: Task, alone: bool) -> bool:
        """Wait for the gate (a retry waits to run alone); False when the pool stops or abandons it meanwhile."""
        def give_up() -> bool:
            return self.stopping.is_set() or task.abandoned

        if give_up() or not self._gate.enter(alone, give_up):
            return False
        with self._lock:
            self._gated[task] = alone
        return True

    def _leave_gate(self, task: Task) -> None:
        """Let the next evaluation through; called once per task (on return or when it is abandoned)."""
        with self._lock:
            alone = self._gated.pop(task, None)
        if alone is not None:
            self._gate.leave(alone)

    def evaluate_inline(self, candidate_id: int, key: str) -> Outcome | None:
        """Score one pair on the calling (worker) thread, budgeted and recorded like any evaluation.

        For the refiner, which scores a refined version while its original's
        evaluation is still running: submitting to the pool could wait forever
        for a worker that is this very thread. Not refined again. None when
        there is no budget left or the run is stopping.
        """
        with self._lock:
            done = self._board.evaluation(candidate_id, key)
            if done is None and (self.stopping.is_set() or (candidate_id, key) in self._in_flight
                                 or not self._budget.try_acquire(1)):
                return None
        if done is not None:
            return Outcome(score=done.score, objective_scores=done.objective_scores, side_info=done.side_info,
                           output=done.output, error=done.error, duration_s=done.duration_s)
        try:
            self._store.start_evaluations([(candidate_id, key)])
        except BaseException:
            self._budget.refund(1)
            raise
        components = self._board.candidate(candidate_id).components
        outcome = self._adapter(components, self._examples[key])
        self._finish(candidate_id, key, outcome)
        return outcome

    def _finish(self, candidate_id: int, key: str, outcome: Outcome) -> EvaluationRecord:
        record = EvaluationRecord(
            candidate_id=candidate_id, example_key=key, split=self._splits[key], score=outcome.score,
            objective_scores=outcome.objective_scores, side_info=outcome.side_info, output=outcome.output,
            duration_s=outcome.duration_s, error=outcome.error, created_at=time.time(),
        )
        self._store.add_evaluation(record)
        changed = self._board.add_evaluation(record)
        self._on_record(record, changed)
        return record

    # -- time limits -----------------------------------------------------------------
    def _watch(self) -> None:
        assert self._timeout_s is not None
        tick = min(0.5, max(0.02, self._timeout_s / 10))
        while not self._workers.closed:
            time.sleep(tick)
            now = time.monotonic()
            with self._lock:
                late = [(pair, task) for pair, task in self._in_flight.items()
                        if now - self._running_since.get(task, now) > self._timeout_s]
            for (cid, key), task in late:
                self._time_out(cid, key, task)

    def _time_out(self, candidate_id: int, key: str, task: Task) -> None:
        if not self._workers.abandon(task):
            return  # it finished just now: its own result stands
        with self._lock:
            context = self._contexts.get(task)
        message = (f"the evaluation did not finish within evaluation_timeout_s={self._timeout_s:g} s; it was "
                   "abandoned and scored as a failure")
        side_info: dict[str, Any] = {**(context.collected() if context else {}), "error": message}
        outcome = Outcome(score=self._failure_score, side_info=side_info, error=message,
                          duration_s=float(self._timeout_s or 0.0))
        self._leave_gate(task)
        try:
            record = self._finish(candidate_id, key, outcome)
        except BaseException as exc:  # e.g. a full disk: whoever waits for this evaluation gets the error
            self._budget.refund(1)
            task.future.set_exception(exc)
            return  # the watchdog itself goes on timing the other evaluations
        finally:
            with self._lock:
                self._in_flight.pop((candidate_id, key), None)
        task.future.set_result(record)

    # -- stopping ----------------------------------------------------------------------
    def stop(self, grace_s: float) -> int:
        """No new evaluations; wait up to ``grace_s`` for running ones, then abandon the rest.

        Abandoned evaluations are not recorded (a resume scores them). Returns how many were abandoned.
        """
        self.stopping.set()
        with self._lock:
            tasks = list(self._in_flight.values())
        if tasks:
            wait_futures([t.future for t in tasks], timeout=max(0.0, grace_s))
        abandoned = 0
        for task in tasks:
            if self._workers.abandon(task):
                self._leave_gate(task)
                self._budget.refund(1)  # not recorded, so not spent: a resumed run scores it
                task.future.set_result(None)
                abandoned += 1
        self._workers.shutdown()
        return abandoned

    # -- utilisation accounting (for progress and benchmarks) ---------------
    def _mark_busy(self, delta: int) -> None:
        now = time.perf_counter()
        with self._lock:
            if self._busy:
                self._busy_time += (now - self._busy_since) * self._busy
            self._busy += delta
            self._busy_since = now

    def busy_worker_seconds(self) -> float:
        now = time.perf_counter()
        with self._lock:
            return self._busy_time + ((now - self._busy_since) * self._busy if self._busy else 0.0)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._in_flight)



class _RetryGate:
    """Evaluations run side by side, except a retry, which waits to run alone (and holds others back).

    A process that died while several evaluations ran says nothing about which
    one killed it, so all of them were charged an attempt; run alone, a retry
    is charged only for itself.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._running = 0
        self._alone = False
        self._waiting_alone = 0

    def enter(self, alone: bool, give_up: Callable[[], bool]) -> bool:
        with self._cond:
            if alone:
                self._waiting_alone += 1
                try:
                    while self._alone or self._running:
                        if give_up():
                            return False
                        self._cond.wait(0.1)
                    self._alone = True
                finally:
                    self._waiting_alone -= 1
                    self._cond.notify_all()
            else:
                while self._alone or self._waiting_alone:
                    if give_up():
                        return False
                    self._cond.wait(0.1)
                self._running += 1
            return True

    def leave(self, alone: bool) -> None:
        with self._cond:
            if alone:
                self._alone = False
            else:
                self._running -= 1
            self._cond.notify_all()
