"""Watching a reflection reply while it is written: is the answer already complete, or lost?

Small models often keep going after their answer: an explanation of the
changes, a usage example, "I hope this helps". On 2 CPU cores that tail costs
as much as the answer itself (a 1.5B model writes about 20 tokens a second),
and the parser ignores it. Sometimes they loop instead, writing the same line
until the token limit. So the embedded model is told when to stop
(``ReplyHints.stop_at``: the answer is complete, or the reply repeats itself)
and how long a full answer can reasonably be (``ReplyHints.max_tokens``).

A reply is complete when it holds a usable new text (what
``parse_reflection_reply`` would extract: a closed fenced block, or edits
that apply) and the model has since written a line of prose that starts
neither a new block nor a new edit. A small block quoted in the diagnosis
(one line of the old code) does not count: the answer must be at least a
third of the current text, and valid Python when the current text is.
"""

from __future__ import annotations

import re

from ._reflection import _FENCE, _OPENING, _REPLACE, _SEARCH, _THINK, _is_python, parse_reflection_reply
from .llm._hints import ReplyHints

__all__ = ["answer_complete", "repeating", "reply_budget", "reflection_reply_hints", "stop_reason"]

_CHARS_PER_TOKEN = 3.5  # code and English with the Qwen tokenizer: 3.5-4.5
_DIAGNOSIS_TOKENS = 200  # the short diagnosis before the answer, with room to spare
_MIN_BUDGET = 512
_LOOP_LINES = 8  # this many identical non-blank lines in a row: the model is looping


def reply_budget(current_text: str) -> int:
    """Tokens enough for a diagnosis plus a rewrite up to 2.5 times as long as the current text."""
    return max(_MIN_BUDGET, _DIAGNOSIS_TOKENS + int(2.5 * len(current_text) / _CHARS_PER_TOKEN))


def reflection_reply_hints(current_text: str) -> ReplyHints:
    """The hints the proposer gives the LM for a reply that rewrites or edits ``current_text``."""
    return ReplyHints(max_tokens=reply_budget(current_text), stop_at=lambda reply: stop_reason(reply, current_text))


def stop_reason(reply: str, current_text: str) -> str | None:
    """Why the reply being written should end now: "complete", "repeating", or None to go on."""
    if answer_complete(reply, current_text):
        return "complete"
    if repeating(reply):
        return "repeating"
    return None


def repeating(reply: str) -> bool:
    """Whether the last complete lines are one line written over and over (nothing good comes after)."""
    if not isinstance(reply, str):
        return False
    lines = [line.strip() for line in reply.split("\n")[:-1] if line.strip()][-_LOOP_LINES:]
    return len(lines) == _LOOP_LINES and len(set(lines)) == 1


def answer_complete(reply: str, current_text: str) -> bool:
    """Whether ``reply`` (possibly still being written) already holds its answer and has moved past it."""
    if not isinstance(reply, str) or "\n" not in reply:
        return False
    text = _THINK.sub("", reply)
    if re.match(r"\s*<think(?:ing)?>", text, re.I):
        return False
    lines = text.split("\n")[:-1]  # the last piece is a line still being written
    end = _answer_end(lines)
    if end is None:
        return False
    after = [line for line in lines[end + 1:] if line.strip()]
    if not after or any(_OPENING.match(line) or _SEARCH.match(line) for line in after):
        return False
    parsed = parse_reflection_reply(text, current_text)
    if parsed.text is None:
        return False
    if parsed.mode == "rewrite":
        if len(parsed.text.strip()) < len(current_text.strip()) / 3:
            return False
        if _is_python(current_text) and not _is_python(parsed.text):
            return False
    return True


def _answer_end(lines: list[str]) -> int | None:
    """Index of the line that closed the last fenced block or edit; None while one is open or none closed."""
    end: int | None = None
    fence_char, width, depth = "", 0, 0
    in_fence = in_edit = False
    for number, line in enumerate(lines):
        if in_fence:
            match = _FENCE.match(line)
            if match and match.group("fence")[0] == fence_char and len(match.group("fence")) >= width:
                if line.strip() == match.group("fence"):
                    if depth == 0:
                        in_fence = False
                        end = number
                        continue
                    depth -= 1
                elif match.group("info"):
                    depth += 1
        opening = None if in_fence or in_edit else _OPENING.match(line)
        if opening:
            fence = opening.group("fence")
            fence_char, width, depth, in_fence = fence[0], len(fence), 0, True
            continue
        if _SEARCH.match(line):
            in_edit = True
        elif in_edit and _REPLACE.match(line):
            in_edit = False
            end = number
    return None if in_fence or in_edit else end
