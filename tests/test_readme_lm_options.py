"""The reflection-LM option forms the README shows build the models they claim to."""

from __future__ import annotations

import pytest

import honing as hn
from honing.llm import LocalLM, OpenAICompatibleLM, RetryingLM


def _litellm_or_skip() -> None:
    from honing.llm._litellm import import_litellm

    try:
        import_litellm()  # before anything else imports it, so that it stays offline
    except ImportError:
        pytest.skip("litellm is not installed")


def test_the_readme_option_forms_build():
    endpoint = hn.lm("http://gpu:8000/v1#qwen", api_key="k", temperature=0.2, max_tokens=2048, timeout_s=120,
                     extra_body={"top_k": 20})
    assert isinstance(endpoint.inner, RetryingLM) and isinstance(endpoint.inner.inner, OpenAICompatibleLM)
    local = hn.lm("local/qwen2.5-coder-1.5b", temperature=0.5, n_ctx=8192, max_tokens=1024, n_threads=2,
                  timeout_s=300, seed=0)
    assert isinstance(local.inner, LocalLM) and local.inner.n_ctx == 8192 and local.inner.temperature == 0.5
    assert local.max_concurrency == 1  # the engine still sees the one-slot model through hn.lm
    config = hn.Config(reflection=hn.ReflectionConfig(reflection_lm=endpoint))
    assert config.reflection.reflection_lm is endpoint


def test_litellm_options_are_kept_for_every_call():
    _litellm_or_skip()
    model = hn.lm("openai/gpt-4.1-mini", temperature=0.7, api_key="sk-test", max_attempts=2)
    assert model.inner.inner.kwargs == {"temperature": 0.7, "api_key": "sk-test"}
    vllm = hn.lm("hosted_vllm/qwen", api_base="http://gpu:8000/v1")
    assert vllm.inner.inner.kwargs == {"api_base": "http://gpu:8000/v1"}


def test_reflection_lm_kwargs_from_a_toml_table():
    from honing._cli_run import build_config
    from honing._files import tomllib

    tables = tomllib.loads('[reflection]\nreflection_lm = "http://gpu:8000/v1#qwen"\n'
                           'reflection_lm_kwargs = { temperature = 0.2, api_key = "k" }\n')
    config = build_config(tables)
    assert config.reflection.reflection_lm_kwargs == {"temperature": 0.2, "api_key": "k"}
