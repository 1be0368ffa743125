"""Fitting chat messages into a local model's context window, without a tokenizer.

Prompts longer than the window are cut from the middle of their longest
messages rather than refused: a message's start (instructions, the artifact's
head) and end (the latest feedback) matter most.
"""

from __future__ import annotations

import math
from typing import Any

from ._base import CHARS_PER_TOKEN, Message

__all__ = ["CHARS_PER_TOKEN", "content_text", "estimate_tokens", "trim_messages"]

_MESSAGE_OVERHEAD = 4  # role and template tokens around each message
_MIN_KEEP = 32  # never cut a message below this many characters
_MARKER_CHARS = 40  # "\n[... 12345 characters trimmed ...]\n"
_IMAGE_PLACEHOLDER = "[image omitted: this local model reads text only]"


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    chunks = []
    for part in content:
        if part.get("type") == "text":
            chunks.append(part.get("text", ""))
        else:
            chunks.append(_IMAGE_PLACEHOLDER)
    return "\n".join(chunks)


def estimate_tokens(messages: list[Message], chars_per_token: float = CHARS_PER_TOKEN) -> int:
    """A quick upper-side token estimate for chat messages (no tokenizer needed)."""
    total = 3
    for message in messages:
        text = content_text(message.get("content", ""))
        total += _MESSAGE_OVERHEAD + math.ceil(len(text) / chars_per_token)
    return total


def _cut_middle(text: str, keep: int) -> str:
    if keep >= len(text):
        return text
    head = keep - keep // 2
    tail = keep // 2
    trimmed = len(text) - keep
    end = text[len(text) - tail:] if tail else ""
    return f"{text[:head]}\n[... {trimmed} characters trimmed ...]\n{end}"


def _water_level(lengths: list[int], available: float) -> int:
    """The largest per-message length cap whose trimmed total fits ``available``."""
    def cost(cap: int) -> int:
        return sum(n if n <= cap else cap + _MARKER_CHARS for n in lengths)

    low, high = _MIN_KEEP, max(lengths)
    if cost(low) > available:
        return low
    while low < high:
        middle = (low + high + 1) // 2
        if cost(middle) <= available:
            low = middle
        else:
            high = middle - 1
    return low


def trim_messages(
    messages: list[Message],
    max_prompt_tokens: int,
    *,
    chars_per_token: float = CHARS_PER_TOKEN,
) -> list[Message]:
    """Shorten the longest message contents from the middle until the prompt fits.

    The longest contents are cut first, down to a common length (short
    messages such as the question stay whole). The middle goes because a
    message's start (instructions, the artifact's head) and end (the latest
    feedback) matter most. Contents come back as plain strings (image parts
    become a placeholder). Returns the messages unchanged when they fit.
    """
    if not messages or estimate_tokens(messages, chars_per_token) <= max_prompt_tokens:
        return messages
    originals = [content_text(m.get("content", "")) for m in messages]
    lengths = [len(text) for text in originals]
    fixed = 3 + (_MESSAGE_OVERHEAD + 1) * len(messages)  # +1: rounding up per message
    available = (max_prompt_tokens - fixed) * chars_per_token
    out = list(messages)
    for _ in range(8):
        cap = _water_level(lengths, available)
        out = [
            dict(m, content=_cut_middle(text, cap))
            for m, text in zip(messages, originals)
        ]
        excess = estimate_tokens(out, chars_per_token) - max_prompt_tokens
        if excess <= 0 or cap <= _MIN_KEEP:
            break
        available -= excess * chars_per_token + 16
    return out
