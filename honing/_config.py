"""Configuration: frozen dataclasses, so one config can serve many runs.

Field names follow GEPA's ``optimize_anything`` so existing code ports by
changing its import line. Every GEPA field is either honoured with GEPA's
meaning or refused with a ``ConfigError`` that says what honing does instead;
none is accepted and then ignored. Where GEPA and honing name one setting
differently, both names are fields and always hold the same value
(``display_progress_bar`` / ``progress``, ``max_reflection_cost`` /
``max_cost_usd``). A misspelled field raises ``ConfigError`` naming the
nearest valid field; ``config.replace(...)`` returns a modified copy; a dict
is accepted wherever a sub-config is (as when a config is read from JSON).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ._errors import HoningError
from ._templates import template_problem

if TYPE_CHECKING:
    from ._selection import ComponentSelector, ParentSelector
    from .llm._base import LM
    from .store import Store

    #: What ``reflection_lm`` / ``refiner_lm`` accept (``honing.llm.resolve_lm`` turns it into an ``LM``): an LM,
    #: a model name or endpoint URL, an endpoint dict, a callable ``prompt -> str``, or None for the default.
    LMSpec = LM | str | Mapping[str, Any] | Callable[..., Any] | None

if sys.version_info >= (3, 11):
    from typing import dataclass_transform
elif TYPE_CHECKING:  # Python 3.10: type checkers read the decorator from typing_extensions (no runtime dependency)
    from typing_extensions import dataclass_transform
else:  # pragma: no cover - Python 3.10 at run time: the decorator only informs type checkers
    def dataclass_transform(**_: Any) -> Callable[[Any], Any]:
        return lambda decorator: decorator


#: Examples the reflection LM sees per proposal when ``reflection_minibatch_size`` is None (multi-task runs).
DEFAULT_MINIBATCH_SIZE = 3


class ConfigError(HoningError, ValueError):
    """A configuration value or field name is invalid."""


_C = TypeVar("_C", bound="_Config")


class _Config:
    """What every config class shares: ``replace`` and the GEPA-name aliases."""

    #: GEPA's name -> honing's name, for settings both spell differently (both are fields).
    _aliases: ClassVar[dict[str, str]] = {}

    def replace(self: _C, **changes: Any) -> _C:
        """Return a copy with some fields changed (the original is untouched)."""
        for gepa_name, name in self._aliases.items():
            if gepa_name in changes and name not in changes:
                changes[name] = changes[gepa_name]
            elif name in changes and gepa_name not in changes:
                changes[gepa_name] = changes[name]
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        return type(self)(**{**values, **changes})


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
def _strict(cls: type[_C]) -> type[_C]:
    """Make a frozen, keyword-only dataclass whose unknown fields get a helpful error."""
    cls = dataclass(frozen=True, kw_only=True)(cls)
    names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    generated_init = cls.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if args:
            raise ConfigError(f"{cls.__name__} takes keyword arguments only, e.g. {cls.__name__}({names[0]}=...)")
        for key in kwargs:
            if key not in names:
                import difflib  # only for the error message

                close = difflib.get_close_matches(key, names, n=1, cutoff=0.5)
                hint = f"; did you mean {close[0]!r}?" if close else f"; valid fields: {', '.join(names)}"
                raise ConfigError(f"{cls.__name__} has no field {key!r}{hint}")
        generated_init(self, **_join_aliases(cls, kwargs))

    __init__.__doc__ = generated_init.__doc__
    cls.__init__ = __init__  # type: ignore[method-assign]
    return cls


def _join_aliases(cls: type[_Config], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Give both names of an aliased setting the one value the caller set (refusing two different ones)."""
    kwargs = dict(kwargs)
    for gepa_name, name in cls._aliases.items():
        given = [kwargs[n] for n in (gepa_name, name) if kwargs.get(n) is not None]
        if len(given) == 2 and given[0] != given[1]:
            raise ConfigError(f"{cls.__name__}({gepa_name}={given[0]!r}, {name}={given[1]!r}): these are GEPA's and "
                              f"honing's names for one setting; set one of them")
        if given:
            kwargs[gepa_name] = kwargs[name] = given[0]
    return kwargs


