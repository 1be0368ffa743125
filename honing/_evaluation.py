"""Calling the user's evaluator and normalizing whatever it returns.

The evaluator is called the way GEPA's ``optimize_anything`` calls it:
``evaluator(candidate, example=example, opt_state=...)`` with the keyword
arguments its signature does not take left out, so a GEPA evaluator runs
unchanged. An evaluator without an ``example`` parameter but with a second
positional one gets the example positionally. How to call it is worked out
once, from the signature, before the run starts (``plan_call``): an evaluator
that cannot be called as given stops the run before any budget is spent.

An evaluator may return a number (``True`` counts as 1.0, as in GEPA),
``(score, side_info)`` or ``(score, output, side_info)``, or an awaitable of
one of these (``async def`` evaluators run on one shared event loop). An
exception, or a score that is NaN, None or not a number, becomes a *failed*
evaluation: it scores ``failure_score`` and its message and traceback become
side information, so the reflection LM can see what broke. With
``raise_on_exception=True`` the evaluator's own exception is re-raised.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import inspect
import math
import numbers
import re
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from . import _log
from ._errors import HoningError

if TYPE_CHECKING:
    import asyncio  # imported when an async evaluator first runs: most runs never need an event loop


class EvaluatorError(HoningError, RuntimeError):
    """The evaluator failed in a way that stops the run.

    Raised when it returned something that is not a score while
    ``raise_on_exception=True``, or when it raised the same exception on every
    example of the seed (a bug in the evaluator, not feedback on a candidate).
    """


class EvaluatorSignatureError(HoningError, TypeError):
    """The evaluator cannot be called the way the run needs to call it."""


@dataclass
class OptimizationState:
    """What an evaluator that declares an ``opt_state`` parameter receives (GEPA's name).

    ``best_example_evals``: the best evaluations of this example so far, by
    any candidate, highest score first, as ``{"score": float, "side_info":
    dict}``; at most ``EngineConfig.best_example_evals_k`` of them. Use it to
    warm-start (for example from the best packing found so far).
    """

    best_example_evals: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    """The normalized result of one evaluator call."""

    score: float
    objective_scores: dict[str, float] = field(default_factory=dict)
    side_info: dict[str, Any] = field(default_factory=dict)
    output: Any = None
    error: str | None = None
    duration_s: float = 0.0


# -- how to call the evaluator ----------------------------------------------------------
ExampleStyle = Literal["none", "keyword", "positional"]
_KEYWORDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


@dataclass(frozen=True)
class CallPlan:
    """How one evaluator is called: where the example goes, and whether it gets ``opt_state``."""

    example: ExampleStyle
    opt_state: bool = False

    def arguments(self, candidate: Any, example: Any, opt_state: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
        args: tuple[Any, ...] = (candidate, example) if self.example == "positional" else (candidate,)
        kwargs: dict[str, Any] = {"example": example} if self.example == "keyword" else {}
        if self.opt_state:
            kwargs["opt_state"] = opt_state
        return args, kwargs


def plan_call(fn: Callable[..., Any], *, with_example: bool, what: str = "evaluator") -> CallPlan:
    """Work out how to call ``fn`` and check, before the run, that the call binds.

    GEPA's convention first: ``example=`` and ``opt_state=`` as keywords when
    the signature names them (or has ``**kwargs``). Without a parameter named
    ``example``, the example goes in as the second positional argument.
    """
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have none: call them the plain way, unchecked
        return CallPlan("positional" if with_example else "none")
    params = list(signature.parameters.values())
    any_keyword = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params)
    named = {p.name for p in params if p.kind in _KEYWORDS}
    style: ExampleStyle = "none"
    if with_example:
        style = "keyword" if ("example" in named or any_keyword) else "positional"
    plan = CallPlan(style, any_keyword or "opt_state" in named)
    args, kwargs = plan.arguments(object(), object(), object())
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        raise EvaluatorSignatureError(_signature_problem(fn, signature, with_example, what, exc)) from None
    return plan


def _signature_problem(fn: Any, signature: inspect.Signature, with_example: bool, what: str,
                       error: TypeError) -> str:
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    shown = f"{what} {name}{signature}"
    if with_example:
        how = ("a dataset was given, so it is called as evaluator(candidate, example=example) "
               "(or evaluator(candidate, example) when it has no parameter named 'example')")
        fix = "give it a parameter for the example, e.g. def evaluate(candidate, example): ..."
    else:
        how = "no dataset was given (single-task mode), so it is called as evaluator(candidate)"
        fix = ("give its extra parameters defaults, or pass dataset=[...] if it scores one example at a time")
    return (f"{shown} cannot be called as the run needs: {how}; binding those arguments fails with "
            f"'{error}'. It may also declare opt_state (GEPA's OptimizationState) and **kwargs. To fix: {fix}.")


# -- scores -------------------------------------------------------------------------------
def as_score(value: Any) -> float | None:
    """A real, non-NaN score as float (bools and NumPy scalars included), or None."""
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, numbers.Real):
        item = getattr(value, "item", None)
        if not callable(item) or getattr(value, "shape", None) != ():
            return None
        try:
            value = item()  # a NumPy scalar or 0-d array
        except Exception:
            return None
        if isinstance(value, bool):
            return float(value)
        if not isinstance(value, numbers.Real):
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


def _objective_scores(side_info: dict[str, Any], components: Iterable[str], problems: list[str]
                      ) -> dict[str, float]:
    """``side_info["scores"]``, plus GEPA's ``<component>_specific_info["scores"]`` as ``component::name``."""
    scores = _named_scores(side_info.get("scores"), "side_info['scores']", "", problems)
    for component in components:
        specific = side_info.get(f"{component}_specific_info")
        if isinstance(specific, dict) and "scores" in specific:
            scores.update(_named_scores(specific["scores"], f"side_info[{component + '_specific_info'!r}]['scores']",
                                        f"{component}::", problems))
    return scores


def _named_scores(raw: Any, where: str, prefix: str, problems: list[str]) -> dict[str, float]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problems.append(f"{where} must be a dict of name -> number, got {type(raw).__name__}")
        return {}
    scores: dict[str, float] = {}
    for name, value in raw.items():
        number = as_score(value)
        if number is None:
            problems.append(f"{where}[{name!r}] is {value!r}, not a number; ignored")
        else:
            scores[prefix + str(name)] = number
    return scores


# -- async evaluators ---------------------------------------------------------------------
_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _shared_loop() -> asyncio.AbstractEventLoop:
    """One event loop per process, on a daemon thread, for every async evaluator.

    One loop (not one per call) so that clients an evaluator keeps between
    calls, which bind to the loop they were first used on, keep working.
    """
    import asyncio

    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="honing-async-evaluator", daemon=True).start()
            _loop = loop
        return _loop


