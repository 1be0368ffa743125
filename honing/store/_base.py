"""The ``Store`` protocol: what the engine needs from wherever a run is kept, method by method.

A run is an append-only log of immutable records (``honing._records``):
candidates, evaluations, proposals, admissions (validation races' verdicts),
plus a "started" mark written before each evaluator call. Everything else -- the pool, scores, the frontier, the budget
spent -- is derived from that log, so a store only has to keep it and give it
back. ``MemoryStore`` and ``SQLiteStore`` implement this; a third-party store
proves itself against the same tests with ``honing.testing.StoreContract``.

Guarantees every implementation gives (the engine relies on each):

* **Thread safety.** After ``open`` returns, ``add_*`` and ``start_evaluations``
  are called from many threads at once (evaluation workers, proposal threads);
  the store serializes them. ``open`` and ``close`` are called from one thread,
  never concurrently with anything else.
* **Durability.** When a write method returns, the record survives the process
  being killed (a durable store; ``MemoryStore`` is the documented exception),
  except that ``add_evaluation``, ``add_candidate`` and ``add_proposal`` may
  return before their record is durable, if it becomes durable within moments
  and before any record written after it. A crash then loses only the last
  moments of the log, and what it loses a resumed run redoes: an evaluation
  whose start was durable is scored again; a candidate is only ever used by
  records written after it (lost with it); a proposal whose record is lost
  has spent evaluations no record accounts for, so it is started again (its
  evaluations come back from the store). ``start_evaluations``,
  ``add_admission`` and ``open`` are durable on return. Records are never
  merged, changed or dropped once written.
* **Order.** Records of one kind come back from ``open`` in the order they were
  written.
* **Exclusivity.** One writer per run: ``open`` refuses (``StoreInUseError``)
  while another live session writes the same run, unless ``takeover=True``.
* **Errors.** Anything that makes the store unusable raises a ``StoreError``
  subclass with a message that says what to do; a write that fails because the
  disk is full raises ``StoreFullError`` so the engine can stop the run cleanly.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .._errors import HoningError
from .._records import AdmissionRecord, CandidateRecord, EvaluationRecord, ProposalRecord

logger = logging.getLogger("honing.store")


class StoreError(HoningError, RuntimeError):
    """The run store cannot be used (foreign, damaged, mismatched, busy, read-only or full)."""


class StoreMismatchError(StoreError):
    """The store holds a different run (another seed candidate, objective or candidate type)."""


class EvaluatorChangedError(StoreMismatchError):
    """The run was stored with another evaluator; its stored scores would be mixed with new ones."""


class StoreInUseError(StoreError):
    """Another live process is writing this run."""


class StoreDamagedError(StoreError):
    """The store's file is damaged (or empty where a run was expected); nothing is written to it."""


class StoreReadOnlyError(StoreError):
    """The store cannot be written (a read-only mount or no write permission); it can still be viewed."""


class StoreFullError(StoreError):
    """A write failed because the disk (or the database's size limit) is full; the record was not stored."""


@dataclass(frozen=True)
class RunHeader:
    """What a run is, fixed when it starts and checked on every resume.

    ``fingerprint`` covers the seed candidate, the objective and the candidate
    type: a different fingerprint is another run. ``evaluator`` and
    ``evaluator_source`` identify the evaluator (qualified name, and a hash of
    its source when the source can be read); a change is refused on resume
    unless the caller says the new evaluator scores the same way.
    """

    fingerprint: str
    objective: str | None
    background: str | None
    seed_components: dict[str, str] | None
    candidate_is_str: bool
    evaluator: str | None = None
    evaluator_source: str | None = None


@dataclass
class StoredRun:
    """What ``Store.open`` returns: the run's log so far, in write order."""

    header: RunHeader | None = None
    #: a store may read these three on access (a long run's would not fit in memory at once): go through
    #: them in order, and keep only what is needed
    candidates: Sequence[CandidateRecord] = field(default_factory=list)
    evaluations: Sequence[EvaluationRecord] = field(default_factory=list)
    proposals: Sequence[ProposalRecord] = field(default_factory=list)
    #: every start of an evaluation that has no result, once per attempt (a pair repeats when it was cut
    #: short in several sessions)
    started: list[tuple[int, str]] = field(default_factory=list)
    sessions: list[dict[str, Any]] = field(default_factory=list)
    #: validation races' verdicts; None for a store written before races existed
    admissions: list[AdmissionRecord] | None = field(default_factory=list)

    @property
    def is_new(self) -> bool:
        return not (self.candidates or self.evaluations or self.proposals)