def _either(names: Sequence[str]) -> str:
    """``('a', 'b', 'c')`` -> ``'a', 'b' or 'c'``."""
    quoted = [repr(n) for n in names]
    return ", ".join(quoted[:-1]) + " or " + quoted[-1] if len(quoted) > 1 else quoted[0]


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)


def _positive_or_none(owner: str, name: str, value: Any) -> None:
    if value is not None:
        _check(
            isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0,
            f"{owner}.{name} must be a positive number or None, got {value!r}",
        )


def _only(owner: str, name: str, value: Any, accepted: tuple[Any, ...], instead: str) -> None:
    """Refuse a GEPA setting honing does not offer, saying what honing does instead."""
    if not any(value is a or (isinstance(a, str) and value == a) for a in accepted):
        shown = " or ".join(repr(a) for a in accepted)
        raise ConfigError(f"{owner}.{name}={_short(value)} is not supported (only {shown}): {instead}")


def _check_ray_init_kwargs(kwargs: Any, address: str | None) -> None:
    if kwargs is None:
        return
    _check(isinstance(kwargs, dict) and all(isinstance(k, str) for k in kwargs),
           "EngineConfig.ray_init_kwargs must be a dict of ray.init() keyword arguments, e.g. "
           f"{{'runtime_env': {{'working_dir': '.'}}}}; got {kwargs!r}")
    _check(address is None or kwargs.get("address", address) == address,
           f"EngineConfig.ray_address={address!r} and ray_init_kwargs['address']={kwargs.get('address')!r} "
           "disagree; give the address once")


@_strict
class EngineConfig(_Config):
    """How the run is driven: budget, concurrency, caching, frontier, stopping."""

    _aliases: ClassVar[dict[str, str]] = {"display_progress_bar": "progress", "max_reflection_cost": "max_cost_usd"}

    max_metric_calls: int | None = None
    max_candidate_proposals: int | None = None
    max_workers: int | None = None
    parallel: bool = True
    max_proposals_in_flight: int | None = None
    cache_evaluation: bool = True
    #: GEPA's setting; honing's only storage is the run store (SQLite in ``run_dir``), so "auto" and "disk".
    cache_evaluation_storage: str = "auto"
    track_best_outputs: bool = False
    run_dir: str | None = None
    takeover: bool = False  # resume a run_dir even if another live process seems to write it
    evaluator_changed_ok: bool = False  # resume with an evaluator whose name or source changed
    #: GEPA's setting; True is what honing always does (see ``_check_gepa_engine``).
    use_cloudpickle: bool = True
    raise_on_exception: bool = False
    capture_stdio: bool = False
    failure_score: float = 0.0
    frontier_type: str = "hybrid"
    candidate_selection_strategy: str | ParentSelector = "pareto"
    epsilon: float = 0.1
    seed: int = 0
    #: How many of an example's best evaluations an evaluator's ``opt_state`` holds (GEPA's default, 30).
    best_example_evals_k: int = 30
    #: GEPA's name: ``"full_eval"`` scores every minibatch winner on the whole valset (``valset_racing=False``).
    val_evaluation_policy: Any = None
    acceptance_criterion: Any = "strict_improvement"
    sampling_strategy: Any = None
    selection_strategy: Any = None
    timeout_s: float | None = None
    score_threshold: float | None = None
    max_proposals_without_improvement: int | None = None
    stop_file: str | None = None
    max_cost_usd: float | None = None
    max_reflection_cost: float | None = None  # GEPA's name for max_cost_usd
    executor: str = "thread"
    ray_address: str | None = None
    ray_resources: dict[str, Any] | None = None
    ray_init_kwargs: dict[str, Any] | None = None  # for ray.init(): runtime_env, address, namespace, ...
    progress: bool | None = None
    display_progress_bar: bool | None = None  # GEPA's name for progress
    #: Race minibatch winners on the valset and admit only those that improve the pool (see honing/_race.py);
    #: False scores every winner on the whole valset and admits it, as GEPA does.
    valset_racing: bool = True
    #: Seconds one evaluator call may run; a call that runs longer is recorded as a failed evaluation.
    evaluation_timeout_s: float | None = None
    #: Seconds a stop (timeout, Ctrl-C, a stop condition) waits for running evaluations before abandoning them.
    stop_grace_s: float = 3.0

    def __post_init__(self) -> None:
        from ._frontier import FRONTIER_TYPES
        from ._selection import PARENT_SELECTORS
        from .executors._base import EXECUTORS

        for name in ("max_metric_calls", "max_candidate_proposals", "max_workers", "max_proposals_in_flight",
                     "max_proposals_without_improvement"):
            value = getattr(self, name)
            if value is not None:
                _check(isinstance(value, int) and not isinstance(value, bool) and value > 0,
                       f"EngineConfig.{name} must be a positive integer or None, got {value!r}")
        k = self.best_example_evals_k  # no "None": an unbounded opt_state would copy every evaluation per call
        _check(isinstance(k, int) and not isinstance(k, bool) and k > 0,
               f"EngineConfig.best_example_evals_k must be a positive integer (how many of an example's best "
               f"evaluations opt_state holds), got {k!r}")
        _check(isinstance(self.stop_grace_s, (int, float)) and not isinstance(self.stop_grace_s, bool)
               and self.stop_grace_s >= 0,
               f"EngineConfig.stop_grace_s must be a number >= 0, got {self.stop_grace_s!r}")
        for name in ("timeout_s", "max_cost_usd", "evaluation_timeout_s"):
            _positive_or_none("EngineConfig", name, getattr(self, name))
        _check(self.frontier_type in FRONTIER_TYPES,
               f"EngineConfig.frontier_type must be one of {', '.join(FRONTIER_TYPES)}; got {self.frontier_type!r}")
        _check(0.0 <= self.epsilon <= 1.0, f"EngineConfig.epsilon must be within [0, 1], got {self.epsilon!r}")
        _check(self.executor in EXECUTORS, f"EngineConfig.executor must be {_either(EXECUTORS)}; got {self.executor!r}")
        _check_ray_init_kwargs(self.ray_init_kwargs, self.ray_address)
        strategy = self.candidate_selection_strategy
        _check(strategy in PARENT_SELECTORS or hasattr(strategy, "select"),
               f"EngineConfig.candidate_selection_strategy must be {', '.join(map(repr, PARENT_SELECTORS))} or an "
               f"object with select(front, aggregates, rng) -> candidate id; got {_short(strategy)}"
               + ("" if strategy != "top_k_pareto" else
                  ". GEPA's 'top_k_pareto' is not offered: 'pareto' samples parents from the whole frontier")
               + ("" if not hasattr(strategy, "select_candidate_idx") else
                  ". GEPA CandidateSelector objects (select_candidate_idx(state)) are not supported"))
        _check_gepa_engine(self)

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


