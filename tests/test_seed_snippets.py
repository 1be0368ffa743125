"""The seed documents' code runs against honing with only the import line changed.

Each snippet below is the seed's own code (seed 000's minimal sorting example,
its polynomial config, seed 003's GIF evaluator) with ``gepa.optimize_anything``
swapped for ``honing``. Their reflection LMs are hosted model strings
("openai/gpt-4o-mini", "openrouter/qwen/..."); LiteLLM reaches them through
their usual base-URL environment variables, pointed here at a real
OpenAI-compatible server on loopback that answers with a scripted model.
"""

from __future__ import annotations

import re
import textwrap
import threading

import pytest

pytest.importorskip("litellm", reason="the seeds' model strings go through LiteLLM: pip install 'honing[hosted]'")

from honing.llm import Completion  # noqa: E402
from honing.llm._base import messages_to_text  # noqa: E402
from tests.conftest import serving  # noqa: E402

QUICKSORT = '''
def sort_list(arr):
    """Sort a list of numbers in ascending order."""
    if len(arr) <= 1:
        return arr
    pivot = arr[len(arr) // 2]
    return (sort_list([x for x in arr if x < pivot]) + [x for x in arr if x == pivot]
            + sort_list([x for x in arr if x > pivot]))
'''


class SeedReviewer:
    """Answers reflection prompts like a competent model would for these tasks."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def complete(self, messages):
        with self._lock:
            self.calls += 1
        prompt = messages_to_text(messages)
        if "sort_list" in prompt:
            return Completion(text=f"Bubble sort is quadratic; use quicksort.\n```python\n{QUICKSORT}\n```")
        return Completion(text="Pin the frame count.\n```\nYou are a Python animator. Write make_gif(path) with "
                               "exactly 24 frames, a seamless loop, 40 ms per frame. Output only code.\n```")


@pytest.fixture
def hosted_endpoints(monkeypatch):
    reviewer = SeedReviewer()
    names = ("gpt-4o-mini", "gpt-4o", "gpt-5", "qwen/qwen-2.5-7b-instruct")
    with serving({name: reviewer for name in names}) as base:
        for name in ("OPENAI_API_BASE", "OPENAI_BASE_URL", "OPENROUTER_API_BASE"):
            monkeypatch.setenv(name, base)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
        monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-test")
        yield reviewer


def run_snippet(code: str) -> dict:
    namespace: dict = {"__name__": "seed_snippet"}
    exec(compile(textwrap.dedent(code), "<seed snippet>", "exec"), namespace)
    return namespace


SORTING_EXAMPLE = '''
"""
Minimal working example: Optimize a sorting function
This evolves Python code that sorts a list of numbers.
"""
import time
from honing import optimize_anything, GEPAConfig, EngineConfig, ReflectionConfig

# 1. SEED CANDIDATE: A naive bubble sort implementation
seed_candidate = {
    "code": """
def sort_list(arr):
    \'\'\'Sort a list of numbers in ascending order.\'\'\'
    n = len(arr)
    for i in range(n):
        for j in range(0, n-i-1):
            if arr[j] > arr[j+1]:
                arr[j], arr[j+1] = arr[j+1], arr[j]
    return arr
