"""A run's records read back from its SQLite store on access, so that nothing has to hold them all.

Each proposal carries the whole reflection prompt and the LM's reply (a few
kilobytes); a run of 10,000 proposals kept them all in memory only to hand
them to ``Result.proposals``, and a resume loaded every record of the run at
once to replay it. Like Optuna's ``study.trials``, these sequences read the
store when they are used: the length is known at once, an index or a slice
decodes only what is asked for (a page at a time), iteration streams.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from array import array
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

from .._records import CandidateRecord, EvaluationRecord, ProposalRecord
from ._base import StoreError
from ._codec import Decoder
from ._failures import reading_errors
from ._rows import (
    CANDIDATE_COLUMNS,
    EVALUATION_COLUMNS,
    PROPOSAL_COLUMNS,
    blob_reader,
    candidate_from_row,
    evaluation_from_row,
    proposal_from_row,
)
from ._schema import connect

PAGE = 64  # records decoded per read
_R = TypeVar("_R")
_TABLES: dict[str, tuple[str, Callable[[tuple[Any, ...], Decoder], Any]]] = {
    "candidates": (CANDIDATE_COLUMNS, candidate_from_row),
    "evaluations": (EVALUATION_COLUMNS, evaluation_from_row),
    "proposals": (PROPOSAL_COLUMNS, proposal_from_row),
}


class StoredRecords(Sequence[_R], Generic[_R]):
    """The records of one table of ``path`` with ``after_seq`` < seq <= ``last_seq``, in write order.

    ``unpickle``: whether pickled values in them are restored, which only a
    resume of the run's own store does (a kept result may point at a file that
    was replaced after the run: its proposals are never unpickled).
    """

    table = ""

    def __init__(self, path: str | Path, after_seq: int, last_seq: int, seqs: Sequence[int] | None = None, *,
                 unpickle: bool = False, resuming: bool = False) -> None:
        self.path = Path(path)
        self.after_seq = after_seq
        self.last_seq = last_seq
        self.unpickle = unpickle
        self.resuming = resuming  # read by a resume, whose session is already noted in the file
        self._seqs: array[int] | None = None if seqs is None else array("q", seqs)
        self._page: tuple[int, list[_R]] | None = None  # (first index, records): the last page read
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._positions())

    @overload
    def __getitem__(self, index: int) -> _R: ...

    @overload
    def __getitem__(self, index: slice) -> list[_R]: ...

    def __getitem__(self, index: int | slice) -> _R | list[_R]:
        seqs = self._positions()
        if isinstance(index, slice):
            wanted = range(*index.indices(len(seqs)))
            if wanted.step == 1:
                return self._read(seqs[wanted.start:wanted.stop])
            return [self[i] for i in wanted]
        if index < 0:
            index += len(seqs)
        if not 0 <= index < len(seqs):
            raise IndexError(f"{self.table[:-1]} index {index} out of range (there are {len(seqs)})")
        with self._lock:
            page = self._page
        if page is None or not page[0] <= index < page[0] + len(page[1]):
            start = index - index % PAGE
            page = (start, self._read(seqs[start:start + PAGE]))
            with self._lock:
                self._page = page
        return page[1][index - page[0]]

    def __iter__(self) -> Iterator[_R]:
        """One read of the whole range on one connection, decoded a page at a time."""
        columns, from_row = _TABLES[self.table]
        with self._reading(f"reading its {self.table}") as conn:
            dec = self._decoder(conn)
            cursor = conn.execute(f"SELECT {columns} FROM {self.table} WHERE seq > ? AND seq <= ? ORDER BY seq",
                                  (self.after_seq, self.last_seq))
            while rows := cursor.fetchmany(PAGE):
                yield from [from_row(row, dec) for row in rows]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to a list with the same records, so unhashable like one

    def __repr__(self) -> str:
        return f"<{len(self)} {self.table} stored in {self.path}>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_restore, (type(self), str(self.path), self.after_seq, self.last_seq, list(self._positions()),
                           self.unpickle))  # a copy is no longer the resume's

    # -- reading -----------------------------------------------------------------------
    def _positions(self) -> array[int]:
        if self._seqs is None:
            with self._reading(f"listing its {self.table}") as conn:
                seqs = array("q", (s for (s,) in conn.execute(
                    f"SELECT seq FROM {self.table} WHERE seq > ? AND seq <= ? ORDER BY seq",
                    (self.after_seq, self.last_seq))))
            with self._lock:
                self._seqs = seqs
        return self._seqs

    def _read(self, seqs: Sequence[int]) -> list[_R]:
        if not seqs:
            return []
        columns, from_row = _TABLES[self.table]
        with self._reading(f"reading its {self.table}") as conn:
            dec = self._decoder(conn)
            marks = ",".join("?" * len(seqs))
            rows = conn.execute(f"SELECT seq, {columns} FROM {self.table} WHERE seq IN ({marks})",
                                tuple(seqs)).fetchall()
            by_seq = {row[0]: from_row(row[1:], dec) for row in rows}
        try:
            return [by_seq[s] for s in seqs]
        except KeyError as missing:
            raise StoreError(f"{self.table[:-1]} {missing} of this run is no longer in {self.path}; was the run "
                             "store replaced?") from None

    def _decoder(self, conn: sqlite3.Connection) -> Decoder:
        return Decoder(blob_reader(conn, cache={}), unpickle=self.unpickle)

    @contextlib.contextmanager
    def _reading(self, doing: str) -> Iterator[sqlite3.Connection]:
        """A read-only connection for one read; every failure names the file and what to do."""
        if not self.path.exists():
            raise StoreError(f"this run's {self.table} are read from its store {self.path}, which is gone (was "
                             "the run directory removed?); keep the run directory to read them")
        written = ("the resume stopped here: no record was changed or added (only the session that tried is noted)"
                   if self.resuming else "nothing was written to it")
        with reading_errors(self.path, doing, decoding=True, written=written):
            conn = connect(self.path, readonly=True)
            try:
                yield conn
            finally:
                conn.close()


class StoredProposals(StoredRecords[ProposalRecord]):
    table = "proposals"


class StoredCandidates(StoredRecords[CandidateRecord]):
    table = "candidates"


class StoredEvaluations(StoredRecords[EvaluationRecord]):
    table = "evaluations"


def _restore(cls: type[StoredRecords[Any]], path: str, after_seq: int, last_seq: int, seqs: list[int],
             unpickle: bool) -> StoredRecords[Any]:
    return cls(path, after_seq, last_seq, seqs, unpickle=unpickle)