def _check_gepa_engine(engine: EngineConfig) -> None:
    owner = "EngineConfig"
    _only(owner, "val_evaluation_policy", engine.val_evaluation_policy, ("full_eval", None),
          "honing races minibatch winners on the valset (valset_racing=True, the default) or, with 'full_eval', "
          "scores each on the whole valset as GEPA does")
    _only(owner, "acceptance_criterion", engine.acceptance_criterion, ("strict_improvement",),
          "honing accepts a child only when it scores strictly higher than its parent on the reflection "
          "minibatch (GEPA's 'strict_improvement'); merges may tie")
    _only(owner, "sampling_strategy", engine.sampling_strategy, (None,),
          "honing plans one parent and one mutation per proposal and runs up to max_proposals_in_flight "
          "proposals at once; set that instead")
    _only(owner, "selection_strategy", engine.selection_strategy, (None,),
          "every proposal whose child improves on its parent is accepted")
    _only(owner, "cache_evaluation_storage", engine.cache_evaluation_storage, ("auto", "disk"),
          "honing keeps every evaluation in the run store (<run_dir>/honing.db), which is also its cache and is "
          "reused when the same run_dir is run again; for a run kept only in memory pass "
          "Config(store=honing.MemoryStore())")
    _only(owner, "use_cloudpickle", engine.use_cloudpickle, (True,),
          "honing never pickles its run state (it is stored in SQLite) and always sends evaluators to worker "
          "processes with cloudpickle; leave use_cloudpickle out")


