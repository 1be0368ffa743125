"""resolve_lm / lm / lm_name: every accepted spec form and the error for others."""

from __future__ import annotations

import sys
import types

import pytest

from honing.llm import CallableLM, Completion, OpenAICompatibleLM, RetryingLM, lm, resolve_lm
from honing.llm._resolve import lm_name
from tests.conftest import run_in_threads


class Echo:
    name = "echo"

    def complete(self, messages):
        return Completion(text=messages[-1]["content"] if isinstance(messages[-1]["content"], str) else "parts")


def shout(prompt):
    return prompt.upper()


def test_lm_object_is_used_as_is():
    echo = Echo()
    assert resolve_lm(echo) is echo
    with pytest.raises(TypeError, match="already built"):
        resolve_lm(echo, temperature=0)


def test_callable_becomes_callable_lm():
    out = resolve_lm(shout)
    assert isinstance(out, CallableLM)
    assert out.complete([{"role": "user", "content": "hi"}]).text == "HI"


def test_endpoint_string(chat_server):
    spec = f"{chat_server.base_url}#qwen-local"
    out = resolve_lm(spec, api_key="", max_attempts=2)
    assert isinstance(out, RetryingLM) and out.max_attempts == 2
    assert isinstance(out.inner, OpenAICompatibleLM)
    assert (out.inner.base_url, out.inner.model) == (chat_server.base_url, "qwen-local")
    assert out.complete([{"role": "user", "content": "x"}]).text == "hello"
    assert chat_server.requests[0]["json"]["model"] == "qwen-local"


def test_endpoint_string_needs_a_model():
    with pytest.raises(ValueError, match="#model-name"):
        resolve_lm("http://127.0.0.1:8000/v1")


def test_endpoint_dict(chat_server):
    out = resolve_lm({"base_url": chat_server.base_url, "model": "m", "api_key": "sk-d"}, temperature=0.1)
    assert isinstance(out, RetryingLM)
    assert out.inner.temperature == 0.1
    out.complete([{"role": "user", "content": "x"}])
    assert chat_server.requests[0]["headers"]["Authorization"] == "Bearer sk-d"
    with pytest.raises(ValueError, match="'model'"):
        resolve_lm({"base_url": chat_server.base_url})


def test_local_prefix_goes_to_local_lm(monkeypatch):
    made = {}

    class FakeLocalLM:
        def __init__(self, spec, **options):
            made.update(spec=spec, **options)

        def complete(self, messages):
            return Completion(text="local")

    fake = types.ModuleType("honing.llm._local")
    fake.LocalLM = FakeLocalLM
    monkeypatch.setitem(sys.modules, "honing.llm._local", fake)
    monkeypatch.delattr(sys.modules["honing.llm"], "_local", raising=False)
    out = resolve_lm("local/qwen2.5-coder-0.5b", n_ctx=2048)
    assert isinstance(out, FakeLocalLM)  # local models are not wrapped in retries
    assert made == {"spec": "local/qwen2.5-coder-0.5b", "n_ctx": 2048}


def test_local_prefix_builds_the_real_local_lm_lazily():
    from honing.llm._local import LocalLM  # construction loads nothing; the model loads on first call

    out = resolve_lm("local/smollm2-135m", n_ctx=1024)
    assert isinstance(out, LocalLM) and out.context_window == 1024
    assert lm_name(out) == "local/smollm2-135m"


def test_other_strings_go_to_litellm(monkeypatch):
    made = {}

    class FakeLiteLLMLM:
        def __init__(self, model, **kwargs):
            made.update(model=model, **kwargs)
            self.name = model

        def complete(self, messages):
            return Completion(text="hosted")

    import honing.llm._litellm as litellm_module

    monkeypatch.setattr(litellm_module, "LiteLLMLM", FakeLiteLLMLM)
    out = resolve_lm("openrouter/some/model", temperature=0.3, base_delay_s=0.5)
    assert isinstance(out, RetryingLM) and out.base_delay_s == 0.5
    assert made == {"model": "openrouter/some/model", "temperature": 0.3}
    assert out.name == "openrouter/some/model"


