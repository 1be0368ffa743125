"""LiteLLMLM through a real litellm install, pointed at the loopback test server."""

from __future__ import annotations

import os

import pytest

# litellm fetches its price table from the internet at import unless told not to.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
litellm = pytest.importorskip("litellm", reason="litellm is not installed (pip install 'honing[hosted]')")

from honing.llm import LiteLLMLM, LMError, TransientLMError  # noqa: E402
from honing.llm._litellm import price_per_token  # noqa: E402

MESSAGES = [{"role": "user", "content": "hi"}]


def _lm(server, **kwargs):
    return LiteLLMLM("openai/test-model", api_base=server.base_url, api_key="sk-test", max_retries=0, **kwargs)


def test_text_and_tokens(chat_server):
    chat_server.push(body=chat_server.chat_reply("from litellm", prompt_tokens=21, completion_tokens=4))
    out = _lm(chat_server, temperature=0).complete(MESSAGES)
    assert out.text == "from litellm"
    assert (out.prompt_tokens, out.completion_tokens) == (21, 4)
    assert out.duration_s > 0
    request = chat_server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["json"]["model"] == "test-model" and request["json"]["messages"] == MESSAGES


def test_unpriced_model_has_unknown_cost(chat_server):
    assert _lm(chat_server).complete(MESSAGES).cost_usd is None  # unknown, and never an exception


def test_priced_model_has_a_cost(chat_server):
    chat_server.push(body=chat_server.chat_reply("x", prompt_tokens=1000, completion_tokens=100, model="gpt-4o-mini"))
    lm = LiteLLMLM("openai/gpt-4o-mini", api_base=chat_server.base_url, api_key="sk-test", max_retries=0)
    cost = lm.complete(MESSAGES).cost_usd
    input_price, output_price = price_per_token("openai/gpt-4o-mini")
    assert cost == pytest.approx(1000 * input_price + 100 * output_price)


def test_rate_limit_is_transient(chat_server):
    chat_server.push(429, {"error": {"message": "slow down", "type": "rate_limit"}}, times=3)
    with pytest.raises(TransientLMError, match="slow down"):
        _lm(chat_server).complete(MESSAGES)


def test_bad_request_is_permanent(chat_server):
    chat_server.push(400, {"error": {"message": "bad parameter foo", "type": "invalid_request_error"}}, times=3)
    with pytest.raises(LMError, match="bad parameter foo") as info:
        _lm(chat_server).complete(MESSAGES)
    assert not isinstance(info.value, TransientLMError)


def test_pickle_round_trip(chat_server):
    import pickle

    copy = pickle.loads(pickle.dumps(_lm(chat_server)))
    assert copy.complete(MESSAGES).text == "hello"


def test_price_per_token():
    price = price_per_token("openai/gpt-4o-mini")
    assert price is not None and all(p > 0 for p in price)
    assert price_per_token("surely/not-a-real-model-xyz") is None


def test_context_window_from_the_table():
    assert LiteLLMLM("openai/gpt-4o-mini").context_window > 8000
    assert LiteLLMLM("openai/not-a-real-model-xyz").context_window is None
