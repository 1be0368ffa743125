"""``MemoryStore``: the run log kept in memory (tests, throwaway runs)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from .._records import AdmissionRecord, CandidateRecord, EvaluationRecord, ProposalRecord
from ._base import RunHeader, StoredRun, check_resume


class MemoryStore:
    """Keeps the log in memory: nothing survives the process. Useful for tests and throwaway runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._run = StoredRun()  # header, sessions, starts and admissions; the records are in the lists below
        self._candidate_log: list[CandidateRecord] = []
        self._evaluation_log: list[EvaluationRecord] = []
        self._proposal_log: list[ProposalRecord] = []
        self._session_start = 0  # proposals written before this session
        self._candidates: dict[int, CandidateRecord] = {}
        self._evaluations: dict[int, list[EvaluationRecord]] = {}

    def open(self, header: RunHeader, session: dict[str, Any], *, takeover: bool = False,
             evaluator_changed_ok: bool = False) -> StoredRun:
        """As ``Store.open``; ``takeover`` has no meaning here (one process, one object)."""
        with self._lock:
            if self._run.header is not None:
                check_resume(self._run.header, header, where="this MemoryStore",
                             evaluator_changed_ok=evaluator_changed_ok)
            self._run.header = header
            self._run.sessions.append(dict(session))
            self._session_start = len(self._proposal_log)
            return StoredRun(
                header=header,
                candidates=list(self._candidate_log),
                evaluations=list(self._evaluation_log),
                proposals=list(self._proposal_log),
                started=list(self._pending()),
                sessions=list(self._run.sessions),
                admissions=list(self._run.admissions or []),
            )

    def _pending(self) -> list[tuple[int, str]]:
        done = {(e.candidate_id, e.example_key) for e in self._evaluation_log}
        return [s for s in self._run.started if s not in done]

    def add_candidate(self, record: CandidateRecord) -> None:
        with self._lock:
            self._candidate_log.append(record)
            self._candidates[record.id] = record

    def start_evaluations(self, pairs: Sequence[tuple[int, str]]) -> None:
        with self._lock:
            self._run.started.extend(pairs)

    def add_evaluation(self, record: EvaluationRecord) -> None:
        with self._lock:
            self._evaluation_log.append(record)
            self._evaluations.setdefault(record.candidate_id, []).append(record)

    def add_proposal(self, record: ProposalRecord) -> None:
        with self._lock:
            self._proposal_log.append(record)

    def add_admission(self, record: AdmissionRecord) -> None:
        with self._lock:
            assert self._run.admissions is not None
            self._run.admissions.append(record)

    def recall(self, candidate_id: int) -> tuple[CandidateRecord, list[EvaluationRecord]] | None:
        with self._lock:
            record = self._candidates.get(candidate_id)
            return None if record is None else (record, list(self._evaluations.get(candidate_id, ())))

    def proposal_log(self) -> list[ProposalRecord]:
        with self._lock:
            return self._proposal_log[self._session_start:]

    def close(self) -> None:
        pass
