"""Configuration: frozen dataclasses, so one config can serve many runs.

Field names follow GEPA's ``optimize_anything`` so existing code ports by
changing its import line. A misspelled field raises ``ConfigError`` naming the
nearest valid field; ``config.replace(...)`` returns a modified copy.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ._errors import HoningError


class ConfigError(HoningError, ValueError):
    """A configuration value or field name is invalid."""


def _strict(cls):
    """Make a frozen, keyword-only dataclass whose unknown fields get a helpful error."""
    cls = dataclass(frozen=True, kw_only=True)(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    generated_init = cls.__init__

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args:
            raise ConfigError(f"{cls.__name__} takes keyword arguments only, e.g. {cls.__name__}({names[0]}=...)")
        for key in kwargs:
            if key not in names:
                close = difflib.get_close_matches(key, names, n=1, cutoff=0.5)
                hint = f"; did you mean {close[0]!r}?" if close else f"; valid fields: {', '.join(names)}"
                raise ConfigError(f"{cls.__name__} has no field {key!r}{hint}")
        generated_init(self, **kwargs)

    def replace(self, **changes: Any):
        """Return a copy with some fields changed (the original is untouched)."""
        return type(self)(**{**{n: getattr(self, n) for n in names}, **changes})

    __init__.__doc__ = generated_init.__doc__
    cls.__init__ = __init__
    cls.replace = replace
    return cls


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _positive_or_none(owner: str, name: str, value: Any) -> None:
    if value is not None:
        _check(
            isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0,
            f"{owner}.{name} must be a positive number or None, got {value!r}",
        )


@_strict
class EngineConfig:
    """How the run is driven: budget, concurrency, caching, frontier, stopping."""

    max_metric_calls: int | None = None
    max_candidate_proposals: int | None = None
    max_workers: int | None = None
    parallel: bool = True
    max_proposals_in_flight: int | None = None
    cache_evaluation: bool = True
    track_best_outputs: bool = False
    run_dir: str | None = None
    takeover: bool = False  # resume a run_dir even if another live process seems to write it
    evaluator_changed_ok: bool = False  # resume with an evaluator whose name or source changed
    use_cloudpickle: bool = False  # GEPA's name, accepted; no effect: runs are stored in SQLite, never pickled
    raise_on_exception: bool = False
    capture_stdio: bool = False
    failure_score: float = 0.0
    frontier_type: str = "hybrid"
    candidate_selection_strategy: Any = "pareto"
    epsilon: float = 0.1
    seed: int = 0
    timeout_s: float | None = None
    score_threshold: float | None = None
    max_proposals_without_improvement: int | None = None
    stop_file: str | None = None
    max_cost_usd: float | None = None
    executor: str = "thread"
    ray_address: str | None = None
    ray_resources: dict | None = None
    progress: bool | None = None

    def __post_init__(self) -> None:
        from ._frontier import FRONTIER_TYPES

        for name in ("max_metric_calls", "max_candidate_proposals", "max_workers", "max_proposals_in_flight",
                     "max_proposals_without_improvement"):
            value = getattr(self, name)
            if value is not None:
                _check(isinstance(value, int) and not isinstance(value, bool) and value > 0,
                       f"EngineConfig.{name} must be a positive integer or None, got {value!r}")
        for name in ("timeout_s", "max_cost_usd"):
            _positive_or_none("EngineConfig", name, getattr(self, name))
        _check(self.frontier_type in FRONTIER_TYPES,
               f"EngineConfig.frontier_type must be one of {', '.join(FRONTIER_TYPES)}; got {self.frontier_type!r}")
        _check(0.0 <= self.epsilon <= 1.0, f"EngineConfig.epsilon must be within [0, 1], got {self.epsilon!r}")
        _check(self.executor in ("thread", "process", "ray"),
               f"EngineConfig.executor must be 'thread', 'process' or 'ray'; got {self.executor!r}")
        strategy = self.candidate_selection_strategy
        _check(strategy in ("pareto", "current_best", "epsilon_greedy") or hasattr(strategy, "select"),
               "EngineConfig.candidate_selection_strategy must be 'pareto', 'current_best', "
               f"'epsilon_greedy' or an object with a select() method; got {strategy!r}")

    @property
    def workers(self) -> int:
        """The number of evaluation workers this config asks for."""
        if not self.parallel:
            return 1
        if self.max_workers is not None:
            return self.max_workers
        return min(32, (os.cpu_count() or 1) + 4)

    @property
    def proposals_in_flight(self) -> int:
        """How many proposals may run at once: enough to keep workers and the LM busy."""
        if not self.parallel:
            return 1
        if self.max_proposals_in_flight is not None:
            return self.max_proposals_in_flight
        return max(2, 2 * self.workers)


@_strict
class ReflectionConfig:
    """How candidates are proposed: the reflection LM and what it is shown."""

    reflection_lm: Any = None
    reflection_minibatch_size: int | None = None
    module_selector: Any = "round_robin"
    skip_perfect_score: bool = False
    perfect_score: float | None = None
    reflection_prompt_template: str | None = None
    max_side_info_chars: int = 12_000
    edit_threshold_chars: int = 3_000
    #: A reply that only diagnoses (no new text) gets one more turn asking for the text.
    follow_up_prose_replies: bool = True

    def __post_init__(self) -> None:
        size = self.reflection_minibatch_size
        _check(size is None or (isinstance(size, int) and size > 0),
               f"ReflectionConfig.reflection_minibatch_size must be a positive integer or None, got {size!r}")
        _check(self.module_selector in ("round_robin", "all") or hasattr(self.module_selector, "select"),
               f"ReflectionConfig.module_selector must be 'round_robin', 'all' or an object with select(); "
               f"got {self.module_selector!r}")
        _check(self.max_side_info_chars >= 500, "ReflectionConfig.max_side_info_chars must be at least 500")
        template = self.reflection_prompt_template
        if template is not None:
            _check("{current}" in template and "{feedback}" in template,
                   "ReflectionConfig.reflection_prompt_template must contain the placeholders {current} and "
                   "{feedback} (optionally {objective}, {background}, {component})")


@_strict
class TrackingConfig:
    """Experiment tracking (MLflow / Weights & Biases) and logging."""

    logger: Any = None
    use_mlflow: bool = False
    mlflow_tracking_uri: str | None = None
    mlflow_experiment_name: str | None = None
    use_wandb: bool = False
    wandb_api_key: str | None = None
    wandb_init_kwargs: dict | None = None


@_strict
class MergeConfig:
    """Combine two frontier candidates that share an ancestor, component by component."""

    max_merge_invocations: int = 5
    merge_val_overlap_floor: int = 5

    def __post_init__(self) -> None:
        _check(self.max_merge_invocations >= 0, "MergeConfig.max_merge_invocations must be >= 0")


@_strict
class RefinerConfig:
    """Refine each evaluated candidate once more with an LLM, using a co-evolved prompt.

    A ``refiner_prompt`` component is added to the candidate and evolves with
    the others; the better of (original, refined) is what an evaluation scores.
    """

    refiner_lm: Any = None
    max_refinements: int = 1
    refiner_prompt: str | None = None

    def __post_init__(self) -> None:
        _check(self.max_refinements >= 1, "RefinerConfig.max_refinements must be >= 1")


@_strict
class Config:
    """Everything about a run except the problem itself. Never mutated by a run."""

    engine: EngineConfig = field(default_factory=EngineConfig)
    reflection: ReflectionConfig = field(default_factory=ReflectionConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    merge: MergeConfig | None = None
    refiner: RefinerConfig | None = None
    stop_callbacks: Callable | Sequence[Callable] | None = None
    callbacks: Sequence[Any] | None = None
    store: Any = None

    def __post_init__(self) -> None:
        for name, kind in (("engine", EngineConfig), ("reflection", ReflectionConfig), ("tracking", TrackingConfig)):
            _check(isinstance(getattr(self, name), kind),
                   f"Config.{name} must be a {kind.__name__}, got {type(getattr(self, name)).__name__}")
        _check(self.merge is None or isinstance(self.merge, MergeConfig), "Config.merge must be a MergeConfig or None")
        _check(self.refiner is None or isinstance(self.refiner, RefinerConfig),
               "Config.refiner must be a RefinerConfig or None")
        stops = self.stop_callbacks
        if stops is not None and callable(stops):
            stops = (stops,)
        object.__setattr__(self, "stop_callbacks", tuple(stops or ()))
        for stopper in self.stop_callbacks:
            _check(callable(stopper), f"Config.stop_callbacks entries must be callable, got {stopper!r}")
        object.__setattr__(self, "callbacks", tuple(self.callbacks or ()))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description (callables and objects shown by name)."""
        return _describe(self)


def _describe(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _describe(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _describe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_describe(v) for v in value]
    return getattr(value, "__qualname__", None) or type(value).__qualname__


GEPAConfig = Config
