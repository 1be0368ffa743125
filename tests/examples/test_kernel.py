"""Kernel example (CPU variant): correctness gate, speed score and a scripted run."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

from examples.kernel import evaluator, main  # noqa: E402
from tests.conftest import ScriptedLM, fenced  # noqa: E402

FAST = '''import numpy as np


def softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def matmul(a, b):
    return a @ b


def conv1d(x, w):
    return np.correlate(x, w, "valid")
'''


def test_speed_score_shape():
    assert evaluator.speed_score(1.0, 1.0) == 1.0
    assert evaluator.speed_score(0.5, 1.0) == 1.0
    assert evaluator.speed_score(10.0, 1.0) == pytest.approx(0.75)
    assert evaluator.speed_score(1e5, 1.0) == 0.0


def test_naive_seed_is_correct_but_slower_than_vectorized():
    for example in evaluator.DATASET:
        seed_score, seed_info = evaluator.evaluate(evaluator.SEED, example)
        fast_score, _ = evaluator.evaluate(FAST, example)
        assert "correct" in seed_info["result"]
        assert seed_score < fast_score


def test_unstable_softmax_is_caught_by_allclose():
    unstable = FAST.replace("np.exp(x - x.max(axis=1, keepdims=True))", "np.exp(x)")
    score, info = evaluator.evaluate(unstable, {"kernel": "softmax"})
    assert score == 0.0 and "input 1" in info["error"]


def test_wrong_shape_and_missing_kernel():
    score, info = evaluator.evaluate(FAST.replace('"valid"', '"full"'), {"kernel": "conv1d"})
    assert score == 0.0 and "shape" in info["error"]
    score, info = evaluator.evaluate("import numpy as np\n", {"kernel": "matmul"})
    assert score == 0.0 and "does not define matmul" in info["error"]


@pytest.mark.filterwarnings("ignore:max_metric_calls")
def test_scripted_run_smoke(tmp_path):
    lm = ScriptedLM(lambda prompt: fenced(FAST))
    out = main.run(budget=9, reflection_lm=lm, verbose=False,
                   run_dir=str(tmp_path / "run"), force_cpu=True)
    assert lm.prompts and out["variant"] == "cpu"
    assert out["evaluator_calls"] <= 9
    assert out["optimized"] > out["baseline"]
