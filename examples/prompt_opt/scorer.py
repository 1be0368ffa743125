"""Answer parsing and the per-problem evaluator for the prompt-optimization example."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

_NUMBER = r"-?\$?\s*\d[\d,]*(?:\.\d+)?"
_MARKED = [
    re.compile(r"\\boxed\{\s*(" + _NUMBER + r")\s*\}"),
    re.compile(r"answer(?:\s+is)?\s*[:=]?\s*\**\s*(" + _NUMBER + r")", re.IGNORECASE),
    re.compile(r"####\s*(" + _NUMBER + r")"),
]
_ANY = re.compile(_NUMBER)


def _to_int(text: str) -> int | None:
    cleaned = text.replace("$", "").replace(",", "").replace(" ", "")
    try:
        value = float(cleaned)
    except ValueError:
        return None
    return int(value) if value == int(value) else None


def parse_answer(text: str) -> int | None:
    """The final integer answer in a model's reply, or None.

    Prefers an explicit marker (``\\boxed{N}``, ``Answer: N``, ``The answer is N``, ``#### N``;
    the last one wins), else takes the last number in the reply. ``1,234`` and ``$56`` and
    ``89.0`` all parse; a non-integer such as ``12.5`` gives None.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    for pattern in _MARKED:
        found = pattern.findall(text)
        if found:
            return _to_int(found[-1])
    numbers = _ANY.findall(text)
    return _to_int(numbers[-1]) if numbers else None


TaskModel = Callable[[list[dict]], str]


def make_evaluator(task_lm: TaskModel, show_solution: bool = True):
    """``evaluate(system_prompt, problem) -> (score, output, side_info)`` using ``task_lm``."""

    def evaluate(candidate: str, problem: dict) -> tuple[float, dict[str, Any], dict[str, Any]]:
        messages = [{"role": "system", "content": candidate}, {"role": "user", "content": problem["question"]}]
        reply = task_lm(messages)
        got = parse_answer(reply)
        expected = problem["answer"]
        score = float(got == expected)
        if got is None:
            feedback = (f"No integer answer could be parsed from the reply. The correct answer is {expected}. "
                        "The reply should end with a line such as 'Answer: 42'.")
        else:
            feedback = f"The answer {got} is {'correct' if score else 'incorrect'}. The correct answer is {expected}."
        if show_solution and not score:
            feedback += f" Worked solution: {problem['solution']}."
        side_info = {
            "Input": problem["question"],
            "Reasoning": reply[-1500:],
            "ParsedAnswer": got,
            "ExpectedAnswer": expected,
            "Feedback": feedback,
        }
        return score, {"answer": got}, side_info

    return evaluate
