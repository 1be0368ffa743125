"""The reflection prompt and the parsing of its reply.

The same prompt has to work for a 1.5B local model and for frontier models, so
it is short, concrete and laid out in fixed markdown sections: goal, context,
the current text, the evaluation results, and *last* the instructions (small
models follow what they read most recently). The answer format is the one
every code model has seen most often: a short diagnosis, then the complete
new text in one fenced block. Long candidates may instead be changed with
SEARCH/REPLACE edit blocks, which saves the model from re-typing (and
mangling) thousands of unchanged characters.

Parsing is deliberately forgiving, because small models drift from any
format: language tags, several fences, a reply cut off before its closing
fence, ``<think>`` sections, edits with the wrong indentation, or no fence at
all are all handled; when nothing usable is found the reason is reported
instead of guessing.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ._image import Image
from ._render import format_number, render_side_info, truncate_middle
from .llm._base import Message

__all__ = [
    "ReflectionExample", "ParsedReply", "build_reflection_messages", "build_seed_generation_messages",
    "parse_reflection_reply",
]


@dataclass(frozen=True)
class ReflectionExample:
    """One minibatch evaluation of the current candidate, as shown to the reflection model."""

    score: float
    side_info: dict[str, Any]
    example: Any | None = None  # the training example; None in single-task mode
    output: Any = None
    error: str | None = None
    objective_scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class ParsedReply:
    """The new text extracted from a reply, how it was expressed, or why there is none."""

    text: str | None
    mode: Literal["rewrite", "edits", "none"]
    error: str | None = None


# -- prompt -------------------------------------------------------------------------------
_SYSTEM = (
    "You improve text artifacts such as prompts, programs and configuration files. You are shown the current "
    "version, the scores it got and feedback from evaluating it. Work out what went wrong, then write a better "
    "version."
)

_COMPACT_SYSTEM = "You improve programs, prompts and other texts using the results of evaluating them."
_COMPACT_INPUT_CHARS = 240  # example inputs are often the bulk of the data, and the feedback describes them

_SEED_SYSTEM = "You write text artifacts such as prompts, programs and configuration files."

_EDIT_FORMAT = """<<<<<<< SEARCH
lines copied exactly from the current text
=======
the lines that replace them
>>>>>>> REPLACE"""

# (per-field chars, share of the side-info budget, chars of each other component) tried in turn
# until the prompt fits max_prompt_chars; None drops the feedback and keeps only the scores.
_LEVELS: tuple[tuple[int | None, float, int], ...] = (
    (2000, 1.0, 1500), (1000, 0.5, 800), (500, 0.25, 400), (250, 0.12, 200), (120, 0.05, 100),
    (60, 0.02, 0), (None, 0.0, 0),
)


def build_reflection_messages(
    *,
    component: str,
    current_text: str,
    all_components: Mapping[str, str],
    examples: Sequence[ReflectionExample],
    objective: str | None,
    background: str | None,
    allow_edits: bool,
    max_prompt_chars: int | None = None,
    multimodal: bool = True,
    max_side_info_chars: int = 12_000,
    compact: bool = False,
) -> list[Message]:
    """A system + user message pair asking for an improved ``component``.

    ``max_side_info_chars`` is the side-info budget shared by all examples.
    With ``max_prompt_chars`` the feedback is shrunk step by step (per field,
    then per example, then dropped) until the prompt fits; the current text is
    never shortened. Images in the feedback are attached as image parts when
    ``multimodal``; otherwise only their ``[image N]`` placeholders remain.
    ``compact`` is the layout for small local models, which read slowly: a
    shorter system message and instructions, and example inputs (often the
    bulk of the data) shown only briefly.
    """
    examples = list(examples)
    per_example = max(300, max_side_info_chars // max(1, len(examples)))
    messages: list[Message] = []
    for field_chars, share, context_chars in _LEVELS:
        messages = _assemble(component, current_text, all_components, examples, objective, background,
                             allow_edits, multimodal, field_chars, max(150, int(per_example * share)),
                             context_chars, None, compact)
        if max_prompt_chars is None or _length(messages) <= max_prompt_chars:
            return messages
    # Last resort: long goal/background texts are cut too. The current text never is.
    return _assemble(component, current_text, all_components, examples, objective, background, allow_edits,
                     multimodal, None, 150, 0, 400, compact)


def build_seed_generation_messages(objective: str | None, background: str | None,
                                   component: str = "candidate") -> list[Message]:
    """Ask for a first candidate when the user gave only an objective."""
    sections = []
    if objective:
        sections.append(f"## Goal\n{objective.strip()}")
    if background:
        sections.append(f"## Background\n{background.strip()}")
    sections.append(
        "## What to do\n"
        f"Write a complete first version of `{component}` that achieves the goal. It will be evaluated and then "
        "improved, so make it a solid, working starting point.\n"
        "Put the whole text inside one ``` block and write nothing after the block."
    )
    return [{"role": "system", "content": _SEED_SYSTEM}, {"role": "user", "content": "\n\n".join(sections)}]


def _assemble(component: str, current: str, all_components: Mapping[str, str], examples: list[ReflectionExample],
              objective: str | None, background: str | None, allow_edits: bool, multimodal: bool,
              field_chars: int | None, example_chars: int, context_chars: int,
              intro_chars: int | None, compact: bool = False) -> list[Message]:
    fence = _fence_for(current)
    sections: list[str] = []
    if objective:
        sections.append("## Goal\n" + _cut(objective.strip(), intro_chars))
    if background:
        sections.append("## Background\n" + _cut(background.strip(), intro_chars))
    others = [(name, text) for name, text in all_components.items() if name != component]
    if others and context_chars > 0:
        shown = "\n\n".join(f"### {name}\n{truncate_middle(str(text), context_chars)}" for name, text in others)
        sections.append("## Other parts of the system (context only; do not rewrite them)\n" + shown)
    elif others:
        sections.append("## Other parts of the system (not shown)\n" + ", ".join(f"`{n}`" for n, _ in others))
    sections.append(f"## Current `{component}`\n{fence}\n{current}\n{fence}")

    images: list[Image] = []
    results = []
    for number, ex in enumerate(examples, 1):
        block, found = _example_block(number, ex, field_chars, example_chars, len(images), compact)
        results.append(block)
        images.extend(found)
    if results:
        header = "## Evaluation results (higher scores are better)"
        if images and not multimodal:
            header += "\nImages are referred to as [image N] but cannot be shown here."
        sections.append(header + "\n\n" + "\n\n".join(results))
    sections.append(_compact_instructions(component, fence, allow_edits) if compact
                    else _instructions(component, fence, allow_edits))
    text = "\n\n".join(sections)
    content: Any = text
    if images and multimodal:
        content = [{"type": "text", "text": text}]
        for number, image in enumerate(images, 1):
            content.append({"type": "text", "text": f"[image {number}]"})
            content.append(image.to_content_part())
    return [{"role": "system", "content": _COMPACT_SYSTEM if compact else _SYSTEM},
            {"role": "user", "content": content}]


def _example_block(number: int, ex: ReflectionExample, field_chars: int | None, budget: int,
                   image_offset: int, compact: bool = False) -> tuple[str, list[Image]]:
    label = "Example" if ex.example is not None else "Evaluation"
    lines = [f"### {label} {number}: score {format_number(ex.score)}"]
    if ex.objective_scores:
        lines.append("Scores: " + ", ".join(f"{k} {format_number(v)}" for k, v in ex.objective_scores.items()))
    images: list[Image] = []
    if field_chars is None:
        return "\n".join(lines), images

    def section(title: str, value: Any, chars: int) -> None:
        rendered = render_side_info(value, max_field_chars=field_chars, max_total_chars=max(60, chars),
                                    image_offset=image_offset + len(images))
        images.extend(rendered.images)
        body = rendered.text
        if "\n" in body or len(body) > 80:
            lines.append(f"{title}:\n" + "\n".join("  " + ln if ln else "" for ln in body.split("\n")))
        else:
            lines.append(f"{title}: {body}")

    if ex.example is not None:
        section("Input", ex.example, _COMPACT_INPUT_CHARS if compact else budget // 3)
    if ex.output is not None:
        section("Output", ex.output, budget // 3)
    side_info = dict(ex.side_info or {})
    if ex.objective_scores and isinstance(side_info.get("scores"), Mapping):
        side_info.pop("scores")  # already shown on the Scores line
    if ex.error and side_info.get("error") != ex.error:
        lines.append("Error: " + truncate_middle(str(ex.error), field_chars))
    if side_info:
        section("Feedback", side_info, budget)
    return "\n".join(lines), images


def _instructions(component: str, fence: str, allow_edits: bool) -> str:
    where = f"inside one {fence} block"
    if len(fence) > 3:
        where += f" ({len(fence)} backticks, because the text itself contains ```)"
    steps = [
        "## What to do",
        "1. Diagnose in at most three plain sentences (no headings, no lists) what the results above show "
        "went wrong and why.",
        f"2. Write the complete improved `{component}` {where}. Keep what already works and fix what failed. "
        "Stop right after the closing fence: no explanation after the block.",
    ]
    if allow_edits:
        steps[-1] = (
            f"2. Either write the complete improved `{component}` {where}, or, to change only some parts, "
            f"give one or more edit blocks:\n{_EDIT_FORMAT}\nEach SEARCH part must match the current text "
            "exactly. Write nothing after your answer."
        )
    return "\n".join(steps)


def _compact_instructions(component: str, fence: str, allow_edits: bool) -> str:
    where = f"in one {fence} block"
    if len(fence) > 3:
        where += f" ({len(fence)} backticks, because the text contains ```)"
    text = ("## What to do\nIn at most two sentences, say what to change and why. Then write the complete improved "
            f"`{component}` {where}, keeping what works. Stop after the block.")
    if allow_edits:
        text = ("## What to do\nIn at most two sentences, say what to change and why. Then either write the complete "
                f"improved `{component}` {where}, or change only some parts with edit blocks:\n{_EDIT_FORMAT}\n"
                "Each SEARCH part must copy lines of the current text exactly. Stop after your answer.")
    return text


def _fence_for(text: str) -> str:
    runs = [len(m) for m in re.findall(r"`{3,}", text)]
    return "`" * max(3, max(runs, default=0) + 1) if runs else "```"


def _cut(text: str, limit: int | None) -> str:
    return text if limit is None else truncate_middle(text, limit)


def _length(messages: list[Message]) -> int:
    total = 0
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            total += len(content)
        else:
            total += sum(len(part.get("text", "")) for part in content if part.get("type") == "text")
    return total


# -- reply parsing --------------------------------------------------------------------------
_THINK = re.compile(r"<think(?:ing)?>.*?</think(?:ing)?>", re.S | re.I)
_SEARCH = re.compile(r"^\s*<{5,9}\s*SEARCH\s*$", re.I)
_DIVIDER = re.compile(r"^\s*={5,9}\s*$")
_REPLACE = re.compile(r"^\s*>{5,9}\s*REPLACE\s*$", re.I)
_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\s]*)[^`]*$")
# An opening fence may also follow a list marker on the same line ("2. ```python"): small models number
# their answer after the numbered instructions. Its leading spaces are the block's indentation.
_OPENING = re.compile(r"^(?P<indent> {0,3})(?:(?:\d{1,3}[.)]|[-*+])[ \t]+)?(?P<fence>`{3,}|~{3,})[ \t]*"
                      r"(?P<info>[^`\s]*)[^`]*$")
_CHATTER_HEAD = re.compile(
    r"^\s*(sure|okay|ok|certainly|of course|great|alright|here(?:'s| is| are)|below is|the (?:improved|updated|new|"
    r"revised|complete)|i(?:'ve| have) (?:improved|updated|revised|rewritten))\b.*$", re.I)
_CHATTER_TAIL = re.compile(
    r"^\s*(let me know|i hope|hope this|this (?:version|revision|updated|new|improved)|these changes|"
    r"feel free|the (?:changes|main changes) )\b.*$", re.I)
_CONVERSATION = re.compile(r"^\s*(i|i'm|i’m|sorry|unfortunately|as an ai|thanks|thank you|hmm+|yes|no)\b", re.I)
_DIAGNOSIS = re.compile(r"^\s*(\**\s*)?(diagnos\w*|analysis|the (?:problem|issue)s?|issues?|what went wrong|"
                        r"\d+\.\s*diagnos\w*)\b", re.I | re.M)


def wants_follow_up(reply: str) -> bool:
    """Whether a reply is a diagnosis that stopped before giving any new text.

    Small local models often answer step 1 (what went wrong) and end there. The
    conversation so far is the costly part of a call, and the runtime keeps it
    cached, so asking once more for the text itself is cheap next to a new call.
    """
    if not isinstance(reply, str) or not reply.strip():
        return False
    text = _THINK.sub("", reply)
    if re.match(r"\s*<think(?:ing)?>", text, re.I):  # cut off while thinking: asking again would not help
        return False
    # _OPENING also matches every plain fence.
    return not any(_OPENING.match(line) or _SEARCH.match(line) for line in text.split("\n"))


def follow_up_message(component: str, current_text: str) -> dict[str, str]:
    """The user turn that asks for the text a prose-only reply left out."""
    fence = _fence_for(current_text)
    return {"role": "user", "content": f"Now write the complete improved `{component}` inside one {fence} block, "
                                        "applying your diagnosis. Nothing after the block."}


def parse_reflection_reply(reply: str, current_text: str) -> ParsedReply:
    """Extract the new text from a reflection reply.

    Order: SEARCH/REPLACE edits (applied to ``current_text``; if any fails,
    a full rewrite in a fence is used instead when the reply has one), then
    fenced blocks, then - only when the reply looks like nothing but a
    candidate - the bare reply. A result equal to ``current_text`` is reported
    as ``mode="none", error="unchanged"``.
    """
    if not isinstance(reply, str) or not reply.strip():
        return ParsedReply(None, "none", "empty reply")
    text = _THINK.sub("", reply)
    if re.match(r"\s*<think(?:ing)?>", text, re.I):  # never closed: the answer, if any, is not there
        return ParsedReply(None, "none", "the reply ended inside its <think> section")

    edits, edit_error = _parse_edits(text)
    if edits:
        applied, failure = _apply_edits(current_text, edits)
        if applied is not None:
            return _finish(applied, current_text, "edits")
        rewrite = _pick_block(_fenced_blocks(text), ignore_edits=True)
        if rewrite is not None:
            return _finish(rewrite, current_text, "rewrite")
        return ParsedReply(None, "none", failure)
    if edit_error:
        rewrite = _pick_block(_fenced_blocks(text), ignore_edits=True)
        if rewrite is not None:
            return _finish(rewrite, current_text, "rewrite")
        return ParsedReply(None, "none", edit_error)

    block = _pick_block(_fenced_blocks(text), ignore_edits=False)
    if block is not None:
        return _finish(block, current_text, "rewrite")
    bare = _bare_candidate(text, current_text)
    if bare is None:
        return ParsedReply(None, "none", "no fenced block in the reply and it does not look like a complete text")
    if _is_python(current_text) and not _is_python(bare):
        # Code stays code: an unfenced reply to a program that is not itself a program is prose
        # (often a diagnosis cut off by the token limit), not a candidate.
        return ParsedReply(None, "none",
                           "no fenced block, and the bare reply is not valid Python like the current text")
    return _finish(bare, current_text, "rewrite")


def _is_python(text: str) -> bool:
    if not re.search(r"^\s*(def|class|import|from)\s", text, re.M):
        return False
    try:
        ast.parse(text)
    except (SyntaxError, ValueError):
        return False
    return True


def _finish(text: str, current: str, mode: Literal["rewrite", "edits"]) -> ParsedReply:
    if not text.strip():
        return ParsedReply(None, "none", "the new text is empty")
    if text.strip() == current.strip():
        return ParsedReply(None, "none", "unchanged")
    return ParsedReply(text, mode)


# fenced blocks
@dataclass
class _Block:
    info: str
    lines: list[str]
    closed: bool
    indent: int = 0  # spaces before the opening fence: removed from the content lines (CommonMark)

    @property
    def text(self) -> str:
        lines = self.lines
        if self.indent:
            common = min((len(line) - len(line.lstrip(" ")) for line in lines if line.strip()), default=0)
            cut = min(self.indent, common)
            lines = [line[cut:] for line in lines]
        return "\n".join(lines).strip("\n").rstrip()


def _fenced_blocks(text: str) -> list[_Block]:
    """Fenced blocks, CommonMark style, plus one heuristic for nesting.

    A line like ```` ```python ```` inside an open block is taken as a nested
    fence (candidates that are prompts often contain code examples), so the
    matching bare fence closes it rather than the outer block. A block still
    open at the end of the reply (the model ran out of tokens) is kept.
    """
    blocks: list[_Block] = []
    current: _Block | None = None
    char, width, depth = "", 0, 0
    for line in text.split("\n"):
        if current is None:
            opening = _OPENING.match(line)
            if opening:
                fence = opening.group("fence")
                char, width, depth = fence[0], len(fence), 0
                current = _Block(opening.group("info").lower(), [], False, len(opening.group("indent")))
            continue
        match = _FENCE.match(line)
        if match and match.group("fence")[0] == char and len(match.group("fence")) >= width:
            if line.strip() == match.group("fence"):
                if depth == 0:
                    current.closed = True
                    blocks.append(current)
                    current = None
                    continue
                depth -= 1
            elif match.group("info"):
                depth += 1
        current.lines.append(line)
    if current is not None and current.lines:
        blocks.append(current)
    return blocks


def _pick_block(blocks: list[_Block], ignore_edits: bool) -> str | None:
    """The block that holds the candidate.

    Replies often carry small extra blocks too: a quoted line of the old text
    in the diagnosis, a usage example after the answer. A full candidate is
    the big one, and when the model wrote several big ones (a draft, then
    "actually, better:") the last is the one it settled on. So: the last block
    at least 60% as long as the longest.
    """
    usable = [b for b in blocks if b.text.strip()]
    if ignore_edits:
        usable = [b for b in usable if not any(_SEARCH.match(ln) or _REPLACE.match(ln) for ln in b.lines)]
    if not usable:
        return None
    longest = max(len(b.text) for b in usable)
    return [b for b in usable if len(b.text) >= 0.6 * longest][-1].text


# SEARCH/REPLACE edits
def _parse_edits(text: str) -> tuple[list[tuple[str, str]], str | None]:
    edits: list[tuple[str, str]] = []
    state = "out"
    search: list[str] = []
    replace: list[str] = []
    for line in text.split("\n"):
        if state == "out":
            if _SEARCH.match(line):
                state, search, replace = "search", [], []
        elif state == "search":
            if _DIVIDER.match(line):
                state = "replace"
            elif _SEARCH.match(line):
                search = []
            else:
                search.append(line)
        elif _REPLACE.match(line):
            edits.append(("\n".join(search), "\n".join(replace)))
            state = "out"
        else:
            replace.append(line)
    if state != "out":
        number = len(edits) + 1
        return [], f"edit block {number} is incomplete (no {'=======' if state == 'search' else '>>>>>>> REPLACE'})"
    return edits, None


def _apply_edits(current: str, edits: list[tuple[str, str]]) -> tuple[str | None, str | None]:
    text = current
    for number, (search, replace) in enumerate(edits, 1):
        updated = _apply_one(text, search, replace)
        if updated is None:
            return None, f"edit block {number} did not match the current text: {truncate_middle(search, 200)!r}"
        text = updated
    return text, None


def _apply_one(text: str, search: str, replace: str) -> str | None:
    if not search.strip():
        return replace if not text.strip() else None  # an empty SEARCH only makes sense on an empty text
    if search in text:
        return text.replace(search, replace, 1)
    # Whitespace-tolerant: match line by line ignoring indentation and trailing spaces.
    wanted = search.split("\n")
    while wanted and not wanted[0].strip():
        wanted.pop(0)
    while wanted and not wanted[-1].strip():
        wanted.pop()
    lines = text.split("\n")
    key = [ln.strip() for ln in wanted]
    stripped = [ln.strip() for ln in lines]
    for start in range(len(lines) - len(key) + 1):
        if stripped[start:start + len(key)] == key:
            have = _indent_of(lines[start])
            gave = _indent_of(wanted[0])
            new = replace.split("\n") if replace else []
            if have != gave:
                new = [_reindent(ln, gave, have) for ln in new]
            return "\n".join(lines[:start] + new + lines[start + len(key):])
    return None


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _reindent(line: str, gave: str, have: str) -> str:
    """Shift a replacement line by the indentation the model got wrong in its SEARCH part."""
    if not line.strip():
        return line
    if line.startswith(gave):
        return have + line[len(gave):]
    return line


# no fence at all
def _bare_candidate(text: str, current: str) -> str | None:
    """The reply itself, minus a chatty first/last line, when it can only be the candidate."""
    lines = text.strip().split("\n")
    if lines and _CHATTER_HEAD.match(lines[0]) and lines[0].rstrip().endswith(":"):
        lines = lines[1:]
    while lines and (not lines[-1].strip() or _CHATTER_TAIL.match(lines[-1])):
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    body = "\n".join(lines).strip()
    if not body or _DIAGNOSIS.search(body):
        return None  # a reply that explains itself mixes analysis with the text: not safe to use whole
    if _CONVERSATION.match(body) or ("\n" not in body and body.endswith("?")):
        return None  # the model talking to us ("I am not sure.", a question), not a candidate
    if current.strip() and len(body) < 0.3 * len(current.strip()):
        return None  # far too short to be the full text
    return body
