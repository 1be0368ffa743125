"""Recognising a complete reflection answer while it is written, and the reply budget."""

from __future__ import annotations

from honing._reply_watch import answer_complete, reflection_reply_hints, repeating, reply_budget, stop_reason

CURRENT = '''def sort_list(arr):
    """Sort a list of numbers in ascending order."""
    n = len(arr)
    for i in range(n):
        for j in range(n - i - 1):
            if arr[j] > arr[j + 1]:
                arr[j], arr[j + 1] = arr[j + 1], arr[j]
    return arr
'''

ANSWER = '''Bubble sort is quadratic; merge sort is n log n.
```python
def sort_list(arr):
    if len(arr) < 2:
        return arr
    mid = len(arr) // 2
    left, right = sort_list(arr[:mid]), sort_list(arr[mid:])
    out = []
    while left and right:
        out.append(left.pop(0) if left[0] <= right[0] else right.pop(0))
    return out + left + right
```
'''


def test_a_closed_block_followed_by_prose_is_complete():
    assert answer_complete(ANSWER + "\nThis version uses merge sort.\n", CURRENT)


def test_not_complete_before_the_prose_or_inside_the_block():
    assert not answer_complete(ANSWER, CURRENT)  # the model may stop here itself, or open another block
    assert not answer_complete(ANSWER + "\nThis version", CURRENT)  # the line is still being written
    assert not answer_complete(ANSWER.rsplit("```", 1)[0], CURRENT)  # block still open
    assert not answer_complete(ANSWER + "\nA better one:\n```python\n", CURRENT)  # a second block starts


def test_a_line_quoted_in_the_diagnosis_is_not_the_answer():
    quote = "The comparison\n```python\narr[j] > arr[j + 1]\n```\nruns n squared times, so\n"
    assert not answer_complete(quote, CURRENT)


def test_prose_in_a_block_is_not_the_answer_to_a_program():
    prose = "```\nUse merge sort here, it is much faster than bubble sort for long lists.\n```\nThat is all.\n"
    assert not answer_complete(prose, CURRENT)


def test_edits_that_apply_are_complete_once_prose_follows():
    edit = ("Stop early when nothing moved.\n<<<<<<< SEARCH\n    for i in range(n):\n=======\n"
            "    for i in range(n - 1):\n>>>>>>> REPLACE\n")
    assert not answer_complete(edit, CURRENT)
    assert answer_complete(edit + "That saves one pass.\n", CURRENT)
    assert not answer_complete(edit + "<<<<<<< SEARCH\n", CURRENT)


def test_hostile_replies_do_not_break_it():
    for reply in ("", "\n", "```" * 500 + "\n", "<think>\n" * 50, ">>>>>>> REPLACE\n=======\n"):
        assert answer_complete(reply, CURRENT) in (True, False)
    assert not answer_complete(None, CURRENT)  # type: ignore[arg-type]


def test_the_reply_budget_grows_with_the_candidate():
    assert reply_budget("x") == 512
    assert reply_budget("x" * 3500) > 2500
    hints = reflection_reply_hints(CURRENT)
    assert hints.max_tokens == reply_budget(CURRENT)
    assert hints.stop_at(ANSWER + "\nDone.\n") == "complete"
    assert hints.stop_at(ANSWER) is None


def test_a_reply_looping_on_one_line_is_stopped():
    looping = "Better centres:\n```python\ncenters = [\n" + "    (0.5, 0.5),\n" * 8
    assert stop_reason(looping, CURRENT) == "repeating"
    assert stop_reason(looping[:-len("    (0.5, 0.5),\n") * 2], CURRENT) is None
    varied = "".join(f"    ({i / 10}, 0.5),\n" for i in range(20))
    assert not repeating(varied)
    assert not repeating("\n" * 50)
