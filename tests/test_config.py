"""Config: misspellings, immutability, reuse across runs, clear errors."""

from __future__ import annotations

import dataclasses

import pytest

import honing as hn
from tests.helpers import CountingEvaluator, growing_lm


def test_misspelled_field_names_the_nearest_valid_one():
    with pytest.raises(hn.ConfigError, match="max_metric_calls"):
        hn.EngineConfig(max_metric_call=10)
    with pytest.raises(hn.ConfigError, match="reflection_minibatch_size"):
        hn.ReflectionConfig(reflection_minibatch=3)
    with pytest.raises(hn.ConfigError, match="engine"):
        hn.Config(engin=hn.EngineConfig())


def test_every_field_the_seeds_use_is_accepted():
    config = hn.GEPAConfig(
        engine=hn.EngineConfig(max_metric_calls=10, max_workers=2, parallel=True, cache_evaluation=True,
                               track_best_outputs=True, run_dir=None, use_cloudpickle=True, raise_on_exception=False,
                               frontier_type="objective"),
        reflection=hn.ReflectionConfig(reflection_lm="openai/gpt-4o", reflection_minibatch_size=3),
        tracking=hn.TrackingConfig(),
    )
    assert config.engine.max_workers == 2
    assert hn.GEPAConfig is hn.Config


def test_configs_are_frozen_and_replace_returns_a_copy():
    engine = hn.EngineConfig(max_metric_calls=10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        engine.max_metric_calls = 20  # type: ignore[misc]
    bigger = engine.replace(max_metric_calls=20)
    assert engine.max_metric_calls == 10 and bigger.max_metric_calls == 20
    with pytest.raises(hn.ConfigError, match="max_metric_calls"):
        engine.replace(max_metric_cals=3)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_metric_calls": 0}, "positive integer"),
        ({"frontier_type": "pareto"}, "frontier_type must be one of"),
        ({"candidate_selection_strategy": "best"}, "candidate_selection_strategy"),
        ({"epsilon": 2.0}, "epsilon"),
        ({"executor": "gpu"}, "executor"),
    ],
)
def test_bad_values_are_clear_errors(kwargs, message):
    with pytest.raises(hn.ConfigError, match=message):
        hn.EngineConfig(**kwargs)


def test_one_config_serves_many_runs_unchanged():
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=6),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm()))
    before = config.to_dict()
    first = hn.optimize_anything("@", CountingEvaluator(), config=config)
    second = hn.optimize_anything("@", CountingEvaluator(), config=config)
    assert config.to_dict() == before
    assert first.total_metric_calls == second.total_metric_calls == 6


def test_a_run_without_any_stop_condition_is_refused():
    config = hn.Config(reflection=hn.ReflectionConfig(reflection_lm=growing_lm()))
    with pytest.raises(hn.ConfigError, match="no stop condition"):
        hn.optimize_anything("@", CountingEvaluator(), config=config)


def test_bad_inputs_are_named():
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=3),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm()))
    with pytest.raises(TypeError, match=r"seed_candidate\['a'\] must be a str"):
        hn.optimize_anything({"a": 1}, CountingEvaluator(), config=config)
    with pytest.raises(ValueError, match="valset was given without a dataset"):
        hn.optimize_anything("@", CountingEvaluator(), valset=[1], config=config)
    with pytest.raises(ValueError, match="dataset is empty"):
        hn.optimize_anything("@", CountingEvaluator(), dataset=[], config=config)
    with pytest.raises(hn.ConfigError, match="honing.Config"):
        hn.optimize_anything("@", CountingEvaluator(), config={"engine": {}})


def test_every_honing_error_shares_one_root():
    import honing as hn
    from honing.executors import BackendError
    from honing.llm._model_files import ModelFileError

    for error in (hn.ConfigError, hn.StoreError, hn.StoreMismatchError, hn.LMError, hn.EvaluatorError,
                  hn.CallbackError, BackendError, ModelFileError):
        assert issubclass(error, hn.HoningError), error
    assert issubclass(hn.ConfigError, ValueError)  # code that caught the built-in keeps working
