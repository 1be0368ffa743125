"""GEPA 0.1.4's config fields and forms: each works with GEPA's meaning or is refused, saying what honing does."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import honing as hn
from tests.conftest import ScriptedLM, fenced
from tests.helpers import CountingEvaluator, growing_lm

# Every field of GEPA 0.1.4's configs, at GEPA's default value (GEPA's own defaults where honing accepts them).
GEPA_DEFAULTS = {
    hn.EngineConfig: dict(
        run_dir=None, seed=0, display_progress_bar=False, raise_on_exception=True, use_cloudpickle=True,
        track_best_outputs=True, max_metric_calls=10, max_candidate_proposals=None, max_reflection_cost=None,
        val_evaluation_policy="full_eval", candidate_selection_strategy="pareto", frontier_type="hybrid",
        acceptance_criterion="strict_improvement", parallel=True, max_workers=4, cache_evaluation=False,
        cache_evaluation_storage="auto", best_example_evals_k=30, capture_stdio=False, sampling_strategy=None,
        selection_strategy=None),
    hn.ReflectionConfig: dict(
        skip_perfect_score=False, perfect_score=None, reflection_strategy=None, batch_sampler="epoch_shuffled",
        reflection_minibatch_size=None, module_selector="round_robin", reflection_lm="openai/gpt-5.1",
        reflection_lm_kwargs=None, reflection_prompt_template=None, custom_candidate_proposer=None),
    hn.TrackingConfig: dict(
        logger=None, use_wandb=False, wandb_api_key=None, wandb_init_kwargs=None, wandb_attach_existing=False,
        wandb_step_metric=None, use_mlflow=False, mlflow_tracking_uri=None, mlflow_experiment_name=None,
        mlflow_attach_existing=False, key_prefix=""),
    hn.MergeConfig: dict(max_merge_invocations=5, merge_val_overlap_floor=5),
    hn.RefinerConfig: dict(refiner_lm=None, max_refinements=1),
}


class _GEPAObject:
    """Stands in for a GEPA strategy object (EvaluationPolicy, BatchSampler, ReflectionLM, ...)."""


# (config class, field, value GEPA accepts but honing does not offer, words the refusal must contain)
REFUSED = [
    (hn.EngineConfig, "val_evaluation_policy", _GEPAObject(), "whole valset"),
    (hn.EngineConfig, "acceptance_criterion", "improvement_or_equal", "strictly higher"),
    (hn.EngineConfig, "acceptance_criterion", _GEPAObject(), "strictly higher"),
    (hn.EngineConfig, "sampling_strategy", _GEPAObject(), "max_proposals_in_flight"),
    (hn.EngineConfig, "selection_strategy", _GEPAObject(), "every proposal"),
    (hn.EngineConfig, "cache_evaluation_storage", "memory", "MemoryStore"),
    (hn.EngineConfig, "use_cloudpickle", False, "never pickles"),
    (hn.EngineConfig, "candidate_selection_strategy", "top_k_pareto", "whole frontier"),
    (hn.ReflectionConfig, "batch_sampler", _GEPAObject(), "epoch by epoch"),
    (hn.ReflectionConfig, "reflection_strategy", _GEPAObject(), "reflection_lm"),
    (hn.ReflectionConfig, "custom_candidate_proposer", lambda c, d, n: c, "reflection_lm"),
    (hn.ReflectionConfig, "module_selector", lambda *a: ["x"], "select("),
    (hn.TrackingConfig, "wandb_attach_existing", True, "its own run"),
    (hn.TrackingConfig, "mlflow_attach_existing", True, "its own run"),
    (hn.TrackingConfig, "wandb_step_metric", "gepa/iteration", "proposal count"),
    (hn.TrackingConfig, "key_prefix", "gepa/", "no prefix"),
]


@pytest.mark.parametrize("kind", list(GEPA_DEFAULTS), ids=lambda k: k.__name__)
def test_every_gepa_field_is_accepted_at_gepas_default(kind):
    config = kind(**GEPA_DEFAULTS[kind])
    for name, value in GEPA_DEFAULTS[kind].items():
        assert getattr(config, name) == value or (name == "display_progress_bar" and config.progress is False)


@pytest.mark.parametrize("kind,name,value,words", REFUSED, ids=[f"{k.__name__}.{n}" for k, n, _, _ in REFUSED])
def test_settings_honing_does_not_offer_are_refused_with_what_it_does_instead(kind, name, value, words):
    with pytest.raises(hn.ConfigError, match=name) as raised:
        kind(**{name: value})
    assert words in str(raised.value)


def test_gepa_and_honing_names_of_one_setting_are_one_field():
    engine = hn.EngineConfig(display_progress_bar=True, max_reflection_cost=2.5)
    assert engine.progress is True and engine.max_cost_usd == 2.5
    changed = engine.replace(max_cost_usd=1.0)
    assert changed.max_reflection_cost == 1.0 and engine.max_reflection_cost == 2.5
    with pytest.raises(hn.ConfigError, match="one setting"):
        hn.EngineConfig(progress=False, display_progress_bar=True)


def test_max_reflection_cost_stops_the_run_like_max_cost_usd():
    lm = ScriptedLM(lambda prompt: fenced("@" * (prompt.count("@") + 1)), cost_usd=0.5)
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=100, max_reflection_cost=1.0, max_proposals_in_flight=1),
                       reflection=hn.ReflectionConfig(reflection_lm=lm))
    result = hn.optimize_anything("@", CountingEvaluator(), config=config)
    assert result.stop_reason == "max_cost_usd" and len(lm.prompts) == 2


def test_dict_sub_configs_and_from_dict():
    data = {"engine": {"max_metric_calls": 7, "seed": 3}, "reflection": {"reflection_minibatch_size": 2},
            "merge": {"max_merge_invocations": 1}, "tracking": {}}
    config = hn.GEPAConfig(**data)
    assert isinstance(config.engine, hn.EngineConfig) and config.engine.max_metric_calls == 7
    assert config.merge.max_merge_invocations == 1
    assert hn.GEPAConfig.from_dict(data) == config
    assert hn.GEPAConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    with pytest.raises(hn.ConfigError, match="did you mean 'max_metric_calls'"):
        hn.GEPAConfig.from_dict({"engine": {"max_metric_call": 5}})


def test_best_example_evals_k_must_be_positive():
    with pytest.raises(hn.ConfigError, match="best_example_evals_k"):
        hn.EngineConfig(best_example_evals_k=0)


def test_best_example_evals_k_refuses_none():
    """None was accepted here and then crashed the engine (``None > 0``) when the run started."""
    with pytest.raises(hn.ConfigError, match="best_example_evals_k must be a positive integer .*got None"):
        hn.EngineConfig(best_example_evals_k=None)


# -- prompt templates ------------------------------------------------------------------------

GEPA_TEMPLATE = 'Improve this {"json": "braces stay"}:\n<curr_param>\nFeedback:\n<side_info>\nAnswer in ``` blocks.'


def test_a_gepa_style_template_reaches_the_lm_with_its_placeholders_filled():
    lm = growing_lm()
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=3),
                       reflection=hn.ReflectionConfig(reflection_lm=lm, reflection_prompt_template=GEPA_TEMPLATE))
    hn.optimize_anything("@", CountingEvaluator(), config=config)
    prompt = lm.prompt_texts[0]
    assert 'Improve this {"json": "braces stay"}:\n@\nFeedback:' in prompt
    assert "more @ is better" in prompt and "<side_info>" not in prompt


def test_per_component_templates_and_the_built_in_prompt_for_the_others():
    lm = growing_lm()
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=5, parallel=False),
                       reflection=hn.ReflectionConfig(reflection_lm=lm, module_selector="all",
                                                      reflection_prompt_template={"a": "A-TEMPLATE <curr_param> "
                                                                                       "<side_info>"}))

    def evaluate(candidate):
        return (candidate["a"] + candidate["b"]).count("@") / 20

    hn.optimize_anything({"a": "@", "b": "@"}, evaluate, config=config)
    prompts = lm.prompt_texts
    assert any(p.startswith("A-TEMPLATE") for p in prompts)
    assert any("A-TEMPLATE" not in p and "`b`" in p for p in prompts)


@pytest.mark.parametrize("template,words", [
    ("<curr_param> only", "<side_info>"),
    ("{current} without feedback", "{feedback}"),
    ("{current} {feedback} {typo}", "{typo}"),
    ({"a": 3}, "must be a str"),
])
def test_unusable_templates_are_refused_before_the_run(template, words):
    with pytest.raises(hn.ConfigError, match="reflection_prompt_template") as raised:
        hn.ReflectionConfig(reflection_prompt_template=template)
    assert words in str(raised.value)


# -- reflection_lm_kwargs ----------------------------------------------------------------------

class _Recorder(BaseHTTPRequestHandler):
    requests: list = []

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append((dict(self.headers), body))
        text = body["messages"][-1]["content"]
        count = text.count("@") if isinstance(text, str) else 1
        reply = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                 "choices": [{"index": 0, "finish_reason": "stop",
                              "message": {"role": "assistant", "content": fenced("@" * (count + 1))}}],
                 "usage": {"prompt_tokens": 5, "completion_tokens": 5, "total_tokens": 10}}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


def test_reflection_lm_kwargs_reach_the_model_call(monkeypatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no fetch of LiteLLM's price list
    pytest.importorskip("litellm")
    _Recorder.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        kwargs = {"api_base": f"http://127.0.0.1:{server.server_address[1]}/v1", "api_key": "sk-from-kwargs",
                  "temperature": 0.25}
        config = hn.Config(engine=hn.EngineConfig(max_metric_calls=2),
                           reflection=hn.ReflectionConfig(reflection_lm="openai/scripted-model",
                                                          reflection_lm_kwargs=kwargs))
        hn.optimize_anything("@", CountingEvaluator(), config=config)
    finally:
        server.shutdown()
        server.server_close()
    headers, body = _Recorder.requests[0]
    assert body["temperature"] == 0.25 and body["model"] == "scripted-model"
    assert {k.lower(): v for k, v in headers.items()}["authorization"] == "Bearer sk-from-kwargs"


def test_reflection_lm_kwargs_with_an_lm_object_are_refused_not_ignored():
    with pytest.raises(hn.ConfigError, match="reflection_lm_kwargs"):
        hn.ReflectionConfig(reflection_lm=growing_lm(), reflection_lm_kwargs={"temperature": 0})


# -- TrackingConfig(logger=...) ------------------------------------------------------------------

def test_a_gepa_style_logger_receives_honings_messages():
    class Collect:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def log(self, message: str) -> None:
            self.lines.append(message)

    collected = Collect()
    level = logging.getLogger("honing").level
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=3),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm()),
                       tracking=hn.TrackingConfig(logger=collected))
    hn.optimize_anything("@", CountingEvaluator(), config=config)
    assert any("estimate" in line for line in collected.lines)
    assert logging.getLogger("honing").level == level  # restored after the run


def test_a_logger_that_raises_is_reported_after_the_run():
    class Broken:
        def log(self, message: str) -> None:
            raise OSError("log disk full")

    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=2),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm()),
                       tracking=hn.TrackingConfig(logger=Broken()))
    with pytest.raises(hn.CallbackError, match="log disk full"):
        hn.optimize_anything("@", CountingEvaluator(), config=config)


def test_a_logger_without_log_is_refused():
    with pytest.raises(hn.ConfigError, match="log\\(message\\)"):
        hn.TrackingConfig(logger=object())


# -- type checkers see the fields ---------------------------------------------------------------

@pytest.mark.skipif(shutil.which("mypy") is None and subprocess.run([sys.executable, "-m", "mypy", "--version"],
                                                                      capture_output=True).returncode != 0,
                    reason="mypy is not installed")
def test_mypy_sees_config_fields(tmp_path, monkeypatch):
    monkeypatch.setenv("MYPYPATH", str(Path(hn.__file__).parent.parent))  # this checkout's source, py.typed or not
    program = tmp_path / "uses_config.py"
    program.write_text("import honing as hn\n"
                       "ok = hn.EngineConfig(max_metric_calls=10)\n"
                       "cfg = hn.GEPAConfig(engine=ok, reflection=hn.ReflectionConfig(reflection_lm='x'))\n"
                       "n: int | None = cfg.engine.max_metric_calls\n"
                       "bad = hn.EngineConfig(max_metric_cals=10)\n")
    done = subprocess.run([sys.executable, "-m", "mypy", "--follow-imports=silent", "--no-incremental",
                           str(program)], capture_output=True, text=True, cwd=tmp_path)
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1 and "max_metric_cals" in errors[0] and ":5:" in errors[0], done.stdout


def test_make_litellm_lm_is_a_prompt_callable_with_options(monkeypatch):
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    pytest.importorskip("litellm")
    _Recorder.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        model = hn.make_litellm_lm("openai/scripted-model", api_base=f"http://127.0.0.1:{server.server_address[1]}/v1",
                                   api_key="sk-x", temperature=0.5)
        reply = model("count @@ please")
    finally:
        server.shutdown()
        server.server_close()
    assert "@@@" in reply and _Recorder.requests[0][1]["temperature"] == 0.5


def test_a_logging_logger_as_tracking_logger_gets_records_once():
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    mine = logging.getLogger("my_app.optimizer")
    mine.propagate = False
    keep = Keep()
    mine.addHandler(keep)
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=3),
                       reflection=hn.ReflectionConfig(reflection_lm=growing_lm()),
                       tracking=hn.TrackingConfig(logger=mine))
    try:
        hn.optimize_anything("@", CountingEvaluator(), config=config)
    finally:
        mine.removeHandler(keep)
    estimates = [r for r in records if "estimate" in r.getMessage()]
    assert len(estimates) == 1 and estimates[0].name.startswith("honing")
