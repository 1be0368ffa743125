"""Runs evaluations on worker threads under the budget, never twice per pair.

``evaluate(candidate_id, keys)`` is the only way the engine calls the user's
evaluator. For each example key it reuses a recorded evaluation, joins one
already in flight, or takes a budget unit, writes ``start_evaluation`` to the
store and runs the evaluator on a worker. Keys the budget cannot cover are
simply left out of the returned mapping. The start is written to the store
only when the evaluator is really about to run, so work cancelled by a stop
is neither counted nor recorded.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterable, Mapping

from ._budget import Budget
from ._evaluation import EvaluatorAdapter, Outcome
from ._records import EvaluationRecord
from ._scoreboard import ScoreBoard
from .store import Store


class EvaluatorPool:
    def __init__(
        self,
        *,
        adapter: EvaluatorAdapter,
        examples: Mapping[str, Any],
        splits: Mapping[str, str],
        scoreboard: ScoreBoard,
        budget: Budget,
        store: Store,
        workers: int,
        on_record: Callable[[EvaluationRecord, bool], None],
        refine: Callable[[dict, Any, Outcome], Outcome] | None = None,
        history_k: int = 0,
    ) -> None:
        self._history_k = history_k  # > 0: each call gets the example's best evaluations so far (opt_state)
        self._refine = refine
        self._adapter = adapter
        self._examples = examples
        self._splits = splits
        self._scoreboard = scoreboard
        self._budget = budget
        self._store = store
        self._on_record = on_record
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="honing-eval")
        self._lock = threading.Lock()
        self._in_flight: dict[tuple[int, str], Future] = {}
        self._busy = 0
        self._busy_time = 0.0
        self._busy_since = 0.0
        self.workers = workers
        self.stopping = threading.Event()

    def evaluate(self, candidate_id: int, keys: Iterable[str], counter: list[int] | None = None
                 ) -> dict[str, EvaluationRecord]:
        """Evaluate one candidate on the given examples; returns what could be evaluated.

        ``counter[0]`` (when given) is increased by the number of evaluator runs this call started.
        """
        futures: dict[str, Future] = {}
        results: dict[str, EvaluationRecord] = {}
        for key in dict.fromkeys(keys):
            claimed = self._claim(candidate_id, key)
            if isinstance(claimed, EvaluationRecord):
                results[key] = claimed
            elif claimed is not None:
                future, started_here = claimed
                futures[key] = future
                if started_here and counter is not None:
                    counter[0] += 1
        for key, future in futures.items():
            record = future.result()  # re-raises EvaluatorError when raise_on_exception=True
            if record is not None:
                results[key] = record
        return results

    def _claim(self, candidate_id: int, key: str) -> EvaluationRecord | tuple[Future, bool] | None:
        """The recorded evaluation, or (future, whether this call started it), or None (no budget)."""
        with self._lock:
            pair = (candidate_id, key)
            if pair in self._in_flight:
                return self._in_flight[pair], False
            # Checked under the lock: a worker records its result before leaving _in_flight,
            # so a pair that is in neither place has really not been evaluated.
            done = self._scoreboard.evaluation(candidate_id, key)
            if done is not None:
                return done
            if self.stopping.is_set() or self._budget.try_acquire(1) == 0:
                return None
            future = self._executor.submit(self._run, candidate_id, key)
            self._in_flight[pair] = future
            return future, True

    def _run(self, candidate_id: int, key: str) -> EvaluationRecord | None:
        pair = (candidate_id, key)
        try:
            if self.stopping.is_set():
                self._budget.refund(1)  # never started: the unit goes back, nothing is recorded
                return None
            self._store.start_evaluation(candidate_id, key)
            self._mark_busy(+1)
            try:
                components = self._scoreboard.candidate(candidate_id).components
                history = (self._scoreboard.top_evaluations(key, self._history_k),) if self._history_k else ()
                outcome = self._adapter(components, self._examples[key], *history)
                if self._refine is not None:
                    outcome = self._refine(components, self._examples[key], outcome)
            finally:
                self._mark_busy(-1)
            return self._finish(candidate_id, key, outcome)
        finally:
            with self._lock:
                self._in_flight.pop(pair, None)

    def _finish(self, candidate_id: int, key: str, outcome: Outcome) -> EvaluationRecord:
        record = EvaluationRecord(
            candidate_id=candidate_id, example_key=key, split=self._splits[key], score=outcome.score,
            objective_scores=outcome.objective_scores, side_info=outcome.side_info, output=outcome.output,
            duration_s=outcome.duration_s, error=outcome.error, created_at=time.time(),
        )
        self._store.add_evaluation(record)
        changed = self._scoreboard.add_evaluation(record)
        self._on_record(record, changed)
        return record

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

    def shutdown(self, wait: bool = True) -> None:
        self.stopping.set()
        self._executor.shutdown(wait=wait, cancel_futures=False)