class Store(Protocol):
    """Where a run's log is kept. See the module docstring for the guarantees that hold for every method."""

    def open(self, header: RunHeader, session: dict[str, Any], *, takeover: bool = False,
             evaluator_changed_ok: bool = False) -> StoredRun:
        """Start a session of the run ``header`` describes and return everything stored so far.

        A new store records ``header`` and returns an empty ``StoredRun``. A store
        that already holds this run returns its records, each kind in write order,
        plus ``started``: the (candidate id, example key) pairs whose start was
        written with no evaluation record after it (the evaluator was running when
        a session ended), once per such start, in write order. ``session`` (a JSON-like
        dict: the config, the start time) is appended to ``sessions``.

        Refuses, writing nothing, with ``StoreMismatchError`` when the store holds
        another run (``header.fingerprint`` differs); with ``EvaluatorChangedError``
        when ``header``'s evaluator identity differs from the stored one, unless
        ``evaluator_changed_ok`` (then it logs a warning and records the new
        identity); with ``StoreInUseError`` while another live session writes the
        run, unless ``takeover``; with ``StoreDamagedError`` or another
        ``StoreError`` when the store cannot be used.
        """
        ...

    def add_candidate(self, record: CandidateRecord) -> None:
        """Append a candidate. Durable when it returns. Thread-safe."""
        ...

    def start_evaluations(self, pairs: Sequence[tuple[int, str]]) -> None:
        """Mark that the evaluator is about to run on these pairs; durable *before* any of them is called.

        These marks let a resumed run know which evaluator calls a crash cut
        short (they appear in ``StoredRun.started``): those were never scored,
        so they are run again, and counting the marks keeps an evaluator that
        kills its process every time from being retried forever. The engine
        marks each evaluation as its worker is about to call the evaluator (a
        mark is an attempt; an evaluation still queued at a crash had none);
        concurrent marks share commits. Thread-safe.
        """
        ...

    def add_evaluation(self, record: EvaluationRecord) -> None:
        """Append an evaluation (it finishes the matching start, if any).

        ``side_info`` and ``output`` may hold any Python value -- cycles, lone
        surrogates, unpicklable objects, huge strings -- and must not make this
        raise; a durable store keeps a faithful, bounded form of what it cannot
        keep exactly. Durable when it returns, or within moments and before any
        later write (see the durability guarantee). Thread-safe.
        ``StoreFullError`` when the disk is full (possibly raised by a later call,
        for a record committed in the background).
        """
        ...

    def add_proposal(self, record: ProposalRecord) -> None:
        """Append a proposal (an LM reflection, a merge or a seed generation). Durable; thread-safe."""
        ...

    def add_admission(self, record: AdmissionRecord) -> None:
        """Append a validation race's verdict (whether the candidate entered the pool). Durable; thread-safe."""
        ...

    def close(self) -> None:
        """End the session: release the run for the next writer. Idempotent; ``open`` may follow again."""
        ...


@runtime_checkable
class ReadBackStore(Store, Protocol):
    """A store that gives records back while and after the run writes them (``SQLiteStore``, ``MemoryStore``).

    Optional. With it the engine keeps only the live search in memory: a
    child that lost is forgotten (``ScoreBoard.retire``) and brought back
    with ``recall`` if its text is proposed again, and ``Result.proposals``
    comes from ``proposal_log``. Without it (a store that only writes) the
    engine keeps every record in memory, as a store's ``open`` would return
    them.
    """

    def recall(self, candidate_id: int) -> tuple[CandidateRecord, list[EvaluationRecord]] | None:
        """A candidate written by ``add_candidate`` and every evaluation of it written so far (None: unknown)."""
        ...

    def proposal_log(self) -> Sequence[ProposalRecord]:
        """This session's proposals in write order, still readable after ``close``."""
        ...


def check_resume(stored: RunHeader, new: RunHeader, *, where: str, evaluator_changed_ok: bool) -> None:
    """Refuse to continue ``stored`` as ``new`` when they are different runs; shared by every store.

    ``where`` names the store in the messages (a path, "this MemoryStore").
    """
    if stored.fingerprint != new.fingerprint:
        raise StoreMismatchError(
            f"{where} holds another run: {describe_mismatch(stored, new)} differs. Resume only with the same "
            "seed candidate and objective; for a new problem use a new run_dir (or store)")
    change = evaluator_change(stored, new)
    if change is None:
        return
    if not evaluator_changed_ok:
        raise EvaluatorChangedError(
            f"{where} was scored by another evaluator ({change}). Its stored scores would be mixed with the new "
            "evaluator's. If the new one scores exactly as the old did (a refactor, a comment), pass "
            "EngineConfig(evaluator_changed_ok=True); otherwise start a new run_dir")
    logger.warning("the evaluator changed since this run was stored (%s); resuming anyway because "
                   "evaluator_changed_ok=True: stored scores are reused as they are", change)


def evaluator_change(stored: RunHeader, new: RunHeader) -> str | None:
    """How the evaluator identity differs, or None when it does not (or the stored run did not record one)."""
    if stored.evaluator is None or new.evaluator is None:
        return None
    if stored.evaluator != new.evaluator:
        return f"stored: {stored.evaluator}, now: {new.evaluator}"
    if stored.evaluator_source and new.evaluator_source and stored.evaluator_source != new.evaluator_source:
        return f"{new.evaluator}'s source changed: hash {stored.evaluator_source} then, {new.evaluator_source} now"
    return None


def describe_mismatch(stored: RunHeader, new: RunHeader) -> str:
    differs = []
    if stored.seed_components != new.seed_components:
        differs.append("the seed candidate")
    if stored.objective != new.objective:
        differs.append("the objective")
    if stored.candidate_is_str != new.candidate_is_str:
        differs.append("the candidate type (str vs dict)")
    return " and ".join(differs) or "the run fingerprint"
