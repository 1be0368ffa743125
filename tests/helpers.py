"""A toy problem whose optimum the scripted LM can reach step by step."""

from __future__ import annotations

import re
import threading

from tests.conftest import ScriptedLM, fenced


def longest_run(text: str, char: str = "@") -> int:
    runs = re.findall(re.escape(char) + "+", text)
    return max((len(r) for r in runs), default=0)


def growing_lm(step: int = 1, **kwargs) -> ScriptedLM:
    """Replies with one more '@' than the longest run of '@' in the prompt."""
    return ScriptedLM(lambda prompt: fenced("@" * (longest_run(prompt) + step)), **kwargs)


class CountingEvaluator:
    """Scores a candidate by its number of '@' (capped at ``cap``); counts its calls."""

    def __init__(self, cap: int = 10, with_example: bool = False) -> None:
        self.cap = cap
        self.with_example = with_example
        self.calls: list[tuple[str, object]] = []
        self._lock = threading.Lock()

    def score(self, text: str) -> float:
        return min(text.count("@"), self.cap) / self.cap

    def __call__(self, candidate, example=None):
        text = candidate if isinstance(candidate, str) else candidate["text"]
        with self._lock:
            self.calls.append((text, repr(example)))
        return self.score(text), {"count": text.count("@"), "hint": "more @ is better"}
