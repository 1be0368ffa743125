"""Wrap a plain ``prompt -> str`` function as an LM.

Most users already have a way to call their model (an SDK client, a DSPy LM,
a LangChain chat model, a test stub). Rather than asking them to implement
``complete()``, honing accepts any callable and adapts both directions: the
prompt goes in as a plain string whenever that loses nothing, and the many
reply shapes those libraries return are reduced to text here, in one place.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from ._base import Completion, LMError, Message, has_images, messages_to_text

PromptFn = Callable[[Any], Any]


class CallableLM:
    """An LM backed by ``fn(prompt) -> str``.

    ``fn`` receives a single string (the messages flattened with
    ``messages_to_text``) when every message is text only, and the full list
    of OpenAI-style messages when any of them carries an image, since an
    image cannot survive flattening. Thread safety is the callable's own.
    """

    def __init__(self, fn: PromptFn, *, name: str | None = None) -> None:
        if not callable(fn):
            raise TypeError(f"CallableLM needs a callable, got {type(fn).__name__}")
        self.fn = fn
        self.name = name or callable_name(fn)

    def complete(self, messages: list[Message]) -> Completion:
        prompt: str | list[Message] = messages if has_images(messages) else messages_to_text(messages)
        started = time.monotonic()
        result = self.fn(prompt)
        duration = time.monotonic() - started
        if isinstance(result, Completion):
            # A callable that already measures usage keeps its numbers.
            return result if result.duration_s else _with_duration(result, duration, self.name)
        text = extract_text(result, self.name)
        prompt_tokens, completion_tokens = _usage_of(result)
        return Completion(text=text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                          model=self.name, duration_s=duration)

    def __repr__(self) -> str:
        return f"CallableLM({self.name})"


def callable_name(fn: Any) -> str:
    """A readable name for a callable: its qualname, or its type's for objects."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if isinstance(name, str):
        return name
    inner = getattr(fn, "func", None)  # functools.partial
    if inner is not None and inner is not fn:
        return callable_name(inner)
    return type(fn).__qualname__


def extract_text(result: Any, source: str = "the callable") -> str:
    """Reduce a model reply of a common shape to its text, or raise LMError.

    Accepted: ``str``; a one-item list or tuple (DSPy LMs return ``[text]``);
    an object with a ``content`` or ``text`` attribute (LangChain messages,
    SDK blocks); an OpenAI-shaped response object or dict
    (``choices[0].message.content``); a dict with ``content`` or ``text``.
    """
    text = _try_extract(result, depth=0)
    if text is None:
        raise LMError(
            f"{source} returned {type(result).__module__}.{type(result).__qualname__}, which has no text "
            "honing knows how to read; return a str (or an object with .content / an OpenAI-style dict)"
        )
    return text


def _try_extract(value: Any, depth: int) -> str | None:
    if depth > 4:  # nested wrappers deeper than this are not a reply shape we know
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        if len(value) == 1:
            return _try_extract(value[0], depth + 1)
        if value and all(isinstance(p, dict) and "type" in p for p in value):
            return _parts_text(value)  # a content list: [{"type": "text", ...}, ...]
        return None
    if isinstance(value, dict):
        if "choices" in value:
            return _choice_text(value["choices"], depth)
        for key in ("content", "text", "message", "output_text"):
            if key in value:
                return _try_extract(value[key], depth + 1)
        return None
    choices = getattr(value, "choices", None)
    if isinstance(choices, (list, tuple)):
        return _choice_text(choices, depth)
    for attr in ("content", "text", "message", "output_text"):
        found = getattr(value, attr, None)
        if found is not None and not callable(found):
            return _try_extract(found, depth + 1)
    return None


def _choice_text(choices: Any, depth: int) -> str | None:
    if not choices:
        return None
    first = choices[0]
    message = first.get("message") if isinstance(first, dict) else getattr(first, "message", None)
    if message is None:  # legacy completions API: choices[0].text
        message = first.get("text") if isinstance(first, dict) else getattr(first, "text", None)
    return None if message is None else _try_extract(message, depth + 1)


def _parts_text(parts: Sequence[Any]) -> str:
    return "".join(p.get("text", "") for p in parts if p.get("type") in ("text", "output_text"))


def _usage_of(result: Any) -> tuple[int | None, int | None]:
    """Token counts if the reply carries an OpenAI-style ``usage``, else None."""
    usage = result.get("usage") if isinstance(result, dict) else getattr(result, "usage", None)
    if usage is None:
        return None, None

    def read(key: str) -> int | None:
        value = usage.get(key) if isinstance(usage, dict) else getattr(usage, key, None)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return read("prompt_tokens"), read("completion_tokens")


def _with_duration(completion: Completion, duration: float, name: str) -> Completion:
    return Completion(text=completion.text, prompt_tokens=completion.prompt_tokens,
                      completion_tokens=completion.completion_tokens, cost_usd=completion.cost_usd,
                      model=completion.model or name, duration_s=duration)
