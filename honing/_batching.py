"""GEPA's ``batch_evaluator=``: many (candidate, example) pairs in one call of the user's function.

A batch evaluator exists for evaluations that are cheaper together (a
provider's batch API, a job submitted to a cluster). honing's engine asks for
evaluations one pair at a time, on its worker threads, so the pairs that are
waiting at the same moment are grouped here: the first waiting thread becomes
the leader, waits a few milliseconds for the others to arrive (at most
``max_batch``, the number of workers), calls the user's function once with
all of them, and hands each thread its own result. The budget, the cache and
the store still see one evaluation per pair.

The user's function runs outside any evaluation's log context, as in GEPA:
``hn.log`` and stdio capture do not apply to it, so diagnostics belong in each
result's side_info.
"""

from __future__ import annotations

import contextvars
import copy
import inspect
import threading
import time
from collections.abc import Callable
from typing import Any

from ._evaluation import EvaluatorSignatureError, run_awaitable


class _Pending:
    __slots__ = ("done", "error", "pair", "result", "state")

    def __init__(self, pair: tuple[Any, Any], state: Any) -> None:
        self.pair = pair
        self.state = state
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


class BatchEvaluator:
    """Groups concurrent calls into calls of ``fn(pairs[, opt_states=...]) -> list of results``."""

    def __init__(self, fn: Callable[..., Any], *, max_batch: int, window_s: float = 0.005) -> None:
        if not callable(fn):
            raise TypeError(f"batch_evaluator must be callable, got {type(fn).__name__}")
        self.fn = fn
        self.wants_opt_states = _check_signature(fn)
        self.max_batch = max(1, max_batch)
        self.window_s = window_s
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._leading = False

    def call(self, candidate: Any, example: Any, state: Any) -> Any:
        """This pair's result from the user's function (or its exception, re-raised)."""
        pending = _Pending((candidate, example), state)
        with self._lock:
            self._queue.append(pending)
            lead = not self._leading
            self._leading = True
        if lead:
            self._lead()
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.result

    def _lead(self) -> None:
        while True:
            batch = self._gather()
            self._run(batch)
            with self._lock:
                if not self._queue:
                    self._leading = False
                    return

    def _gather(self) -> list[_Pending]:
        """Wait until no more pairs arrive within the window (or the batch is full), then take them."""
        seen = -1
        while True:
            with self._lock:
                size = len(self._queue)
                if size >= self.max_batch or size == seen:
                    batch, self._queue = self._queue[:self.max_batch], self._queue[self.max_batch:]
                    return batch
            seen = size
            time.sleep(self.window_s)

    def _run(self, batch: list[_Pending]) -> None:
        pairs = [p.pair for p in batch]
        kwargs = {"opt_states": [p.state for p in batch]} if self.wants_opt_states else {}
        try:
            results = contextvars.Context().run(self._invoke, pairs, kwargs)
            if len(results) != len(batch):
                raise ValueError(f"batch_evaluator returned {len(results)} results for {len(batch)} pairs; "
                                 "it must return one result per (candidate, example) pair, in order")
        except Exception as exc:  # every pair of the batch failed the same way; each thread records it
            for pending in batch:
                pending.error = _own_copy(exc)
                pending.done.set()
            return
        for pending, result in zip(batch, results):
            pending.result = result
            pending.done.set()

    def _invoke(self, pairs: list[Any], kwargs: dict[str, Any]) -> list[Any]:
        returned = self.fn(pairs, **kwargs)
        if inspect.isawaitable(returned):
            returned = run_awaitable(returned)
        if isinstance(returned, (str, bytes, dict)) or not hasattr(returned, "__iter__"):
            raise TypeError(f"batch_evaluator returned {type(returned).__name__}; it must return a list with one "
                            "result per pair (a score, (score, side_info) or (score, output, side_info))")
        return list(returned)


def _own_copy(exc: Exception) -> Exception:
    """A copy of ``exc`` with its traceback, so threads re-raising it never share one object."""
    try:
        clone = copy.copy(exc)
    except Exception:
        return exc
    return clone.with_traceback(exc.__traceback__) if type(clone) is type(exc) else exc


def _check_signature(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` takes ``opt_states``; raises when it cannot take the list of pairs."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    params = signature.parameters.values()
    wants = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params) or "opt_states" in signature.parameters
    try:
        signature.bind([], **({"opt_states": []} if wants else {}))
    except TypeError as exc:
        name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
        raise EvaluatorSignatureError(
            f"batch_evaluator {name}{signature} cannot be called as batch_evaluator(pairs) (pairs: a list of "
            f"(candidate, example) tuples; opt_states=[...] too when it declares it): {exc}") from None
    return wants
