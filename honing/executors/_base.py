"""Where an evaluation runs: the backend protocol, the thread backend, the factory.

The engine keeps everything that guarantees correctness — the hard budget,
the evaluation cache, the "never twice per (candidate, example)" rule, the
store — in the parent process. A backend only decides *where* one already
admitted evaluator call executes. That is why the protocol is this small:
``wrap(adapter)`` turns the parent's ``EvaluatorAdapter`` into a callable with
the same signature ``(components, example) -> Outcome`` that runs somewhere
else, and ``close()`` releases whatever the backend started.

Because the adapter itself (not only the user's function) is shipped, ``hn.log``
capture, stdio capture and "exceptions become failed evaluations" behave in a
worker process or a Ray task exactly as they do on a thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from .._errors import HoningError
from .._evaluation import EvaluatorError, Outcome

Evaluate = Callable[[dict[str, Any], Any], Outcome]

#: The names ``EngineConfig.executor`` accepts.
EXECUTORS = ("thread", "process", "ray")


class BackendError(HoningError, RuntimeError):
    """The backend itself could not run an evaluation (not the evaluator's fault)."""


@runtime_checkable
class EvaluationBackend(Protocol):
    def wrap(self, adapter: Callable[[dict[str, Any], Any], Outcome]) -> Evaluate:
        """A callable ``(components, example) -> Outcome`` that runs ``adapter`` on this backend."""

    def close(self) -> None:
        """Release workers, pools or cluster connections this backend started."""


class ThreadBackend:
    """Runs the adapter in the calling worker thread: the engine's own pool is the executor."""

    name = "thread"

    def wrap(self, adapter: Evaluate) -> Evaluate:
        return adapter

    def close(self) -> None:
        pass


def lost_worker_outcome(adapter: Any, message: str) -> Outcome:
    """A failed evaluation for a call whose worker died before answering.

    It is scored like any other failure, so the run goes on and the reflection
    LM can read why; with ``raise_on_exception=True`` the user asked to stop on
    any failed evaluation, so it raises ``EvaluatorError`` instead.
    """
    if getattr(adapter, "raise_on_exception", False):
        raise EvaluatorError(message)
    return Outcome(score=float(getattr(adapter, "failure_score", 0.0)), side_info={"error": message}, error=message)


def make_backend(engine_config: Any) -> EvaluationBackend:
    """The backend ``EngineConfig.executor`` names, sized by ``EngineConfig.workers``."""
    kind = getattr(engine_config, "executor", "thread")
    if kind == "thread":
        return ThreadBackend()
    if kind == "process":
        from ._process import ProcessBackend

        return ProcessBackend(workers=engine_config.workers)
    if kind == "ray":
        from ._ray import RayBackend

        return RayBackend(address=engine_config.ray_address, resources=engine_config.ray_resources,
                          init_kwargs=getattr(engine_config, "ray_init_kwargs", None))
    raise ValueError(f"unknown executor {kind!r}; expected one of {', '.join(map(repr, EXECUTORS))}")


def pack_outcome(adapter: Any, outcome: Outcome, dumps: Callable[[Any], bytes]) -> bytes:
    """Serialize an outcome in the worker; an unpicklable output becomes a failed evaluation.

    On a thread an evaluator may return any object as ``output``; across a
    process boundary it must be picklable. Rather than losing the whole
    evaluation (and its ``hn.log`` text) to an opaque transport error, the
    worker sends back a failed outcome that says what could not be sent.
    """
    try:
        return dumps(outcome)
    except Exception as exc:
        message = (f"the evaluation finished (score {outcome.score!r}) but its result could not be sent back from "
                   f"the worker ({type(exc).__name__}: {exc}); return picklable side_info and output, or use "
                   "executor='thread'")
        kept = {k: v for k, v in outcome.side_info.items() if isinstance(v, (str, int, float, bool))}
        failed = Outcome(score=float(getattr(adapter, "failure_score", 0.0)), side_info={**kept, "error": message},
                         error=message, duration_s=outcome.duration_s)
        return dumps(failed)


def acquire_stdio_once(adapter: Any, _state: dict[str, Any] = {}) -> None:  # noqa: B006 - deliberate per-process flag
    """In a worker process, install the stdout/stderr routers once if the adapter captures stdio.

    The parent installs them in ``optimize_anything``; a worker process starts
    with plain streams, so without this ``capture_stdio=True`` would capture
    nothing there.
    """
    if getattr(adapter, "capture_stdio", False) and not _state.get("acquired"):
        from .._log import StdioCapture

        StdioCapture.acquire()
        _state["acquired"] = True
