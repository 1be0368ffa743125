"""The engine: keeps the LM and every evaluation worker busy without wasting the budget on stale work.

The main thread keeps up to ``width`` proposals in flight, each on its own
thread. A proposal takes an LM slot, *then* plans (so it builds on the
freshest frontier), calls the LM, judges its child on the minibatch and, if
the child won, races it on the valset (``_race``); only children that
improve the pool are admitted. All evaluator calls go through one budgeted
pool and all LM calls through one gateway, so the budget is a hard ceiling
and every call is counted once. With one worker and one proposal in flight a
seeded run is deterministic, and a resumed run replays its records through
the same rules a viewer uses (``_replay``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Any, Literal, cast

from ._budget import Budget
from ._callbacks import CallbackError, Callbacks
from ._config import DEFAULT_MINIBATCH_SIZE, Config
from ._evaluation import EvaluatorAdapter, Outcome, check_seed_evaluations
from ._evaluator_pool import EvaluatorPool, Refine
from ._lm_gateway import LMFailed, LMGateway, Stopped
from ._planner import Planner
from ._progress import Progress
from ._proposals import Plan, ProblemView, Proposer
from ._race import RaceRules, ValsetRace
from ._records import AdmissionRecord, CandidateRecord, EvaluationRecord, Origin, ProposalRecord, Split, content_key
from ._reflection import build_seed_generation_messages, parse_reflection_reply
from ._replay import ReplayState, replay
from ._result import Result
from ._scoreboard import ScoreBoard
from ._stopping import URGENT_STOPS, RunStatus, Stopper, stoppers_from_config
from ._width import Width
from ._workers import WorkerPool
from .executors import make_backend
from .llm._base import CHARS_PER_TOKEN, LM, LMError
from .store import ReadBackStore, RunHeader, Store, StoreFullError, evaluator_identity
from .tracking import make_trackers

logger = logging.getLogger("honing")

MAX_CONSECUTIVE_LM_FAILURES = 5
MAX_IDLE_PROPOSALS = 50  # proposals in a row that produced nothing to evaluate
# Stops that end in-flight work too (within stop_grace_s); after any other stop (a proposal count, a score
# reached, no improvement, the cost ceiling) the proposals already in flight finish and are recorded.
STOP_NOW = URGENT_STOPS | {"interrupted", "a callback raised", "reflection LM failing", "store full"}
PROPOSAL_GRACE_S = 1.0  # after a stop settled every evaluation, how long proposals get to notice before they are left

Mode = Literal["single", "multi", "generalization"]


@dataclass(frozen=True)
class Problem:
    """What is optimized: fixed for the whole run (and checked on resume)."""

    seed_components: dict[str, str] | None
    candidate_is_str: bool
    str_key: str
    train: dict[str, Any]  # example key -> example
    val: dict[str, Any]
    mode: Mode
    objective: str | None
    background: str | None
    adapter: EvaluatorAdapter
    val_weights: dict[str, int] | None = None  # how often each validation example appears (duplicates)

    def header(self) -> RunHeader:
        fingerprint = content_key({"seed": self.seed_components, "objective": self.objective,
                                   "str": self.candidate_is_str})
        evaluator, source = evaluator_identity(self.adapter.fn)
        return RunHeader(fingerprint=fingerprint, objective=self.objective, background=self.background,
                         seed_components=self.seed_components, candidate_is_str=self.candidate_is_str,
                         evaluator=evaluator, evaluator_source=source)

    def splits(self) -> dict[str, Split]:
        if self.mode == "single":
            return {k: "single" for k in self.val}
        splits: dict[str, Split] = {k: "train" for k in self.train}
        splits.update({k: "val" for k in self.val})
        return splits


@dataclass
class _Outcome:
    """What one proposal thread hands back to the main loop."""

    record: ProposalRecord | None
    admission: AdmissionRecord | None = None
    evaluations_started: int = 0
    race: Future[Any] | None = None  # the child's validation race, running in the background


class Engine:
    def __init__(self, problem: Problem, config: Config, lm: LM | None, store: Store,
                 refiner_lm: LM | None = None) -> None:
        self.problem = problem
        self.config = config
        self.store = store
        eng = config.engine
        self.stopping = threading.Event()
        self.board = ScoreBoard(list(problem.val), eng.frontier_type, problem.val_weights,
                                keep_top=problem.adapter.history_k > 0)
        self.budget = Budget(eng.max_metric_calls)
        self.lm = LMGateway(lm, stopping=self.stopping, timeout_s=config.reflection.lm_timeout_s)
        self._refiner_lm: LMGateway | None = None  # the refiner's own model, when it has one
        self.callbacks = Callbacks(list(config.callbacks or ()) + make_trackers(config, self.status))
        # Config.__post_init__ turns stop_callbacks (one callable or several) into a tuple.
        self.stoppers = stoppers_from_config(eng, cast("tuple[Stopper, ...]", config.stop_callbacks))
        default_size = 1 if problem.mode == "single" else DEFAULT_MINIBATCH_SIZE
        size = config.reflection.reflection_minibatch_size or default_size
        self.minibatch_size = min(size, len(problem.train))
        self.backend = make_backend(eng)  # where evaluator calls run; budget and cache stay here
        self.pool = EvaluatorPool(
            adapter=self.backend.wrap(problem.adapter), examples={**problem.val, **problem.train},
            splits=problem.splits(), scoreboard=self.board, budget=self.budget, store=store,
            workers=eng.workers, on_record=self._on_evaluation, failure_score=problem.adapter.failure_score,
            timeout_s=eng.evaluation_timeout_s, refine=self._make_refiner(refiner_lm or lm),
            history_k=problem.adapter.history_k,
        )
        racing = eng.valset_racing and eng.val_evaluation_policy != "full_eval"  # GEPA's name for racing off
        self.race = ValsetRace(self.board, self.pool.evaluate, RaceRules(enabled=racing),
                               stopping=self.stopping, seed=eng.seed)
        self.width = Width.for_run(eng, self.lm.slots)
        # Pipelined (the default): a child that wins its minibatch is raced in the background, and the next
        # proposal may already build on it. parallel=False keeps every step in order (and deterministic).
        self._pipelined = eng.parallel
        self._races = WorkerPool(max(2, eng.workers), "honing-race") if self._pipelined else None
        self.progress = Progress(enabled=eng.progress, total=eng.max_metric_calls, activity=self.lm.activity,
                                 admitted=lambda: self._counts["admitted"])
        # A store that reads records back keeps the history: memory then holds only the live search (the pool,
        # what is being judged or raced), and a lost child is retired from the board. Otherwise it is all kept here.
        self._reads_back = isinstance(store, ReadBackStore)
        self.proposals: list[ProposalRecord] = []  # only without a read-back store
        self.stop_reason: str | None = None
        self._lock = threading.Lock()  # candidate creation and the set of children being judged
        # The counters, on their own lock: evaluation workers count every result, and must not wait behind a
        # candidate being written to the store under ``_lock``.
        self._tally = threading.Lock()
        self._planner: Planner | None = None
        self._judged: set[int] = set()  # children some proposal has judged (or is judging)
        self._next_proposal_id = 0
        self._in_flight = 0
        self._counts = {"proposals": 0, "accepted": 0, "admitted": 0}
        self._lm_failures_in_row = 0
        self._idle_in_row = 0
        self._evaluations_done = 0  # recorded by this session (a change to wait for after a proposal found nothing)
        self._hold_at: int | None = None
        self._restart_interrupted = False
        self._proposal_futures: dict[Future[Any], int] = {}  # proposals writing or judging a child
        self._race_futures: dict[Future[Any], ProposalRecord] = {}  # their winners' validation races
        self._abandoned = 0
        self._pool_stopped_at: float | None = None
        self._since_improvement = 0
        self._best_seen: float | None = None
        self._started = time.monotonic()

    def _make_refiner(self, lm: LM | None) -> Refine | None:
        if self.config.refiner is None:
            return None
        from ._refiner import Refiner

        # The refiner's LM calls take the run's one LM path (its own model, when one is configured, shares
        # the stop, the time limit and the usage meter); its evaluations go through the recording pool.
        gateway = self.lm
        if lm is not self.lm.lm:
            gateway = self._refiner_lm = LMGateway(lm, stopping=self.stopping, meter=self.lm.meter,
                                                   timeout_s=self.config.reflection.lm_timeout_s)

        def evaluate(parent_id: int, components: dict[str, str], key: str) -> Outcome | None:
            refined = self._new_candidate(components, (parent_id,), "refined", None)
            return self.pool.evaluate_inline(refined.id, key)

        return Refiner(complete=gateway.complete, evaluate=evaluate,
                       max_refinements=self.config.refiner.max_refinements).refine

    # -- running ------------------------------------------------------------
    def run(self) -> Result:
        fatal: BaseException | None = None
        threads = WorkerPool(self.width.cap, "honing-prop")
        try:
            eng = self.config.engine
            duplicated = {k: w for k, w in (self.problem.val_weights or {}).items() if w > 1}
            stored = self.store.open(self.problem.header(), {"config": self.config.to_dict(), "started_at": time.time(),
                                                             "val_weights": duplicated},
                                     takeover=eng.takeover, evaluator_changed_ok=eng.evaluator_changed_ok)
            # children the stored run judged and that lost their minibatch stay on disk (a read-back store)
            replayed = replay(self.board, stored, retire_losers=self._reads_back)
            self._resume(replayed)
            del stored
            self.callbacks.emit("on_start", self.status())
            self._ensure_seed()
            for cid in self.board.pool:  # finish valset scoring a crash may have cut short
                self.pool.evaluate(cid, self.problem.val)
            for cid in replayed.racing:  # races a crash cut short
                self._settle(self.race.run(cid, self.board.candidate(cid).proposal_id))
            self._best_seen = self.board.best_score()
            self._loop(threads)
        except KeyboardInterrupt:
            self.stop_reason = "interrupted"
        except StoreFullError as exc:
            self._store_full(exc)
        except BaseException as exc:  # recorded below, then re-raised: nothing is swallowed
            fatal = exc
        finally:
            self.stopping.set()
            abandoned = self._stop_evaluations()
            # Proposals and races end within moments once their evaluations are settled; none may write after
            # the store is closed.
            wait([*self._proposal_futures, *self._race_futures], timeout=PROPOSAL_GRACE_S)
            if abandoned:
                logger.warning("%d evaluation(s) still running at the stop were abandoned; a resumed run "
                               "scores them again", abandoned)
            threads.shutdown()
            if self._races is not None:
                self._races.shutdown()
            self.lm.close()
            if self._refiner_lm is not None:
                self._refiner_lm.close()
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

    def _resume(self, replayed: ReplayState) -> None:
        self.budget.restore(replayed.spent)
        self._judged.update(replayed.judged)
        self.pool.restore_attempts(replayed.unfinished)
        self._restart_interrupted = replayed.interrupted
        self._next_proposal_id = replayed.next_proposal_id
        with self._tally:  # the run's counts go on (MaxProposals and the status count the whole run)
            self._counts.update(proposals=replayed.proposals, accepted=replayed.accepted, admitted=replayed.admitted)
        self._planner = Planner(board=self.board, config=self.config, train_keys=list(self.problem.train),
                                minibatch_size=self.minibatch_size, replayed=replayed, racing=self.race.is_racing)

    def _loop(self, threads: WorkerPool) -> None:
        in_flight = self._proposal_futures
        racing = self._race_futures
        while True:
            if self.stop_reason not in STOP_NOW:  # after a soft stop, a timeout or Ctrl-C still ends the run now
                self.stop_reason = self._should_stop(urgent_only=self.stop_reason is not None) or self.stop_reason
            while (self.stop_reason is None and len(in_flight) < self.width.current()
                   and self._can_start(len(in_flight), racing.values())):
                pid = self._next_proposal_id
                self._next_proposal_id += 1
                in_flight[threads.submit(self._propose, pid).future] = pid
                self._in_flight = len(in_flight)
                self.stop_reason = self._should_stop()
            if not in_flight and not racing:
                if self.stop_reason is None:
                    remaining = self.budget.remaining
                    spent = remaining is not None and remaining < self.minibatch_size
                    self.stop_reason = "budget exhausted" if spent else "nothing left to propose"
                return
            if self.stop_reason in STOP_NOW:
                self.stopping.set()  # in-flight proposals give up; running evaluations get stop_grace_s
                self._stop_evaluations()  # settles every evaluation a proposal or a race may wait for
                assert self._pool_stopped_at is not None
                if time.monotonic() - self._pool_stopped_at > PROPOSAL_GRACE_S:
                    logger.warning("%d proposal(s) and %d race(s) still running %g s after the stop were left "
                                   "behind", len(in_flight), len(racing), PROPOSAL_GRACE_S)
                    return
            try:
                done, _ = wait([*in_flight, *racing], timeout=0.2, return_when=FIRST_COMPLETED)
            except KeyboardInterrupt:  # Ctrl-C: stop now, keeping what finishes within stop_grace_s
                self.stop_reason = "interrupted"
                continue
            for future in done:
                try:
                    if future in in_flight:
                        in_flight.pop(future)
                        self._in_flight = len(in_flight)
                        outcome = future.result()
                        self._after(outcome)
                        if outcome.race is not None and outcome.record is not None:
                            racing[outcome.race] = outcome.record
                    else:
                        self._after_race(racing.pop(future), future.result())
                except StoreFullError as exc:
                    self._store_full(exc)
            self.progress.update(self.status())

    def _stop_evaluations(self) -> int:
        """Stop the evaluation pool once (running evaluations get stop_grace_s); returns how many were abandoned."""
        if self._pool_stopped_at is None:
            self._abandoned = self.pool.stop(self.config.engine.stop_grace_s)
            self._pool_stopped_at = time.monotonic()
        return self._abandoned

    def _store_full(self, error: StoreFullError) -> None:
        """The disk is full: stop now and return what was found; a resume after freeing space goes on."""
        if self.stop_reason != "store full":
            logger.error("stopping: %s", error)
        self.stop_reason = "store full"

    def _should_stop(self, urgent_only: bool = False) -> str | None:
        """Why the run should stop, if it should; ``urgent_only``: only reasons that end in-flight work too."""
        if self.callbacks.error is not None:
            return "a callback raised"
        if self._lm_failures_in_row >= MAX_CONSECUTIVE_LM_FAILURES:
            return "reflection LM failing"
        if self._idle_in_row >= MAX_IDLE_PROPOSALS and not urgent_only:
            logger.warning("stopping: %d proposals in a row produced no new candidate to evaluate", self._idle_in_row)
            return "no usable proposals"
        status = self.status()
        for name, stopper in self.stoppers:
            if (name in STOP_NOW or not urgent_only) and stopper(status):
                return name
        return None

    def _can_start(self, in_flight: int, racing: Iterable[ProposalRecord] = ()) -> bool:
        if self._restart_interrupted:  # the crashed run had started this proposal: start it again as it was
            self._restart_interrupted = False
            return True
        if self._hold_at is not None:
            if self._hold_at == self._evaluations_done and self.pool.in_flight:
                return False
            self._hold_at = None
        # When evaluation is the bottleneck, more proposals only lengthen the queue and would be
        # planned from a frontier that is about to change: wait for the backlog to drain.
        if self.pool.in_flight >= 4 * self.pool.workers:
            return False
        remaining = self.budget.remaining
        if remaining is None:
            return True
        # Races under way keep what they may still need: a winner that runs out of budget mid-race is wasted.
        total = len(self.problem.val)
        reserved = sum(total - self.board.coverage(r.child_id) for r in racing if r.child_id is not None)
        return remaining - reserved - in_flight * self.minibatch_size >= self.minibatch_size

    # -- one proposal (on its own thread) ------------------------------------------
    def _propose(self, pid: int) -> _Outcome:
        started = [0]
        proposer = self._proposer(lambda cid, keys: self.pool.evaluate(cid, keys, started))
        assert self._planner is not None
        plan: Plan | None = None
        try:
            with self.lm.slot():  # plan only once the LM can serve this proposal
                plan = self._planner.next(pid)
                if plan is None:
                    return _Outcome(None)
                draft = proposer.draft(plan, self._planner.rng(pid))
        except Stopped:
            return _Outcome(None)
        except LMFailed as failure:
            assert plan is not None
            logger.warning("reflection LM call failed: %s", failure.error)
            record = proposer.failed(plan, failure.error)
            self.store.add_proposal(record)
            return _Outcome(record)
        record = proposer.judge(draft)
        self.store.add_proposal(record)
        if record.accepted and record.child_id is not None:  # a winner: it may become a parent
            self.board.mark_discovered(record.child_id)
            if record.kind == "reflection":
                self._planner.note_child(record.child_id, record.components)
            if self._races is not None:  # raced in the background; the next proposal may build on it meanwhile
                self._planner.offer(record.child_id, record.minibatch_keys)
                race = self._races.submit(self._race, record.child_id, record.id)
                return _Outcome(record, None, started[0], race=race.future)
            return _Outcome(record, self._race(record.child_id, record.id), started[0])
        if record.child_id is not None:
            self._release(record.child_id)  # lost on its minibatch: another minibatch may judge it again
        return _Outcome(record, None, started[0])

    def _race(self, child_id: int, proposal_id: int) -> AdmissionRecord | None:
        return self._settle(self.race.run(child_id, proposal_id))

    def _settle(self, admission: AdmissionRecord | None) -> AdmissionRecord | None:
        """Record a race's verdict and admit the winner (None: the race was cut short by a stop)."""
        if admission is None:
            return None
        self.store.add_admission(admission)
        if admission.admitted:
            changed = self.board.admit(admission.candidate_id)
            if changed and self.callbacks.wants("on_frontier_change"):
                self.callbacks.emit("on_frontier_change", self.board.front)
            assert self._planner is not None
            self._planner.note_admitted()
        self.callbacks.emit("on_admission", admission)
        return admission

    def _after(self, outcome: _Outcome) -> None:
        """A proposal finished writing and judging its child (a winner's race may still be running)."""
        record = outcome.record
        if record is None:
            return
        with self._tally:
            if not self._reads_back:
                self.proposals.append(record)
            self._counts["proposals"] += 1
            self._counts["accepted"] += record.accepted
        if record.child_score is not None:  # judged on its minibatch (not superseded, not a failed LM call)
            self.width.record(record.accepted)
        self._lm_failures_in_row = self._lm_failures_in_row + 1 if record.error else 0
        # A proposal that evaluated nothing only counts as idle when no evaluation is pending:
        # pending results change the frontier, so repeats while they run are transient.
        if outcome.evaluations_started or self.pool.in_flight:
            self._idle_in_row = 0
        else:
            self._idle_in_row += 1
        # Found nothing to evaluate while results are pending: the next proposal would plan from the same
        # frontier and most likely find nothing again (an LM call each time); wait for the next result.
        self._hold_at = None if outcome.evaluations_started else self._evaluations_done
        if outcome.race is None:
            self._after_race(record, outcome.admission)
        if self._lm_failures_in_row >= MAX_CONSECUTIVE_LM_FAILURES:
            raise LMError(
                f"the reflection LM failed {self._lm_failures_in_row} times in a row; last error: {record.error}. "
                "No evaluation budget was spent on these failures; check the model name, key and endpoint."
            )

    def _after_race(self, record: ProposalRecord, admission: AdmissionRecord | None) -> None:
        """A proposal is over: its child entered the pool or not (None: no race, or a race cut short)."""
        admitted = admission is not None and admission.admitted
        with self._tally:
            self._counts["admitted"] += admitted
        best = self.board.best_score()
        if best is not None and (self._best_seen is None or best > self._best_seen):
            self._best_seen = best
            self._since_improvement = 0
        else:
            self._since_improvement += 1
        self.callbacks.emit("on_proposal", record)  # once the proposal is over, its race included
        self.callbacks.emit("on_accept" if admitted else "on_reject", record)
        if record.child_id is not None and not record.accepted and self._reads_back:
            self._retire(record.child_id)

    def _retire(self, child_id: int) -> None:
        """Forget a child that lost its minibatch (its records stay in the store; see ``ScoreBoard.retire``).

        Only minibatch losers: they were never a parent, so no lineage runs through them. A winner is kept
        even when it loses its race (children built on it while it raced may enter the pool). A loser that
        another proposal, which wrote the same text, is judging meanwhile stays until that one is over too.
        """
        with self._lock:
            if child_id not in self._judged:
                self.board.retire(child_id)

    def _bring_back(self, candidate_id: int) -> None:
        """A retired candidate's text was proposed again: reload its records (the caller holds ``_lock``)."""
        if self.board.is_retired(candidate_id):
            self.board.recall(*self._stored(candidate_id))

    def _stored(self, candidate_id: int) -> tuple[CandidateRecord, list[EvaluationRecord]]:
        """A retired candidate's records, from the store that keeps them."""
        found = cast(ReadBackStore, self.store).recall(candidate_id)
        if found is None:
            raise RuntimeError(f"candidate {candidate_id} was retired from memory but its store {self.store!r} "
                               "cannot give it back")
        return found

    # -- pieces handed to the proposer and the worker pool -----------------------
    def _proposer(self, evaluate: Callable[[int, list[str]], dict[str, EvaluationRecord]]) -> Proposer:
        window = getattr(self.lm.lm, "context_window", None)
        max_chars = int((window - 1024) * CHARS_PER_TOKEN) if isinstance(window, int) and window > 2048 else None
        view = ProblemView(objective=self.problem.objective, background=self.problem.background,
                           train_examples=self.problem.train, single_task=self.problem.mode == "single",
                           val_keys=tuple(self.problem.val), max_prompt_chars=max_chars,
                           multimodal=bool(getattr(self.lm.lm, "multimodal", True)),
                           prompt_profile=getattr(self.lm.lm, "prompt_profile", None))
        return Proposer(reflection=self.config.reflection, problem=view, scoreboard=self.board, evaluate=evaluate,
                        complete=self.lm.complete, new_candidate=self._new_candidate, claim=self._claim)

    def _claim(self, candidate_id: int) -> str | None:
        """Let one proposal at a time judge a child; once it has raced, a proposal of the same text is a duplicate."""
        with self._lock:
            if candidate_id in self._judged:
                return "already being judged or raced"
            self._bring_back(candidate_id)  # retired again since new_candidate returned it
            self._judged.add(candidate_id)
            return None

    def _release(self, candidate_id: int) -> None:
        with self._lock:
            self._judged.discard(candidate_id)

    def _new_candidate(self, components: dict[str, str], parents: tuple[int, ...], origin: Origin,
                       proposal_id: int | None) -> CandidateRecord:
        """Create a candidate, or with caching on return the existing one with the same text."""
        with self._lock:
            existing = self.board.find(components) if self.config.engine.cache_evaluation else None
            if existing is not None:
                self._bring_back(existing)
                return self.board.candidate(existing)
            record = CandidateRecord(id=self.board.next_id(), components=dict(components), parents=tuple(parents),
                                     origin=origin, proposal_id=proposal_id, created_at=time.time())
            self.store.add_candidate(record)
            self.board.add_candidate(record)
        return record

    def _on_evaluation(self, record: EvaluationRecord, frontier_changed: bool) -> None:
        with self._tally:
            self._evaluations_done += 1
        self.callbacks.emit("on_evaluation", record)
        if frontier_changed and self.callbacks.wants("on_frontier_change"):
            self.callbacks.emit("on_frontier_change", self.board.front)

    # -- the seed -------------------------------------------------------------------
    def _ensure_seed(self) -> None:
        if self.board.pool:
            return
        components = self.problem.seed_components
        origin: Origin = "seed"
        if components is None:
            components = {self.problem.str_key: self._generate_seed()}
            origin = "generated"
        seed = self._new_candidate(components, (), origin, None)
        self.board.admit(seed.id)
        check_seed_evaluations(self.pool.evaluate(seed.id, self.problem.val).values())

    def _generate_seed(self) -> str:
        messages = build_seed_generation_messages(self.problem.objective, self.problem.background)
        last_error = "no reply"
        for _ in range(3):
            try:
                completion = self.lm.complete(messages)
            except LMFailed as failure:
                last_error = f"{type(failure.error).__name__}: {failure.error}"
                continue
            parsed = parse_reflection_reply(completion.text, "")
            record = ProposalRecord(id=self._next_proposal_id, kind="seed_generation", parent_ids=(), components=(),
                                    prompt=messages, reply=completion.text, child_id=None,
                                    accepted=parsed.text is not None, reason=parsed.error or "seed generated",
                                    created_at=time.time())
            self._next_proposal_id += 1
            self.store.add_proposal(record)
            if not self._reads_back:
                self.proposals.append(record)
            if parsed.text:
                return parsed.text
            last_error = parsed.error or "empty reply"
        raise LMError(f"could not generate a seed candidate from the objective: {last_error}. "
                      "Pass seed_candidate=... or check the reflection LM.")

    # -- reporting ---------------------------------------------------------------
    def best_score(self) -> float | None:
        return self.board.best_score()

    def status(self) -> RunStatus:
        with self._tally:
            counts = dict(self._counts)
        return RunStatus(
            metric_calls=self.budget.spent, max_metric_calls=self.budget.limit, proposals=counts["proposals"],
            accepted=counts["admitted"], in_flight=self._in_flight, best_score=self.board.best_score(),
            elapsed_s=time.monotonic() - self._started, cost_usd=self.lm.usage().cost_usd,
            proposals_since_improvement=self._since_improvement,
        )

    def candidate(self, candidate_id: int) -> CandidateRecord:
        """Any candidate of this run, also one retired from memory (read from the store; for reports)."""
        with self._lock:
            if not self.board.is_retired(candidate_id):
                return self.board.candidate(candidate_id)
        return self._stored(candidate_id)[0]

    def proposal_history(self) -> Sequence[ProposalRecord]:
        """This session's proposals: read back from the store when it can, else the ones kept in memory."""
        if self._reads_back:
            return cast(ReadBackStore, self.store).proposal_log()
        return list(self.proposals)

    def utilization(self) -> float:
        elapsed = time.monotonic() - self._started
        return self.pool.busy_worker_seconds() / (elapsed * self.pool.workers) if elapsed > 0 else 0.0
