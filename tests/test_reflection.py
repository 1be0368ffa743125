"""The reflection prompt (content, budget, images) and the parsing of replies."""

from __future__ import annotations

import pytest

from honing._image import Image
from honing._reflection import (
    ReflectionExample,
    build_reflection_messages,
    build_seed_generation_messages,
    parse_reflection_reply,
)
from tests.test_image import PNG

CURRENT = "You are a helpful assistant.\nAnswer with a single number."


def _messages(examples, current=CURRENT, **kw):
    args = dict(component="system_prompt", current_text=current, all_components={"system_prompt": current},
                examples=examples, objective="Solve arithmetic word problems.", background="Answers are integers.",
                allow_edits=False)
    args.update(kw)
    return build_reflection_messages(**args)


def _text(messages) -> str:
    content = messages[1]["content"]
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


def _size(messages) -> int:
    return len(messages[0]["content"]) + len(_text(messages))


# -- prompt ----------------------------------------------------------------------------------
def test_prompt_shows_everything_in_order():
    ex = ReflectionExample(score=0.25, side_info={"expected": "4", "scores": {"acc": 0.5}}, example={"q": "2+2?"},
                           output="5", objective_scores={"acc": 0.5})
    messages = _messages([ex], all_components={"system_prompt": CURRENT, "tool_doc": "calc(x): evaluates x"})
    assert [m["role"] for m in messages] == ["system", "user"]
    text = _text(messages)
    order = ["## Goal", "Solve arithmetic", "## Background", "tool_doc", "calc(x)", "## Current `system_prompt`",
             CURRENT, "### Example 1: score 0.25", "Scores: acc 0.5", "q: 2+2?", "Output: 5", "expected: 4",
             "## What to do"]
    positions = [text.index(piece) for piece in order]
    assert positions == sorted(positions)
    assert text.count("acc") == 1  # side_info["scores"] is not repeated under Feedback
    assert text.rstrip().endswith("no explanation after the block.")
    assert "SEARCH" not in text


def test_single_task_examples_and_errors():
    ex = ReflectionExample(score=0.0, side_info={}, example=None, error="ZeroDivisionError: division by zero")
    text = _text(_messages([ex]))
    assert "### Evaluation 1: score 0.0" in text and "Error: ZeroDivisionError" in text and "Input" not in text


def test_edits_are_offered_only_when_allowed():
    text = _text(_messages([], allow_edits=True))
    assert "<<<<<<< SEARCH" in text and "=======" in text and ">>>>>>> REPLACE" in text


def test_a_longer_fence_is_used_when_the_text_contains_fences():
    current = "Reply in JSON:\n```json\n{\"answer\": 1}\n```"
    text = _text(_messages([], current=current))
    assert f"````\n{current}\n````" in text and "4 backticks" in text


def test_prompt_fits_max_prompt_chars_and_keeps_the_current_text():
    current = "\n".join(f"line {i}: do the thing carefully" for i in range(100))
    examples = [ReflectionExample(score=i / 10, side_info={"trace": "t" * 200_000, "log": "l" * 50_000},
                                  example={"input": "i" * 30_000}, output="o" * 30_000) for i in range(5)]
    unbounded = _messages(examples, current=current)
    for limit in (15_000, 8_000, 5_000):
        messages = _messages(examples, current=current, max_prompt_chars=limit)
        assert _size(messages) <= limit < _size(unbounded)
        assert current in _text(messages)
        assert "### Example 5" in _text(messages)
    tiny = _messages(examples, current=current, max_prompt_chars=100)  # cannot fit: current text still whole
    assert current in _text(tiny)


def test_images_are_attached_as_parts_or_left_as_placeholders():
    image = Image(PNG)
    ex = ReflectionExample(score=0.5, side_info={"render": image, "diff": image})
    content = _messages([ex])[1]["content"]
    assert isinstance(content, list)
    images = [p for p in content if p["type"] == "image_url"]
    assert [p["image_url"]["url"] for p in images] == [image.to_data_url()]
    assert "[image 1]" in content[0]["text"]
    plain = _messages([ex], multimodal=False)[1]["content"]
    assert isinstance(plain, str) and "[image 1]" in plain and "cannot be shown" in plain


def test_images_from_several_examples_are_numbered_apart():
    pytest.importorskip("PIL.Image", reason="Pillow makes the second image")
    a = Image(PNG)
    b = Image(a.to_pil().resize((2, 2)))
    content = _messages([ReflectionExample(0.1, {"r": a}), ReflectionExample(0.2, {"r": b})])[1]["content"]
    assert "[image 1]" in content[0]["text"] and "[image 2]" in content[0]["text"]
    assert sum(p["type"] == "image_url" for p in content) == 2


