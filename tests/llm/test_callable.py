"""CallableLM: what the callable receives, and how its reply becomes text."""

from __future__ import annotations

import functools
from types import SimpleNamespace

import pytest

from honing.llm import CallableLM, Completion, LMError

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


def test_text_only_messages_arrive_as_one_string():
    seen = []
    lm = CallableLM(lambda p: seen.append(p) or "ok")
    out = lm.complete([{"role": "system", "content": "be brief"},
                       {"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    assert seen == ["be brief\n\nhi"]
    assert out.text == "ok"
    assert out.duration_s >= 0
    assert out.cost_usd is None


def test_single_user_message_is_its_text():
    seen = []
    CallableLM(lambda p: seen.append(p) or "ok").complete([{"role": "user", "content": "just this"}])
    assert seen == ["just this"]


def test_images_arrive_as_the_full_message_list():
    seen = []
    messages = [{"role": "user", "content": [{"type": "text", "text": "what is this?"}, IMAGE]}]
    CallableLM(lambda p: seen.append(p) or "a cat").complete(messages)
    assert seen == [messages]


@pytest.mark.parametrize("reply", [
    "plain",
    ["plain"],                                                   # DSPy LM
    SimpleNamespace(content="plain"),                            # LangChain AIMessage-like
    SimpleNamespace(text="plain"),
    {"choices": [{"message": {"role": "assistant", "content": "plain"}}]},
    SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content="plain"))]),
    {"content": "plain"},
    {"role": "assistant", "content": [{"type": "text", "text": "pla"}, {"type": "text", "text": "in"}]},
    ({"text": "plain"},),
])
def test_common_reply_shapes_are_read(reply):
    assert CallableLM(lambda p: reply).complete([{"role": "user", "content": "x"}]).text == "plain"


def test_usage_in_an_openai_shaped_reply_is_kept():
    reply = {"choices": [{"message": {"content": "t"}}], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}
    out = CallableLM(lambda p: reply).complete([{"role": "user", "content": "x"}])
    assert (out.prompt_tokens, out.completion_tokens) == (3, 2)


def test_a_returned_completion_passes_through():
    done = Completion(text="t", prompt_tokens=1, completion_tokens=1, cost_usd=0.5, model="m", duration_s=2.0)
    assert CallableLM(lambda p: done).complete([{"role": "user", "content": "x"}]) is done


@pytest.mark.parametrize("reply, type_name", [(42, "int"), (None, "NoneType"), (["a", "b"], "list")])
def test_unreadable_reply_names_its_type(reply, type_name):
    with pytest.raises(LMError, match=type_name):
        CallableLM(lambda p: reply).complete([{"role": "user", "content": "x"}])


def test_callable_exceptions_propagate_unchanged():
    def boom(prompt):
        raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        CallableLM(boom).complete([{"role": "user", "content": "x"}])


def my_model(prompt: str) -> str:
    return prompt


def test_names():
    assert CallableLM(my_model).name == "my_model"
    assert CallableLM(functools.partial(my_model)).name == "my_model"
    assert CallableLM(my_model, name="custom").name == "custom"
    assert CallableLM(my_model).complete([{"role": "user", "content": "x"}]).model == "my_model"
    with pytest.raises(TypeError):
        CallableLM("not callable")  # type: ignore[arg-type]
