"""Prompt-optimization example: answer parser, shipped data, and a scripted run."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

from examples.prompt_opt import data, main, scorer  # noqa: E402
from tests.conftest import ScriptedLM, fenced  # noqa: E402


@pytest.mark.parametrize("text, expected", [
    ("so 126 - 37 = 89.\nAnswer: 89", 89),
    ("Therefore the number remaining is \\(\\boxed{89}\\).", 89),
    ("The answer is 1,234.", 1234),
    ("answer: $56", 56),
    ("#### 42", 42),
    ("First 3 x 4 = 12, then 12 + 5 = 17", 17),
    ("Answer: 7 ... wait, 8 apples. Answer: 8", 8),
    ("The result is 89.0", 89),
    ("Answer: -3", -3),
    ("Half is 12.5", None),
    ("I don't know", None),
    ("", None),
])
def test_parse_answer(text, expected):
    assert scorer.parse_answer(text) == expected


def test_boxed_beats_later_numbers():
    assert scorer.parse_answer("\\boxed{10} (checked with 3 steps)") == 10


def test_shipped_problems_match_the_generator():
    shipped = data.load()
    assert shipped == data.generate()
    assert {k: len(v) for k, v in shipped.items()} == {"train": 20, "val": 20, "test": 20}
    for problem in shipped["train"] + shipped["val"] + shipped["test"]:
        assert isinstance(problem["answer"], int) and problem["answer"] >= 0
        # The worked solution ends with the answer.
        assert re.findall(r"-?\d+", problem["solution"])[-1] == str(problem["answer"])


def test_evaluator_side_info():
    problem = data.load()["train"][0]
    evaluate = scorer.make_evaluator(lambda messages: f"steps...\nAnswer: {problem['answer']}")
    score, output, info = evaluate("prompt", problem)
    assert score == 1.0 and output["answer"] == problem["answer"]
    wrong = scorer.make_evaluator(lambda messages: "no idea")
    score, _, info = wrong("prompt", problem)
    assert score == 0.0 and info["ParsedAnswer"] is None and "Worked solution" in info["Feedback"]
    assert info["ExpectedAnswer"] == problem["answer"] and info["Input"] == problem["question"]


class FakeTaskModel:
    """Answers correctly only when the system prompt asks for an 'Answer:' line."""

    def __init__(self):
        self.answers = {p["question"]: p["answer"] for split in data.load().values() for p in split}
        self.calls = 0

    def __call__(self, messages):
        self.calls += 1
        system, question = messages[0]["content"], messages[1]["content"]
        if "Answer:" in system:
            return f"Short steps.\nAnswer: {self.answers[question]}"
        return "I think it is about 3 and then some."


IMPROVED = main.SEED_PROMPT + " Finish with a final line 'Answer: <integer>'."


@pytest.mark.filterwarnings("ignore:max_metric_calls")
def test_scripted_run_smoke(tmp_path):
    task = FakeTaskModel()
    lm = ScriptedLM(lambda prompt: fenced(IMPROVED))
    out = main.run(budget=20, reflection_lm=lm, task_lm=task, n_train=4, n_val=3, n_test=4, verbose=False,
                   run_dir=str(tmp_path / "run"))
    assert lm.prompts and task.calls > 0
    assert "Reasoning" in lm.prompt_texts[0] or "ExpectedAnswer" in lm.prompt_texts[0]
    assert out["baseline"] == 0.0 and out["optimized"] == 1.0
    assert out["best_candidate"] == IMPROVED


def test_harness_module_exposes_the_task(monkeypatch):
    """``evaluator.py`` is what bench/quality.py optimizes: the splits, texts and a per-problem evaluate."""
    monkeypatch.setenv("PROMPT_OPT_N_VAL", "3")
    monkeypatch.setenv("PROMPT_OPT_N_TEST", "4")
    from examples.prompt_opt import evaluator
    train, val, test = evaluator.make_dataset(), evaluator.make_valset(), evaluator.make_testset()
    assert (len(train), len(val), len(test)) == (20, 3, 4)
    assert not {p["id"] for p in train} & ({p["id"] for p in val} | {p["id"] for p in test})
    assert evaluator.SEED == main.SEED_PROMPT and evaluator.OBJECTIVE and evaluator.BACKGROUND

    seen = []
    monkeypatch.setattr(evaluator, "_evaluate", scorer.make_evaluator(
        lambda messages: seen.append(messages) or f"Answer: {test[0]['answer']}"))
    score, output, side_info = evaluator.evaluate("Be brief.", test[0])
    assert score == 1.0 and output == {"answer": test[0]["answer"]}
    assert seen[0][0] == {"role": "system", "content": "Be brief."}


def test_quality_benchmark_scores_on_the_test_split(monkeypatch):
    """The benchmark's final score for prompt_opt is held-out test accuracy, and GEPA gets (score, side_info)."""
    monkeypatch.setenv("PROMPT_OPT_N_VAL", "2")
    monkeypatch.setenv("PROMPT_OPT_N_TEST", "3")
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import importlib

    from examples.prompt_opt import evaluator
    test_ids = {p["id"] for p in evaluator.make_testset()}
    asked = []

    def task_lm(messages):
        question = messages[-1]["content"]
        problem = next(p for split in data.load().values() for p in split if p["question"] == question)
        asked.append(problem["id"])
        return "Answer: 0"

    monkeypatch.setattr(evaluator, "_evaluate", scorer.make_evaluator(task_lm))
    quality_tasks = importlib.import_module("_quality_tasks")
    task = quality_tasks.load("prompt_opt")
    assert len(task.valset) == 2 and len(task.dataset) == 20
    score, side_info = task.evaluate(task.seed, task.valset[0])
    assert side_info["Output"] == {"answer": 0} and "Feedback" in side_info
    asked.clear()
    expected = sum(p["answer"] == 0 for p in evaluator.make_testset()) / 3
    assert task.final_score(task.seed) == expected
    assert set(asked) == test_ids