def test_seed_generation_messages():
    messages = build_seed_generation_messages("Write a regex for dates.", "ISO 8601 only.")
    assert messages[0]["role"] == "system"
    text = messages[1]["content"]
    assert "Write a regex for dates." in text and "ISO 8601" in text and "`candidate`" in text and "```" in text
    assert "## Background" not in build_seed_generation_messages("Goal", None)[1]["content"]


# -- parsing: fences ----------------------------------------------------------------------------
def test_plain_fence():
    parsed = parse_reflection_reply("The model guessed.\n\n```\nThink step by step.\n```", CURRENT)
    assert (parsed.text, parsed.mode, parsed.error) == ("Think step by step.", "rewrite", None)


def test_language_tag_and_indentation_kept():
    parsed = parse_reflection_reply("Fix:\n```python\ndef f(x):\n    return x + 1\n```\n", "def f(x):\n    return x")
    assert parsed.text == "def f(x):\n    return x + 1"


def test_multiple_fences_pick_the_full_candidate_not_the_snippet():
    reply = ("The line ```Answer with a single number.``` is too strict, e.g.\n```\nAnswer with a single number.\n```\n"
             "New version:\n```\nYou are a careful math tutor.\nShow your work, then give the final number.\n```\n"
             "Usage:\n```\nprint(x)\n```")
    assert parse_reflection_reply(reply, CURRENT).text.startswith("You are a careful math tutor.")


def test_of_two_full_versions_the_last_wins():
    reply = "Draft:\n```\nVersion one of the prompt text.\n```\nBetter:\n```\nVersion two of the prompt text!\n```"
    assert parse_reflection_reply(reply, CURRENT).text == "Version two of the prompt text!"


def test_fence_opened_after_a_list_marker():
    # The 1.5B model numbers its answer after the numbered instructions: "2. ```python".
    reply = ("1. The circles overlap because the rings are too close.\n2. ```python\nimport math\n\n\n"
             "def pack():\n    return [(0.5, 0.5, 0.5)]\n```")
    parsed = parse_reflection_reply(reply, "def pack():\n    return []")
    assert parsed.mode == "rewrite"
    assert parsed.text == "import math\n\n\ndef pack():\n    return [(0.5, 0.5, 0.5)]"


def test_fence_indented_inside_a_list_item_is_dedented():
    reply = ("1. The radii are too small.\n2. A better candidate:\n   ```python\n   def pack():\n"
             "       return [(0.5, 0.5, 0.5)]\n   ```\n")
    parsed = parse_reflection_reply(reply, "def pack():\n    return []")
    assert parsed.text == "def pack():\n    return [(0.5, 0.5, 0.5)]"


def test_unterminated_final_fence():
    parsed = parse_reflection_reply("Diagnosis: too vague.\n```text\nBe precise.\nCheck units.", CURRENT)
    assert parsed.text == "Be precise.\nCheck units." and parsed.mode == "rewrite"


def test_nested_fence_with_language_tag_inside_candidate():
    new = "Reply in JSON:\n```json\n{\"answer\": 2}\n```\nNothing else."
    parsed = parse_reflection_reply(f"Needs an example.\n```\n{new}\n```", CURRENT)
    assert parsed.text == new
    longer = parse_reflection_reply(f"Needs an example.\n````\n{new}\n````", CURRENT)
    assert longer.text == new


def test_think_sections_are_ignored():
    reply = "<think>maybe ```\nwrong\n``` here</think>\nDiagnosis.\n```\nRight answer text.\n```"
    assert parse_reflection_reply(reply, CURRENT).text == "Right answer text."
    assert parse_reflection_reply("<think>still thinking ```x", CURRENT).text is None


def test_no_fence_bare_candidate_accepted_only_when_it_looks_complete():
    bare = parse_reflection_reply("Here is the improved prompt:\nYou are precise.\nAnswer with one integer.", CURRENT)
    assert bare.text == "You are precise.\nAnswer with one integer." and bare.mode == "rewrite"
    chatty = parse_reflection_reply("Diagnosis: the prompt is vague.\nYou should add examples.", CURRENT)
    assert chatty.text is None and chatty.mode == "none" and "no fenced block" in chatty.error
    for talk in ("I am not sure.", "Sorry, I cannot help with that.", "Could you give more details?"):
        assert parse_reflection_reply(talk, "@").text is None
    short = parse_reflection_reply("ok", "x" * 1000)
    assert short.text is None
    assert parse_reflection_reply("a first candidate", "").text == "a first candidate"  # seed generation


