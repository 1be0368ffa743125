"""What LocalLM asks of the runtime, checked against a recording stand-in for the loaded model."""

from __future__ import annotations

from honing.llm import LocalLM


class RecordingEngine:
    def __init__(self) -> None:
        self.requests: list[dict] = []

    def chat(self, request: dict) -> dict:
        self.requests.append(request)
        return {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1}}


def _ask(lm: LocalLM) -> dict:
    engine = RecordingEngine()
    lm._engine = engine  # as if loaded: no model file is needed to see the request
    assert lm("hello") == "ok"
    return engine.requests[-1]


def test_greedy_calls_skip_the_prompt_cache():
    # A reused KV prefix changes the numerics: a temperature-0 reply would depend on the previous request.
    assert _ask(LocalLM("local/smollm2-135m", temperature=0.0))["cache_prompt"] is False
    assert _ask(LocalLM("local/smollm2-135m").with_options(temperature=0.0))["cache_prompt"] is False


def test_sampled_calls_reuse_the_prompt_cache():
    request = _ask(LocalLM("local/smollm2-135m", temperature=0.7, max_tokens=32, seed=5))
    assert request["cache_prompt"] is True
    assert request["max_tokens"] == 32 and request["seed"] == 5 and request["temperature"] == 0.7
