"""Retry transient LM failures with exponential backoff and jitter.

Hosted models fail routinely for reasons that pass on their own: rate limits,
overloaded servers, dropped connections. An optimization run makes hundreds
of calls from several threads, so those failures must be absorbed here rather
than end the run. Jitter matters because parallel workers that hit the same
rate limit would otherwise retry in lockstep and hit it again together.
Permanent errors (bad key, unknown model, malformed request) are not retried:
repeating them only wastes time before the same error.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

from ._base import LM, Completion, LMError, Message, TransientLMError, inner_attribute


class RetryingLM:
    """Wraps an LM; retries its ``TransientLMError`` up to ``max_attempts`` calls in all.

    The wait before retry ``n`` (1-based) is ``base_delay_s * 2**(n-1)``,
    capped at ``max_delay_s``, then scaled by a random factor in [0.5, 1.0].
    When the error carries ``retry_after_s`` (a server's Retry-After), that
    is waited instead, still capped at ``max_delay_s``. Once attempts run
    out, an ``LMError`` (not transient, so outer layers do not retry again)
    is raised from the last error. Any other exception propagates at once.
    """

    def __init__(
        self,
        inner: LM,
        max_attempts: int = 5,
        base_delay_s: float = 1.0,
        max_delay_s: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if base_delay_s < 0 or max_delay_s < 0:
            raise ValueError("delays must not be negative")
        self.inner = inner
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self._sleep = sleep
        self._rng = rng if rng is not None else random.Random()
        self._rng_lock = threading.Lock()  # a shared, seeded rng stays reproducible per draw

    def complete(self, messages: list[Message]) -> Completion:
        last: TransientLMError | None = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                return self.inner.complete(messages)
            except TransientLMError as exc:
                last = exc
                if attempt < self.max_attempts:
                    self._sleep(self.delay_s(attempt, exc))
        raise LMError(
            f"{_describe(self.inner)} still failing after {self.max_attempts} attempts: {last}"
        ) from last

    def delay_s(self, attempt: int, error: BaseException | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        retry_after = getattr(error, "retry_after_s", None)
        if isinstance(retry_after, (int, float)) and retry_after >= 0:
            return min(float(retry_after), self.max_delay_s)
        backoff: float = min(self.base_delay_s * 2 ** (attempt - 1), self.max_delay_s)
        with self._rng_lock:
            factor = 0.5 + 0.5 * self._rng.random()
        return backoff * factor

    # Picklable (locks are not), so task code shipped to a worker process can carry its model.
    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_rng_lock"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._rng_lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return inner_attribute(self, name)

    def __repr__(self) -> str:
        return f"RetryingLM({self.inner!r}, max_attempts={self.max_attempts})"


def _describe(lm: Any) -> str:
    name = getattr(lm, "name", None) or getattr(lm, "model", None)
    return f"LM {name!r}" if isinstance(name, str) else type(lm).__name__