def test_unchanged_and_empty_replies():
    same = parse_reflection_reply(f"Looks fine.\n```\n{CURRENT}\n```", CURRENT + "\n")
    assert (same.text, same.mode, same.error) == (None, "none", "unchanged")
    assert parse_reflection_reply("", CURRENT).error == "empty reply"
    assert parse_reflection_reply("```\n\n```", CURRENT).text is None


# -- parsing: SEARCH/REPLACE edits ------------------------------------------------------------------
CODE = "def area(r):\n    pi = 3\n    return pi * r * r\n\n\ndef perimeter(r):\n    return 2 * 3 * r\n"


def _edit(search: str, replace: str) -> str:
    return f"<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE"


def test_edits_are_applied_in_order():
    reply = ("pi is too coarse.\n```python\n" + _edit("    pi = 3", "    pi = 3.14159") + "\n"
             + _edit("    return 2 * 3 * r", "    return 2 * 3.14159 * r") + "\n```")
    parsed = parse_reflection_reply(reply, CODE)
    assert parsed.mode == "edits" and parsed.error is None
    assert parsed.text == CODE.replace("pi = 3\n", "pi = 3.14159\n").replace("2 * 3 * r", "2 * 3.14159 * r")


def test_edits_tolerate_wrong_indentation_and_trailing_spaces():
    reply = _edit("pi = 3   \nreturn pi * r * r", "import math\nreturn math.pi * r * r")
    parsed = parse_reflection_reply(reply, CODE)
    assert parsed.mode == "edits"
    assert "    import math\n    return math.pi * r * r\n" in parsed.text and "pi = 3\n" not in parsed.text


def test_failing_edit_falls_back_to_a_full_rewrite_fence():
    rewrite = "def area(r):\n    return 3.14159 * r * r"
    reply = _edit("    pi = 4", "    pi = 3.14") + f"\nOr the full version:\n```python\n{rewrite}\n```"
    parsed = parse_reflection_reply(reply, CODE)
    assert (parsed.text, parsed.mode) == (rewrite, "rewrite")


def test_failing_edit_without_fallback_is_an_error():
    parsed = parse_reflection_reply("```\n" + _edit("    pi = 4", "    pi = 3.14") + "\n```", CODE)
    assert parsed.text is None and parsed.mode == "none" and "edit block 1 did not match" in parsed.error


def test_incomplete_edit_block_is_an_error():
    parsed = parse_reflection_reply("<<<<<<< SEARCH\n    pi = 3\n=======\n    pi = 3.1", CODE)
    assert parsed.text is None and "incomplete" in parsed.error


def test_edit_that_changes_nothing_is_unchanged():
    parsed = parse_reflection_reply(_edit("    pi = 3", "    pi = 3"), CODE)
    assert (parsed.mode, parsed.error) == ("none", "unchanged")


def test_a_bare_prose_reply_to_a_program_is_not_a_candidate():
    current = "def f(x):\n    return x * 2\n"
    prose = ("The function doubles its input, but the tests expect the square, so every case with x other "
             "than 0 and 2 fails. The fix is to multiply x by itself instead of by two, which")
    parsed = parse_reflection_reply(prose, current)
    assert parsed.text is None and "not valid Python" in parsed.error
    parsed = parse_reflection_reply("def f(x):\n    return x * x\n", current)
    assert parsed.text.strip() == "def f(x):\n    return x * x"


# -- the compact layout for small local models ----------------------------------------------------
def test_compact_layout_is_shorter_and_keeps_the_sections():
    big_input = {"numbers": list(range(2000))}
    ex = ReflectionExample(score=0.5, side_info={"verdict": "correct but slow (900x the built-in)"},
                           example=big_input)
    full = _messages([ex])
    compact = _messages([ex], compact=True)
    assert _size(compact) < _size(full) / 2
    text = _text(compact)
    order = ["## Goal", "## Background", "## Current `system_prompt`", CURRENT, "### Example 1: score 0.5",
             "Input", "verdict: correct but slow", "## What to do"]
    positions = [text.index(piece) for piece in order]
    assert positions == sorted(positions)
    assert "at most two sentences" in text and text.rstrip().endswith("Stop after the block.")
    assert len(compact[0]["content"]) < len(full[0]["content"])


def test_compact_layout_offers_edits_when_allowed():
    text = _text(_messages([], compact=True, allow_edits=True))
    assert "<<<<<<< SEARCH" in text and ">>>>>>> REPLACE" in text and "copy lines of the current text exactly" in text