@_strict
class ReflectionConfig(_Config):
    """How candidates are proposed: the reflection LM and what it is shown."""

    reflection_lm: LMSpec = None
    #: Options for building ``reflection_lm`` from its name (``temperature``, ``api_base``, ``api_key``, ...).
    reflection_lm_kwargs: dict[str, Any] | None = None
    #: None: one example in single-task mode, else ``DEFAULT_MINIBATCH_SIZE``.
    reflection_minibatch_size: int | None = None
    module_selector: str | ComponentSelector = "round_robin"
    batch_sampler: Any = "epoch_shuffled"
    skip_perfect_score: bool = False
    perfect_score: float | None = None
    #: A str, or a dict of component name -> str; honing's or GEPA's placeholders (see ``_templates``).
    reflection_prompt_template: str | dict[str, str] | None = None
    reflection_strategy: Any = None
    custom_candidate_proposer: Any = None
    max_side_info_chars: int = 12_000
    edit_threshold_chars: int = 3_000
    #: A reply that only diagnoses (no new text) gets one more turn asking for the text.
    follow_up_prose_replies: bool = True
    #: Seconds one reflection LM call may take before it is given up (the proposal is recorded as failed).
    lm_timeout_s: float | None = 1800.0

    def __post_init__(self) -> None:
        _positive_or_none("ReflectionConfig", "lm_timeout_s", self.lm_timeout_s)
        size = self.reflection_minibatch_size
        _check(size is None or (isinstance(size, int) and not isinstance(size, bool) and size > 0),
               f"ReflectionConfig.reflection_minibatch_size must be a positive integer or None, got {size!r}")
        from ._selection import COMPONENT_SELECTORS

        _check(self.module_selector in COMPONENT_SELECTORS or hasattr(self.module_selector, "select"),
               f"ReflectionConfig.module_selector must be {', '.join(map(repr, COMPONENT_SELECTORS))} or an object "
               f"with select(candidate_id, components, rng) -> names; got {_short(self.module_selector)}"
               + ("" if not callable(self.module_selector) else
                  " (GEPA ReflectionComponentSelector callables are not supported)"))
        _check(self.max_side_info_chars >= 500, "ReflectionConfig.max_side_info_chars must be at least 500")
        problem = template_problem(self.reflection_prompt_template)
        _check(problem is None, f"ReflectionConfig.reflection_prompt_template: {problem}")
        _check_lm_kwargs(self.reflection_lm, self.reflection_lm_kwargs)
        owner = "ReflectionConfig"
        _only(owner, "batch_sampler", self.batch_sampler, ("epoch_shuffled",),
              "honing draws reflection minibatches epoch by epoch from a fresh shuffle (GEPA's 'epoch_shuffled'); "
              "set reflection_minibatch_size for their size")
        _only(owner, "reflection_strategy", self.reflection_strategy, (None,),
              "honing asks reflection_lm once per component (with one follow-up when a reply has no text); pass "
              "any callable prompt -> str as reflection_lm to control how the model is called")
        _only(owner, "custom_candidate_proposer", self.custom_candidate_proposer, (None,),
              "proposals come from reflection_lm, reading honing's reflection prompt; pass a callable "
              "prompt -> str as reflection_lm, or a reflection_prompt_template, to shape them")


def _check_lm_kwargs(spec: Any, kwargs: Any) -> None:
    if kwargs is None:
        return
    _check(isinstance(kwargs, Mapping) and all(isinstance(k, str) for k in kwargs),
           f"ReflectionConfig.reflection_lm_kwargs must be a dict of option name -> value, got {_short(kwargs)}")
    _check(spec is None or isinstance(spec, (str, Mapping)),
           "ReflectionConfig.reflection_lm_kwargs configure a model honing builds from its name; reflection_lm is "
           f"already a {type(spec).__name__}, so build it with those options yourself (GEPA ignores them here; "
           "honing refuses rather than drop them)")


