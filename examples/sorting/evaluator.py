"""Scorer for the sorting example: is ``sort_list`` correct, and how fast is it next to ``sorted()``?

Each dataset example is one list. The candidate runs in ``honing.run_code``'s
sandbox, where a small harness times ``sort_list`` and the built-in ``sorted`` on
the same list; the returned list is compared with ``sorted(input)`` here, in the
caller, so a wrong answer always scores 0.
"""

from __future__ import annotations

import math
import random
from typing import Any

SEED = '''def sort_list(arr):
    """Sort a list of numbers in ascending order."""
    n = len(arr)
    for i in range(n):
        for j in range(0, n - i - 1):
            if arr[j] > arr[j + 1]:
                arr[j], arr[j + 1] = arr[j + 1], arr[j]
    return arr
'''

OBJECTIVE = "Optimize the sorting function for correctness and speed."
BACKGROUND = (
    "The candidate is Python source defining sort_list(arr) that returns the list sorted in ascending order "
    "(it may sort in place and return arr). Calling sorted() or list.sort() is not allowed. Each example is one "
    "list (up to 2,000 numbers; random, reversed, already sorted, many duplicates, floats, empty). A wrong result "
    "scores 0; a correct one scores 0.5 plus up to 0.5 for speed measured against the built-in sorted() on the "
    "same list. Consider O(n log n) algorithms such as merge sort, heapsort, quicksort or radix/counting sorts."
)

# Runs before the candidate: the clock is taken before candidate code could touch the time module.
_PRELUDE = "import time as _harness_time\n_harness_clock = _harness_time.perf_counter\n"
# Runs after the candidate.
_HARNESS = '''

def _harness_measure(data, repeats):
    got = sort_list(list(data))
    best = float("inf")
    for _ in range(repeats):
        copy = list(data)
        start = _harness_clock()
        sort_list(copy)
        best = min(best, _harness_clock() - start)
    reference = float("inf")
    for _ in range(repeats):
        copy = list(data)
        start = _harness_clock()
        sorted(copy)
        reference = min(reference, _harness_clock() - start)
    return got, best, reference
'''


def make_dataset(seed: int = 0) -> list[dict[str, Any]]:
    """Eight test lists: seed 000's four small cases plus larger and adversarial ones."""
    rng = random.Random(seed)
    lists = {
        "small": [64, 34, 25, 12, 22, 11, 90],
        "duplicates-small": [3, 3, 1, 2, 1],
        "reversed-100": list(range(100, 0, -1)),
        "empty": [],
        "random-2000": [rng.randint(-100_000, 100_000) for _ in range(2000)],
        "sorted-1000": list(range(1000)),
        "few-values-1500": [rng.randint(0, 9) for _ in range(1500)],
        "floats-500": [rng.uniform(-1.0, 1.0) for _ in range(500)],
    }
    return [{"name": name, "input": data} for name, data in lists.items()]


def speed_score(seconds: float, reference: float) -> float:
    """1.0 at the built-in's speed, 0.25 less for every 10x slower, never below 0."""
    ratio = max(seconds, 1e-9) / max(reference, 1e-9)
    return max(0.0, min(1.0, 1.0 - math.log10(max(ratio, 1.0)) / 4.0))


def _preview(values: Any, n: int = 8) -> str:
    if isinstance(values, list):
        head = ", ".join(repr(v) if not isinstance(v, float) else f"{v:.3f}" for v in values[:n])
        return f"[{head}{', ...' if len(values) > n else ''}] (length {len(values)})"
    return f"{values!r:.120}"


def uses_builtin_sort(candidate: str) -> bool:
    """True when the source calls ``sorted(...)`` or ``<something>.sort(...)`` (checked on the syntax tree)."""
    import ast

    try:
        tree = ast.parse(candidate)
    except SyntaxError:
        return False  # the sandbox reports the syntax error
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id == "sorted":
                return True
            if isinstance(func, ast.Attribute) and func.attr == "sort":
                return True
    return False


def evaluate(candidate: str, example: dict[str, Any], timeout: float = 20.0) -> tuple[float, dict[str, Any]]:
    """Score ``candidate`` on one example list."""
    from honing import run_code

    data = example["input"]
    if uses_builtin_sort(candidate):
        return 0.0, {"example": example["name"],
                     "verdict": "REJECTED: the code calls sorted() or .sort(); implement the sort yourself"}
    repeats = 3 if len(data) >= 200 else 20
    result = run_code(_PRELUDE + candidate + _HARNESS, entry_point="_harness_measure", args=(data, repeats),
                      timeout=timeout, memory_mb=512)
    info: dict[str, Any] = {"example": example["name"], "input": _preview(data)}
    if not result.ok:
        return 0.0, {**info, "error": result.feedback(1500)}
    got, seconds, reference = result.value
    expected = sorted(data)
    if got != expected:
        where = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), None) \
            if isinstance(got, list) else None
        detail = f"first difference at index {where}" if where is not None else "different length or type"
        return 0.0, {**info, "verdict": f"WRONG output ({detail})", "expected": _preview(expected),
                     "got": _preview(got)}
    speed = speed_score(seconds, reference)
    return 0.5 + 0.5 * speed, {
        **info,
        "verdict": f"correct; {seconds * 1000:.3f} ms vs {reference * 1000:.3f} ms for sorted() "
                   f"({seconds / max(reference, 1e-9):.1f}x)",
        "scores": {"correct": 1.0, "speed": speed},
    }
