"""What a caller can tell an LM about the reply it wants, beyond ``complete(messages)``.

The reflection proposer knows two things a plain message list cannot carry:
how long a complete answer can reasonably be, and how to recognise one (or a reply that went wrong). The
embedded model uses both (a reply budget sized to the candidate, and stopping
as soon as the answer is complete instead of writing an explanation nobody
reads); other LMs ignore them. They travel in a context variable set around
the call, so the LM protocol stays one method.

Models whose reading speed matters also describe the prompts that suit them
(``PromptProfile``); the reflection prompt builder follows it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["PromptProfile", "ReplyHints", "current_reply_hints", "reply_hints"]


@dataclass(frozen=True)
class ReplyHints:
    """``max_tokens``: a cap for this reply. ``stop_at(text)``: asked as the reply grows (at line ends), it
    returns why to stop now ("complete": the answer is all there; "repeating": the model is looping), or None.
    """

    max_tokens: int | None = None
    stop_at: Callable[[str], str | None] | None = None


@dataclass(frozen=True)
class PromptProfile:
    """The prompts a model reads fast and follows well.

    ``compact``: the short layout (terse instructions, example inputs shown
    briefly). ``max_prompt_chars``: side information is cut so the prompt
    stays under this. ``edit_threshold_chars``: candidates longer than this
    may be changed with SEARCH/REPLACE edits instead of a full rewrite.
    """

    compact: bool = False
    max_prompt_chars: int | None = None
    edit_threshold_chars: int | None = None


_hints: ContextVar[ReplyHints | None] = ContextVar("honing_reply_hints", default=None)


@contextmanager
def reply_hints(hints: ReplyHints | None) -> Iterator[None]:
    """Make ``hints`` visible to LM calls made inside the block (same thread or task)."""
    token = _hints.set(hints)
    try:
        yield
    finally:
        _hints.reset(token)


def current_reply_hints() -> ReplyHints | None:
    return _hints.get()
