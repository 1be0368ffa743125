"""The LM protocol: one method, ``complete(messages) -> Completion``.

Everything honing sends to a language model goes through this protocol, so a
hosted provider, the embedded local model and a scripted test LM are
interchangeable. Messages use the OpenAI chat format: a list of
``{"role": ..., "content": ...}`` where ``content`` is a string or a list of
parts (``{"type": "text", "text": ...}`` / ``{"type": "image_url", ...}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from .._errors import HoningError

Message = dict[str, Any]

#: Characters per token, for sizing prompts to a model's context window. Conservative: code and
#: English run 3.2-4.5 characters per token with these tokenizers, so an estimate at 3.0 rarely
#: lets an over-long prompt through.
CHARS_PER_TOKEN = 3.0


@dataclass(frozen=True)
class Completion:
    """One reply of a language model, with what it cost."""

    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    model: str | None = None
    duration_s: float = 0.0


@runtime_checkable
class LM(Protocol):
    """A chat model. Implementations must be safe to call from several threads.

    ``context_window`` (tokens) is optional; when an implementation has one,
    prompt builders use it to trim side information instead of overflowing.
    """

    def complete(self, messages: list[Message]) -> Completion: ...


class LMError(HoningError, RuntimeError):
    """A language model call failed for good (after retries)."""


class TransientLMError(LMError):
    """A failure worth retrying: rate limits, timeouts, dropped connections."""

    #: Seconds the server asked to wait before the next try (HTTP ``Retry-After``), when it said.
    retry_after_s: float | None = None


def messages_to_text(messages: list[Message]) -> str:
    """Flatten chat messages to plain text (image parts become a placeholder)."""
    chunks = []
    for message in messages:
        content = message.get("content", "")
        if isinstance(content, str):
            chunks.append(content)
            continue
        for part in content:
            if part.get("type") == "text":
                chunks.append(part.get("text", ""))
            else:
                chunks.append("[image]")
    return "\n\n".join(chunks)


def has_images(messages: list[Message]) -> bool:
    return any(
        not isinstance(m.get("content", ""), str)
        and any(p.get("type") != "text" for p in m["content"])
        for m in messages
    )


def inner_attribute(wrapper: Any, name: str) -> Any:
    """``__getattr__`` of an LM wrapper: what the wrapper lacks (``context_window``, ``name``, ``model``...)
    comes from the LM it wraps, ``wrapper.inner``, so wrapping is invisible to prompt builders.

    Private names and ``inner`` itself never pass through: a wrapper being unpickled has no
    ``inner`` yet, and looking it up must fail rather than recurse.
    """
    if name.startswith("_") or name == "inner":
        raise AttributeError(name)
    return getattr(wrapper.inner, name)
