"""RetryingLM: backoff on transient errors only, and a clear final error."""

from __future__ import annotations

import random

import pytest

from honing.llm import Completion, LMError, RetryingLM, TransientLMError

MESSAGES = [{"role": "user", "content": "x"}]


class Flaky:
    """Raises the queued errors in order, then answers."""

    context_window = 8192
    name = "flaky"

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    def complete(self, messages):
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return Completion(text="done")


def test_transient_then_success():
    sleeps: list[float] = []
    inner = Flaky(TransientLMError("429"), TransientLMError("503"))
    lm = RetryingLM(inner, base_delay_s=1.0, max_delay_s=30.0, sleep=sleeps.append, rng=random.Random(0))
    assert lm.complete(MESSAGES).text == "done"
    assert inner.calls == 3
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0  # exponential, jittered down by at most half


def test_permanent_error_is_not_retried():
    sleeps: list[float] = []
    inner = Flaky(LMError("bad key"))
    with pytest.raises(LMError, match="bad key") as info:
        RetryingLM(inner, sleep=sleeps.append).complete(MESSAGES)
    assert not isinstance(info.value, TransientLMError)
    assert inner.calls == 1 and sleeps == []


def test_other_exceptions_propagate_at_once():
    inner = Flaky(ValueError("bug"))
    with pytest.raises(ValueError):
        RetryingLM(inner, sleep=lambda s: None).complete(MESSAGES)
    assert inner.calls == 1


def test_exhausted_retries_raise_lmerror_chained_to_the_last():
    sleeps: list[float] = []
    errors = [TransientLMError(f"overloaded {i}") for i in range(3)]
    inner = Flaky(*errors)
    with pytest.raises(LMError) as info:
        RetryingLM(inner, max_attempts=3, sleep=sleeps.append, rng=random.Random(1)).complete(MESSAGES)
    assert not isinstance(info.value, TransientLMError)  # outer layers must not retry again
    assert info.value.__cause__ is errors[-1]
    assert "3 attempts" in str(info.value) and "overloaded 2" in str(info.value) and "flaky" in str(info.value)
    assert inner.calls == 3 and len(sleeps) == 2


def test_delays_are_capped_and_honour_retry_after():
    lm = RetryingLM(Flaky(), base_delay_s=1.0, max_delay_s=5.0, rng=random.Random(2))
    assert all(2.5 <= lm.delay_s(10) <= 5.0 for _ in range(20))
    hinted = TransientLMError("429")
    hinted.retry_after_s = 2.0  # type: ignore[attr-defined]
    assert lm.delay_s(1, hinted) == 2.0
    hinted.retry_after_s = 999.0  # type: ignore[attr-defined]
    assert lm.delay_s(1, hinted) == 5.0


def test_attributes_pass_through():
    lm = RetryingLM(Flaky())
    assert lm.context_window == 8192
    assert lm.name == "flaky"
    assert not hasattr(RetryingLM(object()), "context_window")  # type: ignore[arg-type]


def test_bad_settings():
    with pytest.raises(ValueError):
        RetryingLM(Flaky(), max_attempts=0)
