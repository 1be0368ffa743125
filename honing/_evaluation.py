"""Calling the user's evaluator and normalizing whatever it returns.

An evaluator may return a number, ``(score, side_info)`` or
``(score, output, side_info)``. An exception, or a score that is NaN, None or
not a number, becomes a *failed* evaluation: it scores ``failure_score`` and
its message and traceback become side information, so the reflection LM can
see what broke. Nothing here ever swallows an error without recording it.
"""

from __future__ import annotations

import math
import numbers
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

from . import _log
from ._errors import HoningError


class EvaluatorError(HoningError, RuntimeError):
    """Raised from optimize_anything when raise_on_exception=True and the evaluator failed."""


@dataclass(frozen=True)
class Outcome:
    """The normalized result of one evaluator call."""

    score: float
    objective_scores: dict[str, float] = field(default_factory=dict)
    side_info: dict[str, Any] = field(default_factory=dict)
    output: Any = None
    error: str | None = None
    duration_s: float = 0.0


def _as_score(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    score = float(value)
    return None if math.isnan(score) else score


_RETURN_FORMS = "a number, (score, side_info) or (score, output, side_info)"


def _split_return(value: Any) -> tuple[Any, Any, Any]:
    if isinstance(value, tuple):
        if len(value) == 2:
            return value[0], None, value[1]
        if len(value) == 3:
            return value
        raise TypeError(f"the evaluator returned a tuple of {len(value)} items; expected {_RETURN_FORMS}")
    return value, None, None


def _objective_scores(side_info: dict[str, Any], problems: list[str]) -> dict[str, float]:
    raw = side_info.get("scores")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(f"side_info['scores'] must be a dict of name -> number, got {type(raw).__name__}")
        return {}
    scores: dict[str, float] = {}
    for name, value in raw.items():
        number = _as_score(value)
        if number is None:
            problems.append(f"side_info['scores'][{name!r}] is {value!r}, not a number; ignored")
        else:
            scores[str(name)] = number
    return scores


class EvaluatorAdapter:
    """Wraps a user evaluator into ``(components, example) -> Outcome``."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        takes_example: bool,
        candidate_is_str: bool,
        str_key: str,
        capture_stdio: bool = False,
        raise_on_exception: bool = False,
        failure_score: float = 0.0,
    ) -> None:
        self.fn = fn
        self.takes_example = takes_example
        self.candidate_is_str = candidate_is_str
        self.str_key = str_key
        self.capture_stdio = capture_stdio
        self.raise_on_exception = raise_on_exception
        self.failure_score = failure_score

    def user_candidate(self, components: dict[str, str]) -> str | dict[str, str]:
        """What the user's evaluator sees: a str for str seeds, else a fresh dict copy."""
        return components[self.str_key] if self.candidate_is_str else dict(components)

    def __call__(self, components: dict[str, str], example: Any) -> Outcome:
        candidate = self.user_candidate(components)
        started = time.perf_counter()
        raised: BaseException | None = None
        returned: Any = None
        with _log.capture(streams=self.capture_stdio) as ctx:
            try:
                returned = self.fn(candidate, example) if self.takes_example else self.fn(candidate)
            except Exception as exc:  # the evaluator's own failure: recorded, not swallowed
                raised = exc
                tb = traceback.format_exc()
        duration = time.perf_counter() - started
        captured = ctx.collected()
        if raised is not None:
            if self.raise_on_exception:
                raise EvaluatorError(f"the evaluator raised {type(raised).__name__}: {raised}") from raised
            error = f"{type(raised).__name__}: {raised}"
            return Outcome(
                score=self.failure_score,
                side_info={"error": error, "traceback": _tail(tb), **captured},
                error=error,
                duration_s=duration,
            )
        return self._normalize(returned, captured, duration)

    def _normalize(self, returned: Any, captured: dict[str, str], duration: float) -> Outcome:
        problems: list[str] = []
        try:
            raw_score, output, side_info = _split_return(returned)
        except TypeError as exc:
            return self._failed(str(exc), captured, duration)
        if side_info is None:
            side_info = {}
        elif not isinstance(side_info, dict):
            side_info = {"side_info": side_info}
        else:
            side_info = dict(side_info)
        objectives = _objective_scores(side_info, problems)
        score = _as_score(raw_score)
        if score is None:
            message = (
                f"the evaluator returned a score of {raw_score!r} ({type(raw_score).__name__}); "
                f"expected {_RETURN_FORMS} with a real, non-NaN score"
            )
            if self.raise_on_exception:
                raise EvaluatorError(message)
            return self._failed(message, {**side_info, **captured}, duration, output)
        if problems:
            side_info["honing_warnings"] = problems
        side_info.update(captured)
        return Outcome(score=score, objective_scores=objectives, side_info=side_info, output=output,
                       duration_s=duration)

    def _failed(self, message: str, side_info: dict[str, Any], duration: float, output: Any = None) -> Outcome:
        return Outcome(score=self.failure_score, side_info={**side_info, "error": message}, output=output,
                       error=message, duration_s=duration)


def _tail(text: str, max_lines: int = 40) -> str:
    lines = text.rstrip().splitlines()
    if len(lines) <= max_lines:
        return "\n".join(lines)
    return "\n".join(lines[:5] + [f"... {len(lines) - max_lines} lines omitted ..."] + lines[-(max_lines - 5):])
