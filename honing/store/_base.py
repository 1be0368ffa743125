"""The ``Store`` protocol and the in-memory store.

A store persists a run's append-only log (see ``_records``). Contract:

* ``open(header)`` creates the run, or returns what an earlier session of the
  same run stored; a header whose fingerprint differs (another seed or
  objective) raises ``StoreMismatchError``.
* ``start_evaluation`` is written *before* the evaluator is called. On resume,
  an evaluation that was started but never finished counts as spent budget and
  is not run again, so a crash can never make the evaluator run more often
  than the budget allows, nor run one (candidate, example) pair twice.
* Writes may come from several threads; implementations serialize them.
* Records are immutable once written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from .._errors import HoningError
from .._records import CandidateRecord, EvaluationRecord, ProposalRecord


class StoreError(HoningError, RuntimeError):
    """The run store cannot be used (corrupted, foreign, or mismatched)."""


class StoreMismatchError(StoreError):
    """The store holds a different run (another seed or objective)."""


@dataclass(frozen=True)
class RunHeader:
    fingerprint: str
    objective: str | None
    background: str | None
    seed_components: dict[str, str] | None
    candidate_is_str: bool


@dataclass
class StoredRun:
    header: RunHeader | None = None
    candidates: list[CandidateRecord] = field(default_factory=list)
    evaluations: list[EvaluationRecord] = field(default_factory=list)
    proposals: list[ProposalRecord] = field(default_factory=list)
    started: list[tuple[int, str]] = field(default_factory=list)  # unfinished evaluations
    sessions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_new(self) -> bool:
        return not (self.candidates or self.evaluations or self.proposals)


class Store(Protocol):
    def open(self, header: RunHeader, session: dict[str, Any]) -> StoredRun: ...

    def add_candidate(self, record: CandidateRecord) -> None: ...

    def start_evaluation(self, candidate_id: int, example_key: str) -> None: ...

    def add_evaluation(self, record: EvaluationRecord) -> None: ...

    def add_proposal(self, record: ProposalRecord) -> None: ...

    def close(self) -> None: ...