def run_awaitable(awaitable: Any) -> Any:
    """Run an awaitable on the shared loop and wait for it, inside the caller's context.

    The task is created inside a copy of the calling thread's context, so
    ``hn.log`` and stdio capture reach the evaluation that started it.
    """
    import asyncio

    loop = _shared_loop()
    context = contextvars.copy_context()
    done: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def finish(task: asyncio.Future[Any]) -> None:
        if task.cancelled():
            done.cancel()
        elif task.exception() is not None:
            done.set_exception(task.exception())
        else:
            done.set_result(task.result())

    def start() -> None:
        try:
            task = context.run(asyncio.ensure_future, awaitable)
        except BaseException as exc:  # handed to the waiting worker, which re-raises it
            done.set_exception(exc)
            return
        task.add_done_callback(finish)

    loop.call_soon_threadsafe(start)
    return done.result()


# -- the adapter ----------------------------------------------------------------------------
class EvaluatorAdapter:
    """Wraps a user evaluator into ``(components, example, history=None) -> Outcome``.

    ``history`` (records of the example's best evaluations so far) becomes the
    ``opt_state`` argument; the pool passes it only when ``history_k`` > 0.
    ``fn`` is the user's function; with ``batch`` (a ``BatchEvaluator``) it is
    the batch function, and calls go through ``batch``, which groups them.
    """

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
        best_example_evals_k: int = 30,
        batch: Any = None,
    ) -> None:
        self.fn = fn
        self.batch = batch
        self.takes_example = takes_example
        self.plan = plan_call(fn, with_example=takes_example) if batch is None else None
        self.candidate_is_str = candidate_is_str
        self.str_key = str_key
        self.capture_stdio = capture_stdio
        self.raise_on_exception = raise_on_exception
        self.failure_score = failure_score
        self.best_example_evals_k = best_example_evals_k

    @property
    def history_k(self) -> int:
        """How many of an example's best evaluations each call needs (0: none)."""
        wants = self.plan.opt_state if self.plan is not None else self.batch.wants_opt_states
        return self.best_example_evals_k if wants else 0

    def user_candidate(self, components: dict[str, str]) -> str | dict[str, str]:
        """What the user's evaluator sees: a str for str seeds, else a fresh dict copy."""
        return components[self.str_key] if self.candidate_is_str else dict(components)

    def __call__(self, components: dict[str, str], example: Any, history: Any = None) -> Outcome:
        candidate = self.user_candidate(components)
        state = opt_state(history) if self.history_k else None
        user_example = example if self.takes_example else None
        started = time.perf_counter()
        raised: BaseException | None = None
        tb = ""
        returned: Any = None
        with _log.capture(streams=self.capture_stdio and self.batch is None) as ctx:
            try:
                if self.batch is not None:
                    returned = self.batch.call(candidate, user_example, state)
                else:
                    assert self.plan is not None
                    args, kwargs = self.plan.arguments(candidate, user_example, state)
                    returned = self.fn(*args, **kwargs)
                    if inspect.isawaitable(returned):
                        returned = run_awaitable(returned)
            except Exception as exc:  # the evaluator's own failure: recorded, or re-raised as asked
                raised = exc
                tb = traceback.format_exc()
        duration = time.perf_counter() - started
        captured = ctx.collected()
        if raised is not None:
            if self.raise_on_exception:
                raise raised
            error = f"{type(raised).__name__}: {raised}"
            return Outcome(score=self.failure_score, side_info={"error": error, "traceback": _tail(tb), **captured},
                           error=error, duration_s=duration)
        return self._normalize(returned, components, captured, duration)

    def _normalize(self, returned: Any, components: dict[str, str], captured: dict[str, str],
                   duration: float) -> Outcome:
        problems: list[str] = []
        try:
            raw_score, output, side_info = _split_return(returned)
        except TypeError as exc:
            if self.raise_on_exception:
                raise EvaluatorError(str(exc)) from None
            return self._failed(str(exc), captured, duration)
        if side_info is None:
            side_info = {}
        elif not isinstance(side_info, dict):
            side_info = {"side_info": side_info}
        else:
            side_info = dict(side_info)
        objectives = _objective_scores(side_info, components, problems)
        score = as_score(raw_score)
        if score is None:
            message = (
                f"the evaluator returned a score of {_short(raw_score)} ({type(raw_score).__name__}); "
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


def opt_state(history: Any) -> OptimizationState:
    """GEPA's ``OptimizationState`` from evaluation records (best first), each side_info a fresh dict."""
    evals = []
    for record in history or ():
        if isinstance(record, dict):
            evals.append({"score": record.get("score"), "side_info": dict(record.get("side_info") or {})})
        else:
            evals.append({"score": record.score, "side_info": dict(record.side_info)})
    return OptimizationState(best_example_evals=evals)


# -- the seed check --------------------------------------------------------------------------
_LAST_FRAME = re.compile(r'File "([^"]*)", line \d+')


def check_seed_evaluations(records: Iterable[Any]) -> None:
    """Stop the run when the evaluator raised the same exception on every evaluation of the seed.

    That is a bug in the evaluator (a wrong signature, a missing key, an
    import error), not feedback on the seed: without this check the run would
    go on to the end scoring every candidate ``failure_score``. A candidate
    that crashes is still feedback: an evaluator that catches the crash and
    returns a score is never stopped here, nor is an exception raised inside
    code compiled from the candidate (a ``<string>`` frame), nor a seed whose
    evaluations fail in different ways.
    """
    records = list(records)
    if not records:
        return
    errors = {r.error for r in records}
    if len(errors) != 1 or None in errors:
        return
    tracebacks = [str((r.side_info or {}).get("traceback", "")) for r in records]
    if not all(tracebacks) or any(_raised_in_candidate_code(tb) for tb in tracebacks):
        return
    error = errors.pop()
    count = "its only evaluation" if len(records) == 1 else f"all {len(records)} of its evaluations"
    raise EvaluatorError(
        f"the evaluator raised the same exception on {count} of the seed candidate: {error}\n"
        "That is almost always a bug in the evaluator rather than feedback on the candidate, so the run stopped "
        "before spending more budget. If the candidate itself is expected to fail, catch the failure in the "
        "evaluator and return a score with the error, e.g. return 0.0, {'error': str(exc)}.\n"
        f"The evaluator's traceback:\n{tracebacks[0]}"
    )


def _raised_in_candidate_code(tb: str) -> bool:
    frames = _LAST_FRAME.findall(tb)
    return bool(frames) and frames[-1].startswith("<") and frames[-1].endswith(">")


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _tail(text: str, max_lines: int = 40) -> str:
    lines = text.rstrip().splitlines()
    if len(lines) <= max_lines:
        return "\n".join(lines)
    return "\n".join(lines[:5] + [f"... {len(lines) - max_lines} lines omitted ..."] + lines[-(max_lines - 5):])
