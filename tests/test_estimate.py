"""Pre-run estimates: proposal ranges by mode, cost ranges for priced models, the log line and warning."""

from __future__ import annotations

import logging
import warnings

import pytest

import honing as hn
from honing._estimate import estimate_run
from tests.helpers import CountingEvaluator, growing_lm


def test_single_task_every_proposal_costs_one_call():
    est = estimate_run(20)
    assert (est.seed_calls, est.calls_per_rejected, est.calls_per_accepted) == (1, 1, 1)
    assert est.proposals_min == est.proposals_max == 19
    assert est.cost_usd_min is None and est.cost_usd_max is None


def test_multi_task_range_runs_from_all_accepted_to_all_rejected():
    est = estimate_run(100, train_size=10, minibatch_size=3)
    assert est.seed_calls == 10
    assert (est.calls_per_rejected, est.calls_per_accepted) == (3, 10)
    assert (est.proposals_min, est.proposals_max) == (9, 30)


def test_generalization_counts_parent_minibatch_and_valset():
    est = estimate_run(100, train_size=10, val_size=20, minibatch_size=2)
    assert (est.calls_per_rejected, est.calls_per_accepted) == (2, 24)
    assert (est.proposals_min, est.proposals_max) == (80 // 24, 40)


def test_minibatch_is_capped_by_the_dataset_and_tiny_budgets_give_zero():
    assert estimate_run(10, train_size=2, minibatch_size=5).calls_per_rejected == 2
    est = estimate_run(5, train_size=10)
    assert est.proposals_max == 0 and est.seed_calls == 5
    with pytest.raises(ValueError, match="positive integer"):
        estimate_run(0)


def test_priced_model_gets_a_cost_range(monkeypatch):
    from honing.llm import _litellm

    monkeypatch.setattr(_litellm, "price_per_token", lambda model: (1e-6, 4e-6) if model == "acme/model" else None)
    est = estimate_run(100, train_size=10, reflection_lm="acme/model", candidate_chars=1000,
                       max_side_info_chars=8000)
    assert 0 < est.cost_usd_min < est.cost_usd_max
    # the dearest case: 30 proposals, each ~ (1500 + 1000 + 8000) / 4 prompt tokens and (1000 + 300) / 4 reply tokens
    assert est.cost_usd_max == pytest.approx(30 * (10500 / 4 * 1e-6 + 1300 / 4 * 4e-6))
    assert "acme/model" in est.summary() and "$" in est.summary()
    assert estimate_run(100, reflection_lm="acme/unknown").cost_usd_max is None


def test_local_models_endpoints_and_callables_are_never_priced(monkeypatch):
    from honing.llm import _litellm

    def fail(model):
        raise AssertionError(f"priced {model}")

    monkeypatch.setattr(_litellm, "price_per_token", fail)
    for lm in ("local/qwen2.5-coder-1.5b", "http://localhost:8000/v1#m", growing_lm(), None):
        assert estimate_run(10, reflection_lm=lm).cost_usd_max is None


def _config(budget, lm=None):
    return hn.Config(engine=hn.EngineConfig(max_metric_calls=budget),
                     reflection=hn.ReflectionConfig(reflection_lm=lm or growing_lm()))


def test_optimize_anything_logs_the_estimate(caplog):
    with caplog.at_level(logging.INFO, logger="honing"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a healthy budget gives no warning
            hn.optimize_anything("@", CountingEvaluator(), dataset=[1, 2, 3, 4], config=_config(20))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("estimate:")]
    assert lines == ["estimate: budget of 20 evaluator calls: the seed takes 4, then 4 to 5 proposals "
                     "(each costs 3 calls if rejected, up to 4 calls if accepted)"]


def test_a_budget_for_few_proposals_warns_and_still_runs(caplog):
    with caplog.at_level(logging.INFO, logger="honing"):
        result = hn.optimize_anything("@", CountingEvaluator(), config=_config(4))
    assert result.total_metric_calls == 4
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "honing.estimate"]
    assert len(warned) == 1 and "max_metric_calls=4 allows at most 3 proposal" in warned[0].getMessage()


def test_the_small_budget_warning_is_silenced_by_the_honing_logger_level(caplog):
    logging.getLogger("honing").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # and it is no warnings.warn, which ignores logging levels
            with caplog.at_level(logging.DEBUG):
                hn.optimize_anything("@", CountingEvaluator(), config=_config(4))
    finally:
        logging.getLogger("honing").setLevel(logging.NOTSET)
    assert not [r for r in caplog.records if r.name.startswith("honing") and r.levelno < logging.ERROR]


def test_no_budget_no_estimate(caplog):
    config = hn.Config(engine=hn.EngineConfig(max_candidate_proposals=2),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm()))
    with caplog.at_level(logging.INFO, logger="honing"):
        hn.optimize_anything("@", CountingEvaluator(), config=config)
    assert not [r for r in caplog.records if r.getMessage().startswith("estimate:")]
