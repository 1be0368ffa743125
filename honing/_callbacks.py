"""Callbacks: observe a run without changing it.

A callback is any object with some of these methods (all optional)::

    on_start(status)            on_evaluation(record)     on_proposal(record)
    on_accept(record)           on_reject(record)         on_admission(admission)
    on_frontier_change(front)   on_end(result)

``on_accept`` fires for a proposal whose child entered the pool (it won its
minibatch, then its validation race); ``on_reject`` for every other proposal.

Events from worker threads are delivered one at a time (under a lock), so a
callback needs no locking of its own. A callback that raises stops the run;
the exception is re-raised from ``optimize_anything`` once what was already
evaluated has been recorded. Errors are never swallowed.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from ._errors import HoningError

EVENTS = ("on_start", "on_evaluation", "on_proposal", "on_accept", "on_reject", "on_admission", "on_frontier_change",
          "on_end")


class CallbackError(HoningError, RuntimeError):
    """A user callback raised; the run was stopped."""


class Callbacks:
    def __init__(self, callbacks: Sequence[Any]) -> None:
        for cb in callbacks:
            if not any(callable(getattr(cb, name, None)) for name in EVENTS):
                raise TypeError(
                    f"callback {cb!r} has none of the methods {', '.join(EVENTS)}; implement at least one"
                )
        self._callbacks = list(callbacks)
        self._lock = threading.Lock()
        self.error: BaseException | None = None

    def wants(self, event: str) -> bool:
        """Whether any callback listens to ``event`` (so nobody derives a payload nobody reads)."""
        return any(callable(getattr(cb, event, None)) for cb in self._callbacks)

    def emit(self, event: str, payload: Any) -> None:
        if not self._callbacks or self.error is not None:
            return
        with self._lock:
            for cb in self._callbacks:
                method = getattr(cb, event, None)
                if method is None:
                    continue
                try:
                    method(payload)
                except Exception as exc:
                    self.error = exc
                    return
