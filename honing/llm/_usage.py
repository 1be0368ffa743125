"""Running totals of LM calls, tokens and spend.

The engine stops a run once it has spent ``max_cost_usd``; that needs one
place that every completion is added to, from many worker threads at once.
Cost is often unknown (local models, unpriced endpoints), and an unknown
cost is not a zero cost: the meter sums the costs it knows and counts the
calls it could not price, so a report can say "$0.42 + 3 unpriced calls"
instead of silently under-reporting.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from ._base import LM, Completion, Message, inner_attribute


@dataclass(frozen=True)
class Usage:
    """A consistent snapshot of a meter's totals."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    duration_s: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost_known(self) -> bool:
        """True when every call so far had a price, so ``cost_usd`` is the full spend."""
        return self.unpriced_calls == 0


class UsageMeter:
    """Thread-safe accumulator of completions. ``add`` is cheap; read with ``snapshot``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._usage = Usage()

    def add(self, completion: Completion) -> None:
        with self._lock:
            u = self._usage
            priced = completion.cost_usd is not None
            self._usage = Usage(
                calls=u.calls + 1,
                prompt_tokens=u.prompt_tokens + (completion.prompt_tokens or 0),
                completion_tokens=u.completion_tokens + (completion.completion_tokens or 0),
                cost_usd=u.cost_usd + (completion.cost_usd or 0.0),
                unpriced_calls=u.unpriced_calls + (0 if priced else 1),
                duration_s=u.duration_s + (completion.duration_s or 0.0),
            )

    def snapshot(self) -> Usage:
        with self._lock:
            return self._usage

    def reset(self) -> Usage:
        """Zero the totals; returns what they were."""
        with self._lock:
            previous, self._usage = self._usage, Usage()
            return previous

    @property
    def calls(self) -> int:
        return self.snapshot().calls

    @property
    def cost_usd(self) -> float:
        """Sum of the known costs (see ``unpriced_calls`` for the rest)."""
        return self.snapshot().cost_usd

    @property
    def unpriced_calls(self) -> int:
        return self.snapshot().unpriced_calls

    def __getstate__(self) -> dict[str, Any]:  # picklable: totals travel, the lock does not
        return {"usage": self.snapshot()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._lock = threading.Lock()
        self._usage = state["usage"]

    def metered(self, lm: Any) -> MeteredLM:
        """``lm`` wrapped so that each of its completions is added to this meter."""
        return MeteredLM(lm, self)

    def __repr__(self) -> str:
        u = self.snapshot()
        return (f"UsageMeter(calls={u.calls}, tokens={u.prompt_tokens}+{u.completion_tokens}, "
                f"cost_usd={u.cost_usd:.6f}, unpriced_calls={u.unpriced_calls})")


class MeteredLM:
    """An LM that records every completion in a ``UsageMeter`` (other attributes pass through)."""

    def __init__(self, inner: LM, meter: UsageMeter) -> None:
        self.inner = inner
        self.meter = meter

    def complete(self, messages: list[Message]) -> Completion:
        completion = self.inner.complete(messages)
        self.meter.add(completion)
        return completion

    def __getattr__(self, name: str) -> Any:
        return inner_attribute(self, name)
