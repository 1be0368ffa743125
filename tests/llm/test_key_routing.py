"""API keys from the environment go only to the provider they belong to (issue 14, item 9)."""

from __future__ import annotations

import pytest

from honing.llm import LMError, OpenAICompatibleLM
from honing.llm._keys import environment_key, origin
from honing.llm._resolve import resolve_lm

MESSAGES = [{"role": "user", "content": "hi"}]
BASE_VARS = ("OPENAI_BASE_URL", "OPENAI_API_BASE", "OPENROUTER_BASE_URL", "OPENROUTER_API_BASE")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for var in BASE_VARS + ("OPENROUTER_API_KEY",):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret")


def _auth(server) -> list[str | None]:
    return [{k.lower(): v for k, v in r["headers"].items()}.get("authorization") for r in server.requests]


def test_an_endpoint_string_does_not_get_the_openai_key(chat_server):
    resolve_lm(f"{chat_server.base_url}#model", max_attempts=1).complete(MESSAGES)
    assert _auth(chat_server) == [None]


def test_an_explicit_key_goes_where_the_user_says(chat_server):
    resolve_lm(f"{chat_server.base_url}#model", api_key="sk-for-this-host", max_attempts=1).complete(MESSAGES)
    endpoint = {"base_url": chat_server.base_url, "model": "m", "api_key": "sk-dict"}
    resolve_lm(endpoint, max_attempts=1).complete(MESSAGES)
    assert _auth(chat_server) == ["Bearer sk-for-this-host", "Bearer sk-dict"]


def test_a_key_paired_with_its_endpoint_in_the_environment_is_sent(chat_server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", chat_server.base_url + "/")
    resolve_lm(f"{chat_server.base_url}#model", max_attempts=1).complete(MESSAGES)
    assert _auth(chat_server) == ["Bearer sk-openai-secret"]


def test_a_refused_key_is_explained_on_401(chat_server):
    chat_server.push(401, {"error": {"message": "missing key"}})
    with pytest.raises(LMError, match=r"no API key was sent to http://127\.0\.0\.1:\d+: \$OPENAI_API_KEY belongs to"):
        OpenAICompatibleLM(chat_server.base_url, "m").complete(MESSAGES)


@pytest.mark.parametrize("url, sent", [
    ("https://api.openai.com/v1", True),
    ("https://API.openai.com:443/v1/", True),
    ("http://api.openai.com/v1", False),  # not over plain HTTP
    ("https://api.openai.com.attacker.example/v1", False),
    ("https://attacker.example/v1?host=api.openai.com", False),
    ("https://api.openai.com:8443/v1", False),
    ("http://127.0.0.1:8000/v1", False),
])
def test_the_openai_key_goes_only_to_openai(url, sent):
    key, why = environment_key(url)
    assert (key == "sk-openai-secret") is sent
    assert (why is None) is sent


def test_each_provider_key_goes_to_its_own_provider(monkeypatch):
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or")
    assert environment_key("https://openrouter.ai/api/v1")[0] == "sk-or"
    assert environment_key("https://api.openai.com/v1")[0] == "sk-openai-secret"
    key, why = environment_key("https://example.org/v1")
    assert key is None and "$OPENAI_API_KEY" in why and "$OPENROUTER_API_KEY" in why


def test_origin_normalises():
    assert origin("HTTPS://Example.org:443/x") == "https://example.org"
    assert origin("http://h:8080/v1") == "http://h:8080"


def test_litellm_with_another_api_base_gets_a_placeholder_key(monkeypatch):
    pytest.importorskip("litellm")
    from honing.llm._litellm import NO_KEY, LiteLLMLM

    assert LiteLLMLM("openai/m", api_base="http://127.0.0.1:9/v1").kwargs["api_key"] == NO_KEY
    assert LiteLLMLM("gpt-4o", api_base="http://127.0.0.1:9/v1").kwargs["api_key"] == NO_KEY
    assert LiteLLMLM("openai/m", api_base="http://127.0.0.1:9/v1", api_key="sk-x").kwargs["api_key"] == "sk-x"
    assert "api_key" not in LiteLLMLM("openai/m").kwargs
    assert "api_key" not in LiteLLMLM("openai/m", api_base="https://api.openai.com/v1").kwargs
    monkeypatch.setenv("OPENAI_API_BASE", "http://127.0.0.1:9/v1")
    assert "api_key" not in LiteLLMLM("openai/m", api_base="http://127.0.0.1:9/v1").kwargs


def test_litellm_does_not_send_the_environment_key_to_another_host(chat_server):
    pytest.importorskip("litellm")
    from honing.llm._litellm import LiteLLMLM

    LiteLLMLM("openai/test-model", api_base=chat_server.base_url, max_retries=0).complete(MESSAGES)
    assert _auth(chat_server) == ["Bearer no-key"]
