"""The task ``honing demo`` optimizes: seed 000's bubble sort, scored on speed against ``sorted()``.

The sorting example (``examples/sorting``) plays by these rules too: the candidate
must sort by itself, so code that calls ``sorted()`` or ``.sort()``, or imports a
sorting module (``heapq``, ``bisect``, NumPy, ...), scores 0 before it runs. A
1.5B model otherwise "wins" by returning ``sorted(arr)``. Each case is timed as
the best of three runs, so that one noisy measurement does not decide.
"""

from __future__ import annotations

import ast
import math
import random
from typing import Any

__all__ = ["SEED", "OBJECTIVE", "BACKGROUND", "cases", "evaluate", "forbidden_use", "speed_score"]

SEED = '''def sort_list(arr):
    """Sort a list of numbers in ascending order."""
    n = len(arr)
    for i in range(n):
        for j in range(0, n - i - 1):
            if arr[j] > arr[j + 1]:
                arr[j], arr[j + 1] = arr[j + 1], arr[j]
    return arr
'''

OBJECTIVE = "Make sort_list faster while keeping it correct."
BACKGROUND = (
    "The candidate is Python source that defines sort_list(arr) and returns the list sorted in ascending order. "
    "It must do the sorting itself: code that calls sorted() or list.sort(), or imports heapq, bisect or numpy, "
    "is rejected with score 0. It is timed on lists of 1,000 numbers (random, reversed, many duplicates) against "
    "the built-in sorted(). Algorithms written by hand such as merge sort, quicksort or heapsort are much faster "
    "than bubble sort."
)

_FORBIDDEN_CALLS = {"sorted": "calls sorted()", "__import__": "calls __import__()", "eval": "calls eval()",
                    "exec": "calls exec()", "compile": "calls compile()", "getattr": "calls getattr()"}
_FORBIDDEN_NAMES = {"__builtins__", "builtins", "globals"}
_FORBIDDEN_MODULES = {"heapq", "bisect", "numpy", "pandas", "sortedcontainers", "importlib", "builtins", "ctypes"}

# Runs in the sandbox before the candidate: the clock and the reference sort are taken before its code
# could shadow or patch them.
PRELUDE = "import time as _demo_time\n_demo_clock = _demo_time.perf_counter\n_demo_sorted = sorted\n"

# Runs after the candidate: every case once (checked by the caller), timed ones best of ``repeats``.
HARNESS = """

def _demo_measure(cases, timed, repeats=3):
    report = {}
    for name, data in cases.items():
        got = sort_list(list(data))
        entry = {"got": got}
        if name in timed:
            best = reference = float("inf")
            for _ in range(repeats):
                copy = list(data)
                start = _demo_clock()
                sort_list(copy)
                best = min(best, _demo_clock() - start)
                copy = list(data)
                start = _demo_clock()
                _demo_sorted(copy)
                reference = min(reference, _demo_clock() - start)
            entry.update(seconds=best, reference_seconds=max(reference, 1e-6))
        report[name] = entry
    return report
"""


def cases(seed: int = 0) -> dict[str, list[Any]]:
    """Small cases for correctness, three lists of 1,000 numbers that are also timed."""
    rng = random.Random(seed)
    return {
        "empty": [], "one": [7], "small": [3, -1, 2, 2, 0.5, -7],
        "random": [rng.randint(-10_000, 10_000) for _ in range(1000)],
        "reversed": list(range(1000, 0, -1)),
        "duplicates": [rng.randint(0, 9) for _ in range(1000)],
    }


TIMED = ("random", "reversed", "duplicates")


def forbidden_use(candidate: str) -> str | None:
    """What the candidate uses that the rules forbid ("calls sorted()", "imports heapq"), or None."""
    try:
        tree = ast.parse(candidate)
    except (SyntaxError, ValueError):
        return None  # the sandbox reports the syntax error
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in _FORBIDDEN_CALLS:
                return _FORBIDDEN_CALLS[func.id]
            if isinstance(func, ast.Attribute) and func.attr == "sort":
                return "calls .sort()"
        elif isinstance(node, ast.Name) and node.id in _FORBIDDEN_NAMES:
            return f"uses {node.id}"
        elif isinstance(node, ast.Attribute) and node.attr == "__builtins__":
            return "uses __builtins__"
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            for name in names:
                if name.split(".")[0] in _FORBIDDEN_MODULES:
                    return f"imports {name.split('.')[0]}"
    return None


def slowdown(seconds: float, reference: float) -> float:
    """How many times slower than the built-in: the timings come from candidate code, so 0 s is possible."""
    return max(seconds, 1e-9) / max(reference, 1e-9)


def speed_score(seconds: float, reference: float) -> float:
    """1.0 at the built-in's speed, falling by 0.25 for every 10x slower."""
    return max(0.0, min(1.0, 1.0 - math.log10(max(slowdown(seconds, reference), 1.0)) / 4.0))


def evaluate(candidate: str) -> tuple[float, dict[str, Any]]:
    """0 for forbidden, failing or wrong code; else the mean speed score of the three timed cases."""
    from .sandbox import run_code

    used = forbidden_use(candidate)
    if used:
        return 0.0, {"verdict": f"REJECTED: the code {used}; implement the sorting yourself"}
    data = cases()
    result = run_code(PRELUDE + candidate + "\n" + HARNESS, entry_point="_demo_measure", args=(data, TIMED),
                      timeout=20, memory_mb=512)
    if not result.ok:
        return 0.0, {"error": result.feedback(1500)}
    report = result.value
    if not isinstance(report, dict) or set(report) != set(data):
        return 0.0, {"error": "the harness's report was tampered with"}
    wrong = {}
    for name, entry in report.items():
        got = entry.get("got") if isinstance(entry, dict) else None
        if got != sorted(data[name]):
            wrong[name] = f"WRONG result; starts with {repr(got)[:80]}"
    if wrong:
        return 0.0, {"verdict": "incorrect: score 0", "cases": wrong}
    try:
        timings = {name: (float(report[name]["seconds"]), float(report[name]["reference_seconds"])) for name in TIMED}
    except (KeyError, TypeError, ValueError):
        return 0.0, {"error": "the harness's timings are missing"}
    feedback = {name: f"correct, {spent * 1000:.2f} ms ({slowdown(spent, reference):.0f}x the built-in sorted())"
                for name, (spent, reference) in timings.items()}
    score = sum(speed_score(spent, reference) for spent, reference in timings.values()) / len(timings)
    return score, {"cases": feedback, "scores": {"speed": score}}
