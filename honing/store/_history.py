"""A run's proposals read back from its SQLite store on access, so a finished run's result holds none of them.

Each proposal carries the whole reflection prompt and the LM's reply (a few
kilobytes); a run of 10,000 proposals kept them all in memory only to hand
them to ``Result.proposals``. Like Optuna's ``study.trials``, the list now
reads the store when it is used: its length is known at once, an index or a
slice decodes only what is asked for (a page at a time), iteration streams.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

from .._records import ProposalRecord
from ._base import StoreError
from ._codec import Decoder
from ._failures import reading_errors
from ._rows import PROPOSAL_COLUMNS, blob_reader, proposal_from_row
from ._schema import connect

PAGE = 64  # proposals decoded per read


class StoredProposals(Sequence[ProposalRecord]):
    """The proposals one session wrote to ``path`` (``after_seq`` < seq <= ``last_seq``), in write order."""

    def __init__(self, path: str | Path, after_seq: int, last_seq: int, seqs: Sequence[int] | None = None) -> None:
        self.path = Path(path)
        self.after_seq = after_seq
        self.last_seq = last_seq
        self._seqs: array[int] | None = None if seqs is None else array("q", seqs)
        self._page: tuple[int, list[ProposalRecord]] | None = None  # (first index, records): the last page read
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._positions())

    @overload
    def __getitem__(self, index: int) -> ProposalRecord: ...

    @overload
    def __getitem__(self, index: slice) -> list[ProposalRecord]: ...

    def __getitem__(self, index: int | slice) -> ProposalRecord | list[ProposalRecord]:
        seqs = self._positions()
        if isinstance(index, slice):
            wanted = range(*index.indices(len(seqs)))
            if wanted.step == 1:
                return self._read(seqs[wanted.start:wanted.stop])
            return [self[i] for i in wanted]
        if index < 0:
            index += len(seqs)
        if not 0 <= index < len(seqs):
            raise IndexError(f"proposal index {index} out of range (this run made {len(seqs)})")
        with self._lock:
            page = self._page
        if page is None or not page[0] <= index < page[0] + len(page[1]):
            start = index - index % PAGE
            page = (start, self._read(seqs[start:start + PAGE]))
            with self._lock:
                self._page = page
        return page[1][index - page[0]]

    def __iter__(self) -> Iterator[ProposalRecord]:
        seqs = self._positions()
        for start in range(0, len(seqs), PAGE):
            yield from self._read(seqs[start:start + PAGE])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to a list with the same records, so unhashable like one

    def __repr__(self) -> str:
        return f"<{len(self)} proposals stored in {self.path}>"

    def __reduce__(self) -> tuple[Any, ...]:
        return (StoredProposals, (str(self.path), self.after_seq, self.last_seq, list(self._positions())))

    # -- reading -----------------------------------------------------------------------
    def _positions(self) -> array[int]:
        if self._seqs is None:
            with self._reading("listing its proposals") as conn:
                seqs = array("q", (s for (s,) in conn.execute(
                    "SELECT seq FROM proposals WHERE seq > ? AND seq <= ? ORDER BY seq",
                    (self.after_seq, self.last_seq))))
            with self._lock:
                self._seqs = seqs
        return self._seqs

    def _read(self, seqs: Sequence[int]) -> list[ProposalRecord]:
        if not seqs:
            return []
        with self._reading("reading its proposals") as conn:
            # Never unpickled: the file may have been replaced since the run (a result can be kept and moved).
            dec = Decoder(blob_reader(conn, cache={}), unpickle=False)
            marks = ",".join("?" * len(seqs))
            rows = conn.execute(f"SELECT seq, {PROPOSAL_COLUMNS} FROM proposals WHERE seq IN ({marks})",
                                tuple(seqs)).fetchall()
            by_seq = {row[0]: proposal_from_row(row[1:], dec) for row in rows}
        try:
            return [by_seq[s] for s in seqs]
        except KeyError as missing:
            raise StoreError(f"proposal {missing} of this run is no longer in {self.path}; was the run store "
                             "replaced?") from None

    @contextlib.contextmanager
    def _reading(self, doing: str) -> Iterator[sqlite3.Connection]:
        """A read-only connection for one read; every failure names the file and what to do."""
        if not self.path.exists():
            raise StoreError(f"result.proposals reads this run's proposals from its store {self.path}, which is "
                             "gone (was the run directory removed?); keep the run directory to read them")
        with reading_errors(self.path, doing, decoding=True):
            conn = connect(self.path, readonly=True)
            try:
                yield conn
            finally:
                conn.close()
