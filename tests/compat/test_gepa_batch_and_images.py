"""GEPA's batch_evaluator= keyword and GEPA's Image constructor forms."""

from __future__ import annotations

import base64
import io
import threading

import pytest

import honing as hn
from tests.helpers import growing_lm


def config(**engine):
    engine.setdefault("max_metric_calls", 12)
    return hn.Config(engine=hn.EngineConfig(**engine), reflection=hn.ReflectionConfig(reflection_lm=growing_lm()))


class BatchEval:
    """A GEPA-style batch evaluator that records each call's pairs."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.calls: list[list[tuple]] = []
        self.states: list = []
        self.fail_on = fail_on
        self._lock = threading.Lock()

    def __call__(self, pairs, opt_states=None):
        with self._lock:
            self.calls.append(list(pairs))
            self.states.append(opt_states)
        if self.fail_on is not None and any(c == self.fail_on for c, _ in pairs):
            raise ConnectionError("batch job rejected")
        return [(min(c.count("@"), 10) / 10, {"example": e}) for c, e in pairs]


def test_pending_evaluations_go_to_the_batch_function_together():
    batch = BatchEval()
    result = hn.optimize_anything("@", batch_evaluator=batch, dataset=[1, 2, 3, 4], config=config(max_workers=4))
    assert result.best_score > 0.1
    assert sum(len(c) for c in batch.calls) == result.total_metric_calls
    assert max(len(c) for c in batch.calls) > 1  # the seed's four evaluations arrive together
    assert all(isinstance(candidate, str) for call in batch.calls for candidate, _ in call)  # str seeds unwrapped
    assert all(len(states) == len(call) and all(isinstance(s, hn.OptimizationState) for s in states)
               for call, states in zip(batch.calls, batch.states))


def test_single_task_batches_pass_none_as_the_example():
    batch = BatchEval()
    hn.optimize_anything("@", batch_evaluator=batch, config=config(max_metric_calls=3))
    assert all(example is None for call in batch.calls for _, example in call)


def test_a_failing_batch_call_fails_each_of_its_evaluations():
    batch = BatchEval(fail_on="@")
    with pytest.raises(hn.EvaluatorError, match="batch job rejected"):  # on the seed, every time: a bug
        hn.optimize_anything("@", batch_evaluator=batch, dataset=[1, 2], config=config())
    with pytest.raises(ConnectionError, match="batch job rejected"):
        hn.optimize_anything("@", batch_evaluator=batch, dataset=[1, 2], config=config(raise_on_exception=True))


def test_a_batch_function_that_returns_the_wrong_count_is_an_error():
    with pytest.raises(hn.EvaluatorError, match="returned 1 results for 2 pairs"):
        hn.optimize_anything("@", batch_evaluator=lambda pairs: [1.0], dataset=[1, 2],
                             config=config(max_workers=2))


def test_batch_evaluator_forms_that_cannot_work_are_refused():
    batch = BatchEval()
    with pytest.raises(TypeError, match="not both"):
        hn.optimize_anything("@", evaluator=lambda c: 1.0, batch_evaluator=batch, config=config())
    with pytest.raises(hn.ConfigError, match="executor='thread'"):
        hn.optimize_anything("@", batch_evaluator=batch, config=config(executor="process"))
    with pytest.raises(hn.ConfigError, match="capture_stdio"):
        hn.optimize_anything("@", batch_evaluator=batch, config=config(capture_stdio=True))
    with pytest.raises(hn.EvaluatorSignatureError, match="batch_evaluator"):
        hn.optimize_anything("@", batch_evaluator=lambda: [], config=config())


# -- images -----------------------------------------------------------------------------------

def png_bytes() -> bytes:
    pil = pytest.importorskip("PIL.Image")
    buffer = io.BytesIO()
    pil.new("RGB", (3, 2), (255, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_gepa_image_keywords():
    data = png_bytes()
    b64 = base64.b64encode(data).decode()
    from_b64 = hn.Image(base64_data=b64, media_type="image/png")
    from_url = hn.Image(url=f"data:image/png;base64,{b64}")
    assert from_b64 == from_url == hn.Image(data)
    assert from_b64.size == (3, 2)
    assert from_b64.to_openai_content_part() == {"type": "image_url",
                                                 "image_url": {"url": f"data:image/png;base64,{b64}"}}


def test_web_urls_and_ambiguous_image_arguments_are_refused():
    with pytest.raises(ValueError, match="never fetches"):
        hn.Image(url="https://example.com/plot.png")
    with pytest.raises(TypeError, match="exactly one"):
        hn.Image(base64_data="aGk=", url="data:image/png;base64,aGk=")
    with pytest.raises(TypeError, match="one setting"):
        hn.Image(base64_data=base64.b64encode(png_bytes()).decode(), mime_type="image/png", media_type="image/jpeg")


def test_images_built_the_gepa_way_reach_a_multimodal_lm():
    data = png_bytes()
    seen = []

    def lm(prompt):
        seen.append(prompt)
        return "```\n@@\n```"

    def evaluate(candidate):
        return 0.1, {"render": hn.Image(base64_data=base64.b64encode(data).decode(), media_type="image/png")}

    hn.optimize_anything("@", evaluate, config=hn.Config(engine=hn.EngineConfig(max_metric_calls=2),
                                                         reflection=hn.ReflectionConfig(reflection_lm=lm)))
    parts = [part for message in seen[0] for part in (message["content"] if isinstance(message["content"], list)
                                                       else [])]
    assert any(part.get("type") == "image_url" for part in parts)