@_strict
class TrackingConfig(_Config):
    """Experiment tracking (MLflow / Weights & Biases) and where honing's log messages go."""

    #: An object with ``.log(message)`` (GEPA's LoggerProtocol) or a ``logging.Logger``: receives honing's messages.
    logger: Any = None
    use_mlflow: bool = False
    mlflow_tracking_uri: str | None = None
    mlflow_experiment_name: str | None = None
    mlflow_attach_existing: bool = False
    use_wandb: bool = False
    wandb_api_key: str | None = None
    wandb_init_kwargs: dict[str, Any] | None = None
    wandb_attach_existing: bool = False
    wandb_step_metric: str | None = None
    key_prefix: str = ""

    def __post_init__(self) -> None:
        logger = self.logger
        _check(logger is None or isinstance(logger, logging.Logger) or callable(getattr(logger, "log", None)),
               "TrackingConfig.logger must be an object with a log(message) method (GEPA's LoggerProtocol) or a "
               f"logging.Logger; got {_short(logger)}")
        owner = "TrackingConfig"
        _only(owner, "wandb_attach_existing", self.wandb_attach_existing, (False,),
              "honing's W&B tracker creates and finishes its own run; log into yours from a callback instead")
        _only(owner, "mlflow_attach_existing", self.mlflow_attach_existing, (False,),
              "honing's MLflow tracker creates and finishes its own run (it never touches the active run); log "
              "into yours from a callback instead")
        _only(owner, "wandb_step_metric", self.wandb_step_metric, (None,),
              "honing logs its metrics with the proposal count as the step, in its own W&B run")
        _only(owner, "key_prefix", self.key_prefix, ("",),
              "honing's trackers log into a run of their own, so their keys need no prefix")


@_strict
class MergeConfig(_Config):
    """Combine two frontier candidates that share an ancestor, component by component."""

    max_merge_invocations: int = 5
    merge_val_overlap_floor: int = 5

    def __post_init__(self) -> None:
        _check(self.max_merge_invocations >= 0, "MergeConfig.max_merge_invocations must be >= 0")


@_strict
class RefinerConfig(_Config):
    """Refine each evaluated candidate once more with an LLM, using a co-evolved prompt.

    A ``refiner_prompt`` component is added to the candidate and evolves with
    the others; the better of (original, refined) is what an evaluation scores.
    """

    refiner_lm: LMSpec = None
    max_refinements: int = 1
    refiner_prompt: str | None = None

    def __post_init__(self) -> None:
        _check(self.max_refinements >= 1, "RefinerConfig.max_refinements must be >= 1")


_SECTIONS: dict[str, type[_Config]] = {"engine": EngineConfig, "reflection": ReflectionConfig,
                                       "tracking": TrackingConfig, "merge": MergeConfig, "refiner": RefinerConfig}


@_strict
class Config(_Config):
    """Everything about a run except the problem itself. Never mutated by a run.

    Sub-configs may be given as dicts of their fields (as read from JSON or
    YAML); ``Config.from_dict`` builds a whole config from one dict.
    """

    engine: EngineConfig = field(default_factory=EngineConfig)
    reflection: ReflectionConfig = field(default_factory=ReflectionConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    merge: MergeConfig | None = None
    refiner: RefinerConfig | None = None
    stop_callbacks: Callable[..., bool] | Sequence[Callable[..., bool]] | None = None
    callbacks: Sequence[Any] | None = None
    store: Store | str | None = None  # a Store, or a path open_store understands

    def __post_init__(self) -> None:
        for name, kind in _SECTIONS.items():
            value = getattr(self, name)
            if isinstance(value, Mapping):
                object.__setattr__(self, name, kind(**dict(value)))
        for name in ("engine", "reflection", "tracking"):
            kind = _SECTIONS[name]
            _check(isinstance(getattr(self, name), kind),
                   f"Config.{name} must be a {kind.__name__} or a dict of its fields, "
                   f"got {type(getattr(self, name)).__name__}")
        _check(self.merge is None or isinstance(self.merge, MergeConfig),
               "Config.merge must be a MergeConfig, a dict of its fields, or None")
        _check(self.refiner is None or isinstance(self.refiner, RefinerConfig),
               "Config.refiner must be a RefinerConfig, a dict of its fields, or None")
        stops = self.stop_callbacks
        stoppers: tuple[Any, ...] = (stops,) if callable(stops) else tuple(stops or ())
        object.__setattr__(self, "stop_callbacks", stoppers)
        for stopper in stoppers:
            _check(callable(stopper), f"Config.stop_callbacks entries must be callable, got {stopper!r}")
        object.__setattr__(self, "callbacks", tuple(self.callbacks or ()))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Config:
        """A config from a dict such as ``to_dict()`` or a JSON file gives (sub-configs as dicts)."""
        _check(isinstance(data, Mapping), f"Config.from_dict needs a dict, got {type(data).__name__}")
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly description (callables and objects shown by name)."""
        described: dict[str, Any] = _describe(self)
        return described


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


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


GEPAConfig = Config