def test_litellm_missing_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "litellm", None)  # makes `import litellm` fail
    with pytest.raises(ImportError, match=r"pip install 'honing\[hosted\]'"):
        resolve_lm("openai/gpt-4.1-mini")


@pytest.mark.parametrize("spec", [42, None, 3.5, ["openai/gpt-4.1-mini"]])
def test_bad_spec_names_it_and_the_accepted_forms(spec):
    with pytest.raises(TypeError) as info:
        resolve_lm(spec)
    message = str(info.value)
    assert type(spec).__name__ in message
    for form in ("complete(messages)", "local/", "#model-name", "base_url", "openai/gpt-4.1-mini", "callable"):
        assert form in message


def test_empty_string_is_rejected():
    with pytest.raises(ValueError, match="empty"):
        resolve_lm("  ")


def test_lm_chat_callable(chat_server):
    model = lm(f"{chat_server.base_url}#task-model", api_key="")
    assert model("hi") == "hello"
    assert model([{"role": "user", "content": "hi"}]) == "hello"
    assert model.complete([{"role": "user", "content": "x"}]).prompt_tokens == 11
    assert model.name == "task-model"
    usage = model.usage.snapshot()
    assert (usage.calls, usage.prompt_tokens, usage.completion_tokens) == (3, 33, 21)
    assert [r["json"]["messages"] for r in chat_server.requests[:1]] == [[{"role": "user", "content": "hi"}]]
    with pytest.raises(TypeError):
        model(123)  # type: ignore[arg-type]


def test_lm_survives_pickling(chat_server):
    import pickle

    model = lm(f"{chat_server.base_url}#task-model", api_key="", max_attempts=2)
    model("warm up")
    copy = pickle.loads(pickle.dumps(model))
    assert copy("again") == "hello"
    assert copy.usage.calls == 2 and copy.inner.max_attempts == 2


def test_lm_wraps_callables_and_objects():
    assert lm(shout)("abc") == "ABC"
    assert lm(Echo())("abc") == "abc"


def test_lm_name():
    assert lm_name("openai/gpt-4.1-mini") == "openai/gpt-4.1-mini"
    assert lm_name("local/smollm2-135m") == "local/smollm2-135m"
    assert lm_name("http://localhost:8000/v1#qwen") == "qwen"
    assert lm_name({"base_url": "http://x/v1", "model": "m"}) == "m"
    assert lm_name(shout) == "shout"
    assert lm_name(lambda p: p) == "test_lm_name.<locals>.<lambda>"
    assert lm_name(Echo()) == "echo"
    assert lm_name(RetryingLM(Echo())) == "echo"
    assert lm_name(resolve_lm(shout)) == "shout"
    assert lm_name(object()) == "object"


def test_usage_meter_sums_known_costs_and_counts_unknown_ones_across_threads():
    from honing.llm import UsageMeter

    meter = UsageMeter()
    priced = Completion(text="", prompt_tokens=10, completion_tokens=2, cost_usd=0.001)
    unpriced = Completion(text="", prompt_tokens=None, completion_tokens=3)

    def work(_thread):
        for _ in range(500):
            meter.add(priced)
            meter.add(unpriced)

    run_in_threads(work, 4)
    usage = meter.snapshot()
    assert (usage.calls, usage.unpriced_calls) == (4000, 2000)
    assert (usage.prompt_tokens, usage.completion_tokens) == (20000, 10000)
    assert usage.cost_usd == pytest.approx(2.0) and not usage.cost_known
    metered = meter.metered(Echo())
    metered.complete([{"role": "user", "content": "x"}])
    assert meter.calls == 4001 and metered.name == "echo"
    assert meter.reset().calls == 4001 and meter.calls == 0
