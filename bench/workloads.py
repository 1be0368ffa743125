"""Workload definitions shared by both sides of the throughput benchmark.

This module must stay importable from *any* interpreter -- the honing
environment and the separate GEPA benchmark venv -- so it imports neither
``honing`` nor ``gepa`` (and nothing outside the standard library).

The "throughput" workload is a deliberately trivial optimisation problem whose
cost is dominated by simulated I/O latency, so that a run measures how well an
optimiser overlaps evaluator and LM waits rather than how smart it is:

* 64 examples ``{"id": i, "target": t}`` with ``t`` drawn from 1..20 by a
  seeded RNG; the first 32 are the training set, the last 32 the validation set.
* The candidate is a plain string.  Its score on an example is 1.0 when it
  contains at least ``target`` ``step`` tokens, else ``found / target``.
* The scripted "LM" ignores everything except the longest run of consecutive
  ``step`` tokens in its prompt and answers with one more, inside a fenced
  block.  It therefore climbs one step per reflection regardless of the exact
  prompt format each library uses.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "NUM_EXAMPLES",
    "NUM_TRAIN",
    "MAX_TARGET",
    "SEED_CANDIDATE",
    "TOKEN",
    "CallCounter",
    "count_steps",
    "longest_step_run",
    "make_examples",
    "split_examples",
    "make_evaluator",
    "make_lm",
    "score_candidate",
]

NUM_EXAMPLES = 64
NUM_TRAIN = 32
MAX_TARGET = 20
TOKEN = "step"
SEED_CANDIDATE = TOKEN

_TOKEN_RE = re.compile(r"\b" + TOKEN + r"\b", re.IGNORECASE)
# One or more "step" tokens separated only by whitespace.
_RUN_RE = re.compile(r"\b" + TOKEN + r"(?:\s+" + TOKEN + r")*\b", re.IGNORECASE)


def make_examples(seed: int = 0) -> list[dict[str, int]]:
    """The 64 examples of the throughput workload (deterministic for ``seed``)."""
    rng = random.Random(seed)
    return [{"id": i, "target": rng.randint(1, MAX_TARGET)} for i in range(NUM_EXAMPLES)]


def split_examples(seed: int = 0) -> tuple[list[dict[str, int]], list[dict[str, int]]]:
    """``(train, val)``: the first 32 examples and the last 32."""
    examples = make_examples(seed)
    return examples[:NUM_TRAIN], examples[NUM_TRAIN:]


def count_steps(text: str) -> int:
    """Number of whole-word ``step`` tokens in ``text``."""
    return len(_TOKEN_RE.findall(text))


def longest_step_run(text: str) -> int:
    """Length of the longest run of consecutive ``step`` tokens in ``text``."""
    best = 0
    for match in _RUN_RE.finditer(text):
        best = max(best, count_steps(match.group(0)))
    return best


def score_candidate(candidate: str, example: dict[str, Any]) -> tuple[float, dict[str, int]]:
    """Latency-free scoring rule: ``(score, side_info)``."""
    target = int(example["target"])
    found = count_steps(candidate)
    score = 1.0 if found >= target else found / target
    return score, {"target": target, "found": found}


@dataclass
class CallCounter:
    """Thread-safe tally of evaluator calls and the time spent inside them."""

    calls: int = 0
    busy_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, duration_s: float) -> None:
        with self._lock:
            self.calls += 1
            self.busy_s += duration_s

    def snapshot(self) -> tuple[int, float]:
        with self._lock:
            return self.calls, self.busy_s


def make_evaluator(
    latency: float = 0.05, counter: CallCounter | None = None
) -> Callable[[str, dict[str, Any]], tuple[float, dict[str, int]]]:
    """``evaluator(candidate, example) -> (score, side_info)`` that sleeps ``latency`` s.

    When ``counter`` is given, every call (and its duration) is recorded on it.
    """

    def evaluator(candidate: str, example: dict[str, Any]) -> tuple[float, dict[str, int]]:
        started = time.perf_counter()
        try:
            if latency > 0:
                time.sleep(latency)  # simulated I/O: releases the GIL
            return score_candidate(candidate, example)
        finally:
            if counter is not None:
                counter.record(time.perf_counter() - started)

    return evaluator


def prompt_text(prompt: Any) -> str:
    """Flatten a str prompt or a chat-messages list into plain text (the search workloads' LM reads it too)."""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, dict):
        return prompt_text(prompt.get("content", ""))
    if isinstance(prompt, (list, tuple)):
        return "\n".join(prompt_text(part) for part in prompt)
    return str(prompt)


def make_lm(latency: float = 1.0, vary: bool = True) -> Callable[[Any], str]:
    """Scripted reflection LM: ``lm(prompt) -> str`` that sleeps ``latency`` s.

    It answers with ``longest_step_run(prompt) + 1`` ``step`` tokens joined by
    single spaces, inside a fenced block.  Accepts a str prompt or a list of
    chat messages (``{"role": ..., "content": ...}``).

    With ``vary`` (the default), each reply also carries a draft number, as a
    sampling LLM's replies differ from call to call; the number never changes
    a score. Without it, concurrent proposals from one parent would all return
    the very same text, which no real model at temperature > 0 does.
    """
    counter = iter(range(1, 1 << 62))
    lock = threading.Lock()

    def lm(prompt: Any, *args: Any, **kwargs: Any) -> str:
        if latency > 0:
            time.sleep(latency)
        n = longest_step_run(prompt_text(prompt)) + 1
        body = " ".join([TOKEN] * n)
        if vary:
            with lock:
                body += f"\n(draft {next(counter)})"
        return "```\n" + body + "\n```"

    return lm
