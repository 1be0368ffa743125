"""Scorer for the sorting example: is ``sort_list`` correct, and how fast is it next to ``sorted()``?

Each dataset example is one list. The candidate runs in ``honing.run_code``'s
sandbox, where a small harness times ``sort_list`` and the built-in ``sorted`` on
the same list; the returned list is compared with ``sorted(input)`` here, in the
caller, so a wrong answer always scores 0. The rules (what counts as sorting by
itself), the seed and the harness are ``honing demo``'s (``honing._demo_task``).
"""

from __future__ import annotations

import random
from typing import Any

from honing._demo_task import HARNESS, PRELUDE, SEED, forbidden_use, slowdown, speed_score

__all__ = ["SEED", "OBJECTIVE", "BACKGROUND", "make_dataset", "evaluate", "forbidden_use", "speed_score"]

OBJECTIVE = "Optimize the sorting function for correctness and speed."
BACKGROUND = (
    "The candidate is Python source defining sort_list(arr) that returns the list sorted in ascending order "
    "(it may sort in place and return arr). It must do the sorting itself: code that calls sorted() or "
    "list.sort(), or imports heapq, bisect or numpy, scores 0. Each example is one "
    "list (up to 2,000 numbers; random, reversed, already sorted, many duplicates, floats, empty). A wrong result "
    "scores 0; a correct one scores 0.5 plus up to 0.5 for speed measured against the built-in sorted() on the "
    "same list. Consider O(n log n) algorithms such as merge sort, heapsort, quicksort or radix/counting sorts."
)


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


def _preview(values: Any, n: int = 8) -> str:
    if isinstance(values, list):
        head = ", ".join(repr(v) if not isinstance(v, float) else f"{v:.3f}" for v in values[:n])
        return f"[{head}{', ...' if len(values) > n else ''}] (length {len(values)})"
    return f"{values!r:.120}"


def evaluate(candidate: str, example: dict[str, Any], timeout: float = 20.0) -> tuple[float, dict[str, Any]]:
    """Score ``candidate`` on one example list."""
    from honing import run_code

    data = example["input"]
    used = forbidden_use(candidate)
    if used:
        return 0.0, {"example": example["name"], "verdict": f"REJECTED: the code {used}; implement the sort yourself"}
    repeats = 3 if len(data) >= 200 else 20
    result = run_code(PRELUDE + candidate + "\n" + HARNESS, entry_point="_demo_measure",
                      args=({"list": data}, ("list",), repeats), timeout=timeout, memory_mb=512)
    info: dict[str, Any] = {"example": example["name"], "input": _preview(data)}
    if not result.ok:
        return 0.0, {**info, "error": result.feedback(1500)}
    entry = result.value.get("list") if isinstance(result.value, dict) else None
    if not isinstance(entry, dict) or "got" not in entry:
        return 0.0, {**info, "error": "the harness's report was tampered with"}
    got, expected = entry["got"], sorted(data)
    if got != expected:
        where = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), None) \
            if isinstance(got, list) else None
        detail = f"first difference at index {where}" if where is not None else "different length or type"
        return 0.0, {**info, "verdict": f"WRONG output ({detail})", "expected": _preview(expected),
                     "got": _preview(got)}
    try:
        seconds, reference = float(entry["seconds"]), float(entry["reference_seconds"])
    except (KeyError, TypeError, ValueError):
        return 0.0, {**info, "error": "the harness's timings are missing"}
    speed = speed_score(seconds, reference)
    return 0.5 + 0.5 * speed, {
        **info,
        "verdict": f"correct; {seconds * 1000:.3f} ms vs {reference * 1000:.3f} ms for sorted() "
                   f"({slowdown(seconds, reference):.1f}x)",
        "scores": {"correct": 1.0, "speed": speed},
    }