"""
}

# 2. DATASET: Test cases to optimize on
dataset = [
    {"input": [64, 34, 25, 12, 22, 11, 90], "expected": [11, 12, 22, 25, 34, 64, 90]},
    {"input": [5, 1, 4, 2, 8], "expected": [1, 2, 4, 5, 8]},
    {"input": [3, 3, 1, 2, 1], "expected": [1, 1, 2, 3, 3]},
    {"input": list(range(100, 0, -1)), "expected": list(range(1, 101))},  # Worst case
]

# 3. FITNESS FUNCTION: Measure correctness and speed
def fitness_fn(candidate, example):
    code = candidate["code"]

    try:
        # Execute the code
        exec(code, globals())

        # Time the execution
        start = time.time()
        result = sort_list(example["input"].copy())
        elapsed = time.time() - start

        # Check correctness
        correct = result == example["expected"]
        score = 1.0 if correct else 0.0

        # Bonus for speed (if correct)
        if correct and elapsed < 0.001:
            score += 0.1

        # Rich side_info for LLM reflection
        side_info = {
            "Input": example["input"],
            "Output": result,
            "Expected": example["expected"],
            "Correct": correct,
            "Time (ms)": elapsed * 1000,
            "Error": None,
        }

    except Exception as e:
        score = 0.0
        side_info = {
            "Input": example["input"],
            "Error": str(e),
            "Code": code,
        }

    return score, {"code": code, "result": result if 'result' in dir() else None}, side_info

# 4. RUN OPTIMIZATION
result = optimize_anything(
    seed_candidate=seed_candidate,
    fitness_fn=fitness_fn,
    dataset=dataset,
    objective="Optimize the sorting function for correctness and speed.",
    background="Consider algorithms like quicksort, mergesort, or heapsort.",
    config=GEPAConfig(
        engine=EngineConfig(max_metric_calls=50),
        reflection=ReflectionConfig(reflection_lm="openai/gpt-4o-mini"),
    ),
)

# 5. USE THE RESULT
print("=" * 60)
print("OPTIMIZED CODE:")
print("=" * 60)
print(result.best_candidate["code"])
print(f"\\nBest score: {result.best_score}")
'''


def test_seed_000_minimal_sorting_example(hosted_endpoints, capsys):
    namespace = run_snippet(SORTING_EXAMPLE)
    result = namespace["result"]
    assert hosted_endpoints.calls >= 1
    assert result.total_metric_calls <= 50
    assert "OPTIMIZED CODE" in capsys.readouterr().out
    assert result.best_score >= result.val_scores[0]
    assert isinstance(result.best_candidate, dict) and "sort_list" in result.best_candidate["code"]


POLYNOMIAL_CONFIG = '''
from typing import Any
from honing import (
    optimize_anything,
    GEPAConfig,
    EngineConfig,
    ReflectionConfig,
)
from honing import SideInfo

class Evaluator:
    def __init__(self):
        self.best_score = float("inf")

    def evaluate(self, candidate: dict[str, str], **kwargs) -> tuple[float, Any, SideInfo]:
        exec(candidate["code"], globals())
        data = [5, 3, 9, 1]
        start = __import__("time").perf_counter()
        out = sort_list(list(data))
        value = __import__("time").perf_counter() - start
        self.best_score = min(self.best_score, value)
        return -value if out == sorted(data) else -1.0, out, {"value": value, "best_score": self.best_score}

evaluator = Evaluator()
seed_candidate = {"code": "def sort_list(arr):\\n    return sorted(arr, key=lambda x: (x, 0))\\n"}
num_proposals = 4
BACKGROUND = "Minimize the running time."

gepa_config = GEPAConfig(
    engine=EngineConfig(
        max_metric_calls=num_proposals,
        track_best_outputs=True,
        cache_evaluation=True,
    ),
    reflection=ReflectionConfig(
        reflection_lm="openai/gpt-5",
        reflection_minibatch_size=1,
    )
)

result = optimize_anything(
    seed_candidate=seed_candidate,
    fitness_fn=evaluator.evaluate,
    config=gepa_config,
    objective="Evolve Python code that minimizes a blackbox objective function using the available evaluation budget efficiently.",
    background=BACKGROUND,
)

print("Optimized code:")
print(result.best_candidate["code"])
'''


def test_seed_000_polynomial_config_and_method_evaluator(hosted_endpoints):
    namespace = run_snippet(POLYNOMIAL_CONFIG)
    result = namespace["result"]
    assert result.total_metric_calls <= 4
    assert result.best_outputs is not None


GIF_EVALUATOR = '''
import honing as oa
from honing import GEPAConfig, EngineConfig, ReflectionConfig, TrackingConfig

TARGET_FRAMES = 24

def render_and_measure(system_prompt: str):
    # Stand-in for the seed's LangGraph animator: a prompt that pins 24 frames gets them.
    frames = 24 if "24 frames" in system_prompt else 9
    return {"ok": True, "frames": frames, "motion": 9000.0, "loop_gap": 9000.0 if frames == 24 else 40000.0,
            "duration": 40, "size_kb": 30.0, "attempts": 1}

def score_metrics(m: dict):
    if not m.get("ok"):
        return 0.0, {"failed": True, "error": m.get("error", "")[:300]}
    n, dur, motion = m["frames"], (m.get("duration") or 0), m["motion"]
    moving = 1.0 if motion > 5_000 else 0.0 # not a static frame
    frame_acc = max(0.0, 1 - abs(n - TARGET_FRAMES) / TARGET_FRAMES)
    loop_ratio = m["loop_gap"] / (motion + 1.0) # ~1 == seamless
    loop_score = moving * max(0.0, 1 - max(0.0, loop_ratio - 1.0) / 3.0)
    play_score = max(0.0, 1 - abs(n * dur - 1000) / 1000) # aim ~1 s playback
    size_score = 1.0 if m["size_kb"] < 100 else 0.0
    score = (0.20 * moving + 0.30 * frame_acc + 0.20 * loop_score
    + 0.20 * play_score + 0.10 * size_score)
    return round(score, 3), {
    "frames": n, "loop_ratio": round(loop_ratio, 2),
    "duration_ms": dur, "play_score": round(play_score, 2),
    "size_kb": round(m["size_kb"], 1), "attempts": m["attempts"],
    }

def evaluate(candidate: str) -> float:
    scores = []
    for _ in range(2):
        score, info = score_metrics(render_and_measure(candidate))
        oa.log(f"score={score} {info}") # captured as Actionable Side Information
        scores.append(score)
    return sum(scores) / len(scores)

SEED_PROMPT = (
"You are a Python animator. Write a single function `make_gif(path)` that uses "
"Pillow to render an animated GIF and save it to `path`. Output only code."
)
config = GEPAConfig(
engine=EngineConfig(max_metric_calls=12, max_workers=2, raise_on_exception=False),
reflection=ReflectionConfig(reflection_lm="openrouter/qwen/qwen-2.5-7b-instruct"),
tracking=TrackingConfig(),
)
result = oa.optimize_anything(
seed_candidate=SEED_PROMPT,
evaluator=evaluate, # single-task mode: no dataset/valset
objective=(
"Evolve the system prompt so the small model reliably writes Pillow code that "
"renders a seamless looping GIF of a red ball bouncing on white: exactly 24 "
"frames, the ball returns to its start, one loop plays in ~1 s, under 100 KB."
),
config=config,
)
print(result.best_candidate) # the evolved system prompt
'''


def test_seed_003_gif_evaluator_with_oa_log(hosted_endpoints, capsys):
    namespace = run_snippet(GIF_EVALUATOR)
    result = namespace["result"]
    assert isinstance(result.best_candidate, str)
    assert "24 frames" in result.best_candidate
    assert result.best_score > result.val_scores[0]
    assert result.total_metric_calls <= 12
    # the evaluator's oa.log lines reached the reflection prompt
    assert re.search(r"score=0\.\d+", "".join(str(p.prompt) for p in result.proposals))
