"""OpenAICompatibleLM against a real HTTP server on the loopback interface."""

from __future__ import annotations

import socket

import pytest

from honing.llm import LMError, OpenAICompatibleLM, RetryingLM, TransientLMError
from tests.conftest import run_in_threads

MESSAGES = [{"role": "user", "content": "hi"}]
IMAGE_MESSAGES = [{"role": "user", "content": [
    {"type": "text", "text": "describe"},
    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUg=="}},
]}]


def test_success_with_usage(chat_server):
    chat_server.push(body=chat_server.chat_reply("bonjour", prompt_tokens=12, completion_tokens=3, model="m-1"))
    lm = OpenAICompatibleLM(chat_server.base_url, "m-1", api_key="sk-test", temperature=0.2, max_tokens=50,
                            extra_body={"seed": 7})
    out = lm.complete(MESSAGES)
    assert (out.text, out.prompt_tokens, out.completion_tokens, out.model) == ("bonjour", 12, 3, "m-1")
    assert out.cost_usd is None and out.duration_s > 0
    request = chat_server.requests[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    assert request["json"] == {"model": "m-1", "messages": MESSAGES, "temperature": 0.2, "max_tokens": 50, "seed": 7}


def test_reported_cost_is_read(chat_server):
    chat_server.push(body=chat_server.chat_reply("x", cost=0.0025))
    assert OpenAICompatibleLM(chat_server.base_url, "m", api_key="").complete(MESSAGES).cost_usd == 0.0025


def test_api_key_from_environment_only_where_it_belongs(chat_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_BASE", raising=False)
    OpenAICompatibleLM(chat_server.base_url, "m").complete(MESSAGES)  # another host: no key
    monkeypatch.setenv("OPENAI_BASE_URL", chat_server.base_url)  # the user paired key and endpoint
    OpenAICompatibleLM(chat_server.base_url, "m").complete(MESSAGES)
    OpenAICompatibleLM(chat_server.base_url, "m", api_key="").complete(MESSAGES)
    monkeypatch.delenv("OPENAI_API_KEY")
    OpenAICompatibleLM(chat_server.base_url, "m").complete(MESSAGES)
    auth = [r["headers"].get("Authorization") for r in chat_server.requests]
    assert auth == [None, "Bearer sk-env", None, None]


def test_429_twice_then_success_through_retrying_lm(chat_server):
    error = {"error": {"message": "slow down", "type": "rate_limit"}}
    chat_server.push(429, error, headers={"Retry-After": "0.25"}, times=2)
    chat_server.push(body=chat_server.chat_reply("finally"))
    sleeps: list[float] = []
    lm = RetryingLM(OpenAICompatibleLM(chat_server.base_url, "m", api_key=""), sleep=sleeps.append)
    assert lm.complete(MESSAGES).text == "finally"
    assert len(chat_server.requests) == 3
    assert sleeps == [0.25, 0.25]  # the server's Retry-After wins over the backoff


def test_server_errors_are_transient(chat_server):
    chat_server.push(503, "upstream overloaded")
    with pytest.raises(TransientLMError, match="503.*upstream overloaded"):
        OpenAICompatibleLM(chat_server.base_url, "m", api_key="").complete(MESSAGES)


def test_400_surfaces_the_server_message(chat_server):
    chat_server.push(400, {"error": {"message": "model 'nope' does not exist", "type": "invalid_request_error"}})
    lm = RetryingLM(OpenAICompatibleLM(chat_server.base_url, "nope", api_key=""), sleep=lambda s: None)
    with pytest.raises(LMError, match="HTTP 400.*model 'nope' does not exist") as info:
        lm.complete(MESSAGES)
    assert not isinstance(info.value, TransientLMError)
    assert len(chat_server.requests) == 1  # not retried


def test_fastapi_style_detail_is_surfaced(chat_server):
    chat_server.push(422, {"detail": "messages: field required"})
    with pytest.raises(LMError, match="messages: field required"):
        OpenAICompatibleLM(chat_server.base_url, "m", api_key="").complete(MESSAGES)


def test_image_parts_are_forwarded_intact(chat_server):
    OpenAICompatibleLM(chat_server.base_url, "vision", api_key="").complete(IMAGE_MESSAGES)
    assert chat_server.requests[0]["json"]["messages"] == IMAGE_MESSAGES


def test_error_object_in_a_200_reply(chat_server):
    chat_server.push(body={"error": {"message": "provider returned error", "code": 502}})
    with pytest.raises(TransientLMError, match="provider returned error"):
        OpenAICompatibleLM(chat_server.base_url, "m", api_key="").complete(MESSAGES)
    chat_server.push(body={"error": {"message": "no such model", "code": 404}})
    with pytest.raises(LMError, match="no such model") as info:
        OpenAICompatibleLM(chat_server.base_url, "m", api_key="").complete(MESSAGES)
    assert not isinstance(info.value, TransientLMError)


def test_malformed_replies_are_permanent_errors(chat_server):
    lm = OpenAICompatibleLM(chat_server.base_url, "m", api_key="")
    chat_server.push(body="<html>not json</html>")
    with pytest.raises(LMError, match="not JSON"):
        lm.complete(MESSAGES)
    reply = chat_server.chat_reply("x")
    reply["choices"][0]["message"]["content"] = None
    reply["choices"][0]["finish_reason"] = "length"
    chat_server.push(body=reply)
    with pytest.raises(LMError, match="without text.*length"):
        lm.complete(MESSAGES)


def test_connection_refused_is_transient():
    with socket.socket() as s:  # a port that was free a moment ago and has no listener
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TransientLMError, match="cannot reach"):
        OpenAICompatibleLM(f"http://127.0.0.1:{port}/v1", "m", api_key="", timeout_s=2).complete(MESSAGES)


def test_timeout_is_transient():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection but never answers
    port = listener.getsockname()[1]
    try:
        lm = OpenAICompatibleLM(f"http://127.0.0.1:{port}/v1", "m", api_key="", timeout_s=0.3)
        with pytest.raises(TransientLMError):
            lm.complete(MESSAGES)
    finally:
        listener.close()


def test_concurrent_calls(chat_server):
    lm = OpenAICompatibleLM(chat_server.base_url, "m", api_key="")
    results: list[str] = []
    run_in_threads(lambda _thread: results.append(lm.complete(MESSAGES).text), 8)
    assert results == ["hello"] * 8


def test_url_forms_and_validation(chat_server):
    full = OpenAICompatibleLM(chat_server.base_url + "/chat/completions/", "m", api_key="")
    assert full.url == chat_server.base_url + "/chat/completions"
    assert "sk-secret" not in repr(OpenAICompatibleLM(chat_server.base_url, "m", api_key="sk-secret"))
    with pytest.raises(ValueError, match="http"):
        OpenAICompatibleLM("file:///etc/passwd", "m")
    with pytest.raises(ValueError):
        OpenAICompatibleLM(chat_server.base_url, "")
