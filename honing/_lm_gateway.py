"""The one path every LM call of a run takes: slot, stop check, time limit, usage.

Reflection, merge-free seed generation and the refiner all call the LM
through ``LMGateway.complete``, so each call

* waits for a slot when the LM serves only a few calls at once (the embedded
  model serves one), and waiting here, not inside the LM, lets a stop cancel
  the wait;
* runs on a daemon helper thread and is given up on when the run stops or
  the call outlives ``timeout_s`` (a provider that never answers cannot hold a
  run, and Ctrl-C ends it within moments);
* is counted once, in one ``UsageMeter`` (calls, tokens, cost).
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from typing import Any

from ._workers import WorkerPool
from .llm._base import LM, Completion, LMError
from .llm._usage import Usage, UsageMeter

_POLL_S = 0.1


class Stopped(Exception):
    """The run stopped while this call waited for the LM (nothing was spent)."""


class LMFailed(Exception):
    """The LM call failed or timed out; ``error`` is what to report."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class LMGateway:
    def __init__(self, lm: LM | None, *, stopping: threading.Event, timeout_s: float | None = None,
                 meter: UsageMeter | None = None) -> None:
        self.lm = lm
        self.stopping = stopping
        self.timeout_s = timeout_s
        self.meter = meter or UsageMeter()
        slots = getattr(lm, "max_concurrency", None)
        self.slots = slots if isinstance(slots, int) and not isinstance(slots, bool) and slots > 0 else None
        self._slots = threading.BoundedSemaphore(self.slots) if self.slots else None
        self._calls = WorkerPool(max(4, self.slots or 0), "honing-lm")
        self._held = threading.local()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the LM's slots (a no-op for LMs without a limit); raises ``Stopped`` on a stop.

        A proposal takes the slot *before* it chooses its parent, so it plans
        from the freshest frontier the moment the LM can actually serve it.
        """
        depth: int = getattr(self._held, "depth", 0)
        if self._slots is None or depth:
            yield
            return
        while not self._slots.acquire(timeout=_POLL_S):
            if self.stopping.is_set():
                raise Stopped()
        self._held.depth = 1
        try:
            yield
        finally:
            self._held.depth = 0
            self._slots.release()

    def complete(self, messages: list[dict[str, Any]], timeout_s: float | None = None) -> Completion:
        """One LM call; raises ``LMFailed`` (error, time limit) or ``Stopped``."""
        if self.lm is None:
            raise LMFailed(LMError("no reflection LM is configured"))
        with self.slot():
            if self.stopping.is_set():
                raise Stopped()
            # The caller's context goes along: it carries the reply hints the LM may read (llm._hints).
            task = self._calls.submit(contextvars.copy_context().run, self.lm.complete, messages)
            limit = timeout_s if timeout_s is not None else self.timeout_s
            deadline = None if limit is None else time.monotonic() + limit
            while True:
                wait = _POLL_S if deadline is None else max(0.0, min(_POLL_S, deadline - time.monotonic()))
                try:
                    completion = task.future.result(timeout=wait)
                    break
                except FutureTimeout:
                    if self.stopping.is_set():
                        self._abandon(task)
                        raise Stopped() from None
                    if deadline is not None and time.monotonic() >= deadline:
                        self._abandon(task)
                        raise LMFailed(LMError(f"the LM call did not finish within {limit:g} s")) from None
                except Exception as exc:
                    raise LMFailed(exc) from exc
        if not isinstance(completion, Completion):
            raise LMFailed(LMError(f"LM.complete() returned {type(completion).__name__}, expected Completion"))
        self.meter.add(completion)
        return completion

    def _abandon(self, task: Any) -> None:
        """Give up on a call; an LM that can end its calls (the embedded model) stops computing it too."""
        if self._calls.abandon(task):
            cancel = getattr(self.lm, "cancel", None)
            if callable(cancel) and self.slots == 1:  # one slot: the only call running is this one
                cancel()

    def usage(self) -> Usage:
        return self.meter.snapshot()

    def activity(self) -> str | None:
        """The LM's own account of the call it is serving, if it gives one (e.g. tokens so far)."""
        report = getattr(self.lm, "activity", None)
        if not callable(report):
            return None
        try:
            text = report()
        except Exception:  # a display aid must never break a run
            return None
        return text if isinstance(text, str) else None

    def close(self) -> None:
        self._calls.shutdown()
