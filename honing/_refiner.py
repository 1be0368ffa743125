"""Per-evaluation refinement with a co-evolved refinement prompt (``RefinerConfig``).

When enabled, every candidate carries a ``refiner_prompt`` component. After a
candidate is evaluated on an example, the refiner LM reads that prompt, the
candidate's other components and the evaluation's feedback, and proposes a
refined version; the refined version is evaluated as a candidate of its own
(origin "refined", one more unit of budget, recorded like any evaluation)
and the better of the two is what the original's evaluation records. Because the
refinement prompt is a component, reflection improves it like any other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from ._config import ConfigError, RefinerConfig
from ._evaluation import Outcome
from ._reflection import parse_reflection_reply
from ._render import render_side_info
from .llm._base import Message

REFINER_COMPONENT = "refiner_prompt"

DEFAULT_REFINER_PROMPT = (
    "You refine a candidate right after it was evaluated.\n"
    "Goal: {objective}\n"
    "Context: {background}\n"
    "Read the evaluation feedback, fix every problem it reveals, keep what already works, "
    "and return the complete refined candidate."
)


def add_refiner_component(seed: dict[str, str] | None, config: RefinerConfig, objective: str | None,
                          background: str | None) -> dict[str, str]:
    if seed is None:
        raise ConfigError("RefinerConfig needs a seed_candidate (the refiner prompt is added to it as a component)")
    if REFINER_COMPONENT in seed:
        return seed
    prompt = config.refiner_prompt or DEFAULT_REFINER_PROMPT.format(
        objective=objective or "score as high as possible", background=background or "none given")
    return {**seed, REFINER_COMPONENT: prompt}


class Refiner:
    """Refines each evaluation once more through the run's one LM path and its recording pool.

    ``complete`` is the run's LM gateway (slot, stop, time limit, usage
    meter); ``evaluate(parent_id, components, example_key)`` scores a refined
    version as a candidate of its own, through the evaluation pool, so the
    evaluation is budgeted, recorded in the store and counted on resume like
    any other (it returns None when there is no budget left or the run stops).
    """

    def __init__(self, *, complete: Callable[[list[Message]], Any],
                 evaluate: Callable[[int, dict[str, str], str], Outcome | None], max_refinements: int) -> None:
        self.complete = complete
        self.evaluate = evaluate
        self.max_refinements = max_refinements

    def refine(self, candidate_id: int, components: dict[str, str], example_key: str, first: Outcome) -> Outcome:
        best, best_components = first, components
        history: list[Message] = []
        for attempt in range(self.max_refinements):
            task = {k: v for k, v in best_components.items() if k != REFINER_COMPONENT}
            messages = self._messages(components[REFINER_COMPONENT], task, best)
            try:
                completion = self.complete(messages)
            except Exception as exc:  # recorded in the side info, never hidden (a stop ends the loop too)
                error = getattr(exc, "error", exc)
                history.append({"attempt": attempt + 1, "error": f"{type(error).__name__}: {error}"})
                break
            refined = _parse(completion.text, task)
            if refined is None or refined == task:
                history.append({"attempt": attempt + 1, "result": "no usable refinement in the reply"})
                break
            version = {**refined, REFINER_COMPONENT: components[REFINER_COMPONENT]}
            outcome = self.evaluate(candidate_id, version, example_key)
            if outcome is None:
                history.append({"attempt": attempt + 1, "result": "budget exhausted (or the run stopped)"})
                break
            history.append({"attempt": attempt + 1, "score": outcome.score, "previous": best.score})
            if outcome.error is None and outcome.score > best.score:
                best, best_components = outcome, version
        if not history:
            return first
        side_info = dict(best.side_info)
        side_info["refinement"] = {
            "original_score": first.score, "kept_score": best.score, "attempts": history,
            **({"refined_candidate": {k: v for k, v in best_components.items() if k != REFINER_COMPONENT}}
               if best is not first else {}),
        }
        return Outcome(score=best.score, objective_scores=best.objective_scores, side_info=side_info,
                       output=best.output, error=best.error, duration_s=first.duration_s + best.duration_s)

    @staticmethod
    def _messages(refiner_prompt: str, task: dict[str, str], outcome: Outcome) -> list[Message]:
        feedback = render_side_info(outcome.side_info, max_total_chars=6000).text
        if len(task) == 1:
            (name, text), = task.items()
            body = (f"Candidate ({name}):\n```\n{text}\n```\n\nScore: {outcome.score:.6g}\nFeedback:\n{feedback}\n\n"
                    "Answer with the complete refined candidate inside one ``` block.")
        else:
            body = (f"Candidate (JSON object of components):\n```json\n{json.dumps(task, indent=2)}\n```\n\n"
                    f"Score: {outcome.score:.6g}\nFeedback:\n{feedback}\n\n"
                    "Answer with the complete refined JSON object (same keys) inside one ```json block.")
        return [{"role": "system", "content": refiner_prompt}, {"role": "user", "content": body}]


def _parse(reply: str, task: dict[str, str]) -> dict[str, str] | None:
    if len(task) == 1:
        (name, text), = task.items()
        parsed = parse_reflection_reply(reply, text)
        return None if parsed.text is None else {name: parsed.text}
    match = re.search(r"```(?:json)?\s*\n(.*?)```", reply, re.S)
    raw = match.group(1) if match else reply
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    return {k: str(data.get(k, v)) for k, v in task.items()}
