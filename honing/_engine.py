"""The engine: keeps the LM and every evaluation worker busy at once.

The main thread plans proposals (parent, components, minibatch) and hands
them to a pool of proposal threads; each proposal calls the LM and submits
its evaluations to the shared worker pool. Planning happens in one thread
with one seeded RNG, so with one worker and one proposal in flight a seeded
run is deterministic. The budget is enforced per evaluator call, so no amount
of concurrency can overspend it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from ._budget import Budget
from ._callbacks import CallbackError, Callbacks
from ._config import Config
from ._evaluation import EvaluatorAdapter, check_seed_evaluations
from ._evaluator_pool import EvaluatorPool
from ._progress import Progress
from ._proposals import Plan, Proposer, ProposerSettings, find_merge_pair
from ._records import CandidateRecord, EvaluationRecord, ProposalRecord, content_key
from ._reflection import build_seed_generation_messages, parse_reflection_reply
from ._result import Result
from ._scoreboard import ScoreBoard
from ._selection import MinibatchSampler, make_component_selector, make_parent_selector
from ._stopping import RunStatus, stoppers_from_config
from .store import RunHeader, Store, StoredRun, evaluator_identity
from .executors import make_backend
from .llm._base import LM, Completion, LMError
from .tracking import make_trackers

logger = logging.getLogger("honing")

MAX_CONSECUTIVE_LM_FAILURES = 5
MAX_IDLE_PROPOSALS = 50  # proposals in a row that produced nothing to evaluate


@dataclass(frozen=True)
class Problem:
    """What is optimized: fixed for the whole run (and checked on resume)."""

    seed_components: dict[str, str] | None
    candidate_is_str: bool
    str_key: str
    train: dict[str, Any]  # example key -> example
    val: dict[str, Any]
    mode: str  # single | multi | generalization
    objective: str | None
    background: str | None
    adapter: EvaluatorAdapter

    def header(self) -> RunHeader:
        fingerprint = content_key({"seed": self.seed_components, "objective": self.objective,
                                   "str": self.candidate_is_str})
        evaluator, source = evaluator_identity(self.adapter.fn)
        return RunHeader(fingerprint=fingerprint, objective=self.objective, background=self.background,
                         seed_components=self.seed_components, candidate_is_str=self.candidate_is_str,
                         evaluator=evaluator, evaluator_source=source)


class _Stopped(Exception):
    """The run stopped while this proposal waited for the LM."""


class _LMFailed(Exception):
    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class Engine:
    def __init__(self, problem: Problem, config: Config, lm: LM | None, store: Store,
                 refiner_lm: LM | None = None) -> None:
        self.problem = problem
        self.config = config
        self.lm = lm
        self.store = store
        eng = config.engine
        self.rng = random.Random(eng.seed)
        self.board = ScoreBoard(list(problem.val), eng.frontier_type)
        self.budget = Budget(eng.max_metric_calls)
        self.callbacks = Callbacks(list(config.callbacks) + make_trackers(config, self.status))
        self.stoppers = stoppers_from_config(eng, config.stop_callbacks)
        self.parent_selector = make_parent_selector(eng.candidate_selection_strategy, epsilon=eng.epsilon)
        self.component_selector = make_component_selector(config.reflection.module_selector)
        self.proposals: list[ProposalRecord] = []
        self._lock = threading.Lock()
        self._cost = 0.0
        self._lm_calls = 0
        self.lm_tokens = [0, 0]  # prompt, completion
        self._lm_failures_in_row = 0
        self._idle_in_row = 0
        self._since_improvement = 0
        self._best_seen: float | None = None
        self._merges_due = 0
        self._merges_done = 0
        self._merge_tried: set[tuple[int, int]] = set()
        self._next_proposal_id = 0
        self._proposals_in_flight = 0
        # An LM that can only serve N calls at once (the embedded model serves one) says so with
        # ``max_concurrency``; waiting here rather than inside the LM lets a stop cancel the wait.
        slots = getattr(lm, "max_concurrency", None)
        self._lm_slots = threading.BoundedSemaphore(slots) if isinstance(slots, int) and slots > 0 else None
        self._started = time.monotonic()
        self.stop_reason: str | None = None
        size = config.reflection.reflection_minibatch_size or (1 if problem.mode == "single" else 3)
        self.minibatch_size = min(size, len(problem.train))
        self.sampler = MinibatchSampler(list(problem.train), self.minibatch_size)
        self.backend = make_backend(eng)  # where evaluator calls run; budget and cache stay here
        self._adapter = self.backend.wrap(problem.adapter)
        self.pool = EvaluatorPool(
            adapter=self._adapter, examples={**problem.val, **problem.train},
            splits=self._splits(), scoreboard=self.board, budget=self.budget, store=store,
            workers=eng.workers, on_record=self._on_evaluation, refine=self._make_refiner(refiner_lm),
            history_k=problem.adapter.history_k,
        )
        self.progress = Progress(enabled=eng.progress, total=eng.max_metric_calls, activity=getattr(lm, "activity", None), admitted=lambda: len(self.board.pool) - 1)  # noqa: E501

    def _make_refiner(self, refiner_lm: LM | None):
        if self.config.refiner is None:
            return None
        from ._refiner import Refiner

        refiner = Refiner(lm=refiner_lm or self.lm, budget=self.budget, adapter=self._adapter,
                          max_refinements=self.config.refiner.max_refinements, on_lm_call=self._count_lm_call)
        return refiner.refine

    def _count_lm_call(self, completion: Completion) -> None:
        with self._lock:
            self._lm_calls += 1
            self._cost += completion.cost_usd or 0.0
            self.lm_tokens[0] += completion.prompt_tokens or 0
            self.lm_tokens[1] += completion.completion_tokens or 0

    def _splits(self) -> dict[str, str]:
        if self.problem.mode == "single":
            return {k: "single" for k in self.problem.val}
        splits = {k: "train" for k in self.problem.train}
        splits.update({k: "val" for k in self.problem.val})
        return splits

    # -- running ------------------------------------------------------------
    def run(self) -> Result:
        eng = self.config.engine
        proposal_threads = ThreadPoolExecutor(max_workers=eng.proposals_in_flight, thread_name_prefix="honing-prop")
        fatal: BaseException | None = None
        try:
            self._restore(self.store.open(self.problem.header(), {"config": self.config.to_dict(),
                                                                  "started_at": time.time()},
                                          takeover=eng.takeover, evaluator_changed_ok=eng.evaluator_changed_ok))
            self.callbacks.emit("on_start", self.status())
            self._ensure_seed()
            for cid in self.board.pool:  # finish valset scoring a crash may have cut short
                self.pool.evaluate(cid, self.problem.val)
            self._best_seen = self.best_score()
            self._loop(proposal_threads)
        except KeyboardInterrupt:
            self.stop_reason = "interrupted"
            self.pool.stopping.set()
        except BaseException as exc:  # recorded below, then re-raised: nothing is swallowed
            fatal = exc
            self.pool.stopping.set()
        finally:
            proposal_threads.shutdown(wait=True, cancel_futures=True)
            self.pool.shutdown(wait=True)
            self.backend.close()
            self.progress.close(self.status())
        result = Result.build(self)
        self.callbacks.emit("on_end", result)
        self.store.close()
        if fatal is not None:
            raise fatal
        if self.callbacks.error is not None:
            raise CallbackError(f"a callback raised {self.callbacks.error!r}; the run was stopped") \
                from self.callbacks.error
        return result

    def _loop(self, threads: ThreadPoolExecutor) -> None:
        in_flight: dict[Future, Plan] = {}
        limit = self.config.engine.proposals_in_flight
        try:
            while True:
                if self.stop_reason is None:
                    self.stop_reason = self._should_stop()
                while self.stop_reason is None and len(in_flight) < limit and self._can_start(len(in_flight)):
                    plan = self._next_plan()
                    if plan is None:
                        break
                    in_flight[threads.submit(self._execute, plan)] = plan
                    self._proposals_in_flight = len(in_flight)
                    self.stop_reason = self._should_stop()
                if not in_flight:
                    if self.stop_reason is None:
                        remaining = self.budget.remaining
                        spent = remaining is not None and remaining < self.minibatch_size
                        self.stop_reason = "budget exhausted" if spent else "nothing left to propose"
                    return
                done, _ = wait(list(in_flight), timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    in_flight.pop(future)
                    self._proposals_in_flight = len(in_flight)
                    self._after(*future.result())
                self.progress.update(self.status())
        except BaseException:
            self.pool.stopping.set()
            for future in in_flight:
                future.cancel()
            raise

    def _should_stop(self) -> str | None:
        if self.callbacks.error is not None:
            return "a callback raised"
        if self._lm_failures_in_row >= MAX_CONSECUTIVE_LM_FAILURES:
            return "reflection LM failing"
        if self._idle_in_row >= MAX_IDLE_PROPOSALS:
            logger.warning("stopping: %d proposals in a row produced no new candidate to evaluate", self._idle_in_row)
            return "no usable proposals"
        status = self.status()
        for name, stopper in self.stoppers:
            if stopper(status):
                return name
        return None

    def _can_start(self, in_flight: int) -> bool:
        # When evaluation is the bottleneck, more proposals only lengthen the queue and would be
        # planned from a frontier that is about to change: wait for the backlog to drain.
        if self.pool.in_flight >= 4 * self.pool.workers:
            return False
        remaining = self.budget.remaining
        if remaining is None:
            return True
        return remaining - in_flight * self.minibatch_size >= self.minibatch_size

    def _next_plan(self) -> Plan | None:
        pid = self._next_proposal_id
        self._next_proposal_id += 1
        merge = self.config.merge
        if merge is not None and self._merges_due > 0 and self._merges_done < merge.max_merge_invocations:
            self._merges_due -= 1
            found = find_merge_pair(self.board, self.rng, self._merge_tried, merge.merge_val_overlap_floor)
            if found is not None:
                self._merges_done += 1
                return Plan(proposal_id=pid, kind="merge", parent_ids=found.parent_ids, ancestor_id=found.ancestor_id)
        aggregates = self.board.aggregates()
        if not aggregates:
            return None
        parent = self.parent_selector.select(self.board.front, aggregates, self.rng)
        names = list(self.board.candidate(parent).components)
        components = tuple(self.component_selector.select(parent, names, self.rng))
        minibatch = tuple(self.sampler.sample(self.rng))
        return Plan(proposal_id=pid, kind="reflection", parent_ids=(parent,), components=components,
                    minibatch=minibatch)

    def _execute(self, plan: Plan) -> tuple[ProposalRecord, int]:
        """Runs on a proposal thread: propose, judge, and score an accepted child on the valset.

        Returns the record and how many evaluator runs the proposal started.
        """
        started = [0]
        proposer = self._proposer(lambda cid, keys: self.pool.evaluate(cid, keys, started))
        try:
            if plan.kind == "merge":
                record = proposer.merge(plan, random.Random(f"{self.config.engine.seed}:{plan.proposal_id}"))
            else:
                record = proposer.reflect(plan)
        except _LMFailed as failure:
            logger.warning("reflection LM call failed: %s", failure.error)
            record = proposer.failed(plan, failure.error)
        except _Stopped:
            record = proposer.stopped(plan)
        self.store.add_proposal(record)
        if record.accepted and record.child_id is not None:
            self.board.admit(record.child_id)
            self.pool.evaluate(record.child_id, self.problem.val, started)
        return record, started[0]

    def _after(self, record: ProposalRecord, evaluations_started: int) -> None:
        with self._lock:
            self.proposals.append(record)
        self._lm_failures_in_row = self._lm_failures_in_row + 1 if record.error else 0
        # A proposal that evaluated nothing only counts as idle when no evaluation is pending:
        # pending results change the frontier, so repeats while they run are transient.
        if evaluations_started or self.pool.in_flight:
            self._idle_in_row = 0
        else:
            self._idle_in_row += 1
        best = self.best_score()
        if best is not None and (self._best_seen is None or best > self._best_seen):
            self._best_seen = best
            self._since_improvement = 0
        else:
            self._since_improvement += 1
        if record.accepted and self.config.merge is not None:
            self._merges_due += 1
        self.callbacks.emit("on_proposal", record)
        self.callbacks.emit("on_accept" if record.accepted else "on_reject", record)
        if self._lm_failures_in_row >= MAX_CONSECUTIVE_LM_FAILURES:
            raise LMError(
                f"the reflection LM failed {self._lm_failures_in_row} times in a row; last error: {record.error}. "
                "No evaluation budget was spent on these failures; check the model name, key and endpoint."
            )

    # -- pieces handed to the proposer and the worker pool -----------------------
    def _proposer(self, evaluate) -> Proposer:
        refl = self.config.reflection
        window = getattr(self.lm, "context_window", None)
        max_chars = int((window - 1024) * 3) if isinstance(window, int) and window > 2048 else None
        settings = ProposerSettings(
            objective=self.problem.objective, background=self.problem.background, train_examples=self.problem.train,
            single_task=self.problem.mode == "single", edit_threshold_chars=refl.edit_threshold_chars,
            max_side_info_chars=refl.max_side_info_chars, max_prompt_chars=max_chars,
            prompt_template=refl.reflection_prompt_template, skip_perfect_score=refl.skip_perfect_score,
            perfect_score=refl.perfect_score,
            val_keys=tuple(self.problem.val), follow_up=refl.follow_up_prose_replies,
        )
        return Proposer(settings=settings, scoreboard=self.board, evaluate=evaluate,
                        complete=self._complete, new_candidate=self._new_candidate)

    def _complete(self, messages: list[dict]) -> Completion:
        if self.lm is None:
            raise _LMFailed(LMError("no reflection LM is configured"))
        if self._lm_slots is not None:
            while not self._lm_slots.acquire(timeout=0.2):
                if self.stop_reason is not None or self.pool.stopping.is_set():
                    raise _Stopped()
        try:
            completion = self.lm.complete(messages)
        except Exception as exc:
            raise _LMFailed(exc) from exc
        finally:
            if self._lm_slots is not None:
                self._lm_slots.release()
        if not isinstance(completion, Completion):
            raise _LMFailed(LMError(f"LM.complete() returned {type(completion).__name__}, expected Completion"))
        self._count_lm_call(completion)
        return completion

    def _new_candidate(self, components: dict[str, str], parents: tuple[int, ...], origin: str,
                       proposal_id: int | None) -> CandidateRecord:
        """Create a candidate, or with caching on return the existing one with the same text."""
        with self._lock:
            existing = self.board.find(components) if self.config.engine.cache_evaluation else None
            if existing is not None:
                return self.board.candidate(existing)
            record = CandidateRecord(id=self.board.next_id(), components=dict(components), parents=tuple(parents),
                                     origin=origin, proposal_id=proposal_id, created_at=time.time())
            self.store.add_candidate(record)
            self.board.add_candidate(record)
        return record

    def _on_evaluation(self, record: EvaluationRecord, frontier_changed: bool) -> None:
        self.callbacks.emit("on_evaluation", record)
        if frontier_changed:
            self.callbacks.emit("on_frontier_change", self.board.front)

    # -- seed and resume ----------------------------------------------------------
    def _ensure_seed(self) -> None:
        if self.board.pool:
            return
        components = self.problem.seed_components
        origin = "seed"
        if components is None:
            components = {self.problem.str_key: self._generate_seed()}
            origin = "generated"
        seed = self._new_candidate(components, (), origin, None)
        self.board.admit(seed.id)
        check_seed_evaluations(self.pool.evaluate(seed.id, self.problem.val).values())

    def _generate_seed(self) -> str:
        messages = build_seed_generation_messages(self.problem.objective, self.problem.background)
        last_error = "no reply"
        for attempt in range(3):
            try:
                completion = self._complete(messages)
            except _LMFailed as failure:
                last_error = f"{type(failure.error).__name__}: {failure.error}"
                continue
            parsed = parse_reflection_reply(completion.text, "")
            record = ProposalRecord(id=self._next_proposal_id, kind="seed_generation", parent_ids=(), components=(),
                                    prompt=messages, reply=completion.text, child_id=None,
                                    accepted=parsed.text is not None, reason=parsed.error or "seed generated",
                                    created_at=time.time())
            self._next_proposal_id += 1
            self.store.add_proposal(record)
            self.proposals.append(record)
            if parsed.text:
                return parsed.text
            last_error = parsed.error or "empty reply"
        raise LMError(f"could not generate a seed candidate from the objective: {last_error}. "
                      "Pass seed_candidate=... or check the reflection LM.")

    def _restore(self, stored: StoredRun) -> None:
        for candidate in stored.candidates:
            self.board.add_candidate(candidate)
        spent = 0
        for evaluation in stored.evaluations:
            self.board.add_evaluation(evaluation)
            spent += 0 if evaluation.cached else 1
        for cid, key in stored.started:  # started before a crash, never finished: spent, not repeated
            spent += 1
            lost = EvaluationRecord(candidate_id=cid, example_key=key, split=self._splits().get(key, "val"),
                                    score=self.problem.adapter.failure_score, created_at=time.time(),
                                    error="interrupted: the run stopped while this evaluation was running")
            self.store.add_evaluation(lost)
            self.board.add_evaluation(lost)
        self.budget.restore(spent)
        for candidate in stored.candidates:
            if candidate.origin in ("seed", "generated"):
                self.board.admit(candidate.id)
        for proposal in stored.proposals:
            self.proposals.append(proposal)
            if proposal.accepted and proposal.child_id is not None:
                self.board.admit(proposal.child_id)
        self._next_proposal_id = max((p.id for p in stored.proposals), default=-1) + 1

    # -- reporting ---------------------------------------------------------------
    def best_score(self) -> float | None:
        best = self.board.best_id()
        return None if best is None else self.board.val_mean(best)

    def status(self) -> RunStatus:
        with self._lock:
            proposals = [p for p in self.proposals if p.kind != "seed_generation"]
            return RunStatus(
                metric_calls=self.budget.spent, max_metric_calls=self.budget.limit, proposals=len(proposals),
                accepted=sum(p.accepted for p in proposals), in_flight=self._proposals_in_flight,
                best_score=self.best_score(), elapsed_s=time.monotonic() - self._started, cost_usd=self._cost,
                proposals_since_improvement=self._since_improvement,
            )

    def utilization(self) -> float:
        elapsed = time.monotonic() - self._started
        return self.pool.busy_worker_seconds() / (elapsed * self.pool.workers) if elapsed > 0 else 0.0
