"""ARC-style agent example: task generators, the replay LLM bridge, grid diffs and a scripted run."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

from examples.arc_agents import agent, main, tasks  # noqa: E402
from tests.conftest import ScriptedLM, fenced  # noqa: E402


def test_geometric_rules():
    g = [[1, 2, 3], [4, 5, 6]]
    assert tasks.flip_lr(g) == [[3, 2, 1], [6, 5, 4]]
    assert tasks.flip_ud(g) == [[4, 5, 6], [1, 2, 3]]
    assert tasks.transpose(g) == [[1, 4], [2, 5], [3, 6]]
    assert tasks.rot90(g) == [[4, 1], [5, 2], [6, 3]]
    assert tasks.rot180(g) == tasks.flip_ud(tasks.flip_lr(g))
    assert tasks.rot90(tasks.rot90(g)) == tasks.rot180(g)
    assert tasks.upscale2([[1, 2]]) == [[1, 1, 2, 2], [1, 1, 2, 2]]
    assert tasks.gravity_down([[1, 0], [0, 2], [3, 0]]) == [[0, 0], [1, 0], [3, 2]]
    assert tasks.make_recolor(1, 7)([[1, 0], [2, 1]]) == [[7, 0], [2, 7]]
    assert tasks.make_fill(4)([[1, 0], [0, 2]]) == [[1, 4], [4, 2]]


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_generated_tasks_are_consistent(split):
    items = tasks.make_split(split, 18)
    assert items == tasks.make_split(split, 18)
    assert {t["rule"] for t in items} == set(tasks.RULES)
    for task in items:
        pairs = task["train"] + [task["test"]]
        assert len(task["train"]) == 3
        inputs = [p["input"] for p in pairs]
        assert len({repr(i) for i in inputs}) == 4, "pairs are distinct"
        # One rule explains every pair; recolour/fill parameters are shared across the pairs.
        rule = task["rule"]
        if rule in ("recolor", "fill"):
            changes = {(a, b) for p in pairs for ra, rb in zip(p["input"], p["output"])
                       for a, b in zip(ra, rb) if a != b}
            assert len({a for a, _ in changes}) == 1 and len({b for _, b in changes}) == 1
        else:
            fn = getattr(tasks, rule)
            assert all(fn(p["input"]) == p["output"] for p in pairs)
        assert all(p["input"] != p["output"] for p in pairs)
        for p in pairs:
            assert all(0 <= c <= 9 for row in p["input"] + p["output"] for c in row)


def test_splits_differ():
    assert tasks.make_split("train", 3)[0]["test"] != tasks.make_split("test", 3)[0]["test"]


def test_grid_diff():
    assert agent.grid_diff([[1, 2]], [[1, 2]]) == "exact match"
    assert "2 of 4 cells wrong" in agent.grid_diff([[1, 2], [3, 4]], [[1, 0], [0, 4]])
    assert "(0,1) got 2 expected 0" in agent.grid_diff([[1, 2], [3, 4]], [[1, 0], [0, 4]])
    assert "wrong shape" in agent.grid_diff([[1, 2, 3]], [[1], [2], [3]])
    assert agent.grid_diff(None, [[1]]) == "no grid was produced"


def test_replay_bridge_answers_llm_calls_from_the_parent():
    task = tasks.make_split("train", 1)[0]
    seen = []

    def llm(prompt):
        seen.append(prompt)
        return f"reply {len(seen)}"

    program = '''def solve(train_pairs, test_input, llm):
    first = llm("one")
    second = llm("two after " + first)
    try:
        return [[len(first), len(second)]]
    except Exception:
        return None
'''
    run = agent.run_agent(program, task, llm)
    assert run["error"] is None
    assert seen == ["one", "two after reply 1"]
    assert run["output"] == [[7, 7]]  # "reply 1", "reply 2"
    assert [p for p, _ in run["transcript"]] == seen


def test_replay_bridge_limits_calls_and_survives_broad_excepts():
    task = tasks.make_split("train", 1)[0]
    greedy = '''def solve(train_pairs, test_input, llm):
    out = []
    for i in range(10):
        try:
            out.append(len(llm(f"prompt {i}")))
        except Exception as exc:
            return [[99]]
    return [out]
'''
    run = agent.run_agent(greedy, task, lambda p: "x", max_llm_calls=2)
    # The limit error is an ordinary exception the program may catch; it never got a third reply.
    assert len(run["transcript"]) == 2 and run["output"] == [[99]]
    bad = agent.run_agent("def solve(t, x, llm):\n    return 'grid'\n", task, lambda p: "")
    assert bad["output"] is None and "list of rows" in bad["error"]
    crash = agent.run_agent("def solve(t, x, llm):\n    return 1 / 0\n", task, lambda p: "")
    assert "ZeroDivisionError" in crash["error"]


def test_seed_program_parses_the_llm_grid():
    task = tasks.make_split("train", 1)[0]
    evaluate = main.make_evaluator(lambda p: "Sure:\n" + tasks.format_grid(task["test"]["output"]) + "\nDone.")
    score, info = evaluate(main.SEED_PROGRAM, task)
    assert score == 1.0 and info["diff"] == "exact match" and len(info["llm_calls"]) == 1
    evaluate = main.make_evaluator(lambda p: "I am not sure.")
    score, info = evaluate(main.SEED_PROGRAM, task)
    assert score == 0.0 and info["predicted_output"] == tasks.format_grid(task["test"]["input"])


RULE_SEARCH = '''def solve(train_pairs, test_input, llm):
    rules = [
        lambda g: [row[::-1] for row in g],
        lambda g: [list(r) for r in g[::-1]],
        lambda g: [list(c) for c in zip(*g)],
        lambda g: [list(c) for c in zip(*g[::-1])],
        lambda g: [row[::-1] for row in g[::-1]],
    ]
    for rule in rules:
        if all(rule(p["input"]) == p["output"] for p in train_pairs):
            return rule(test_input)
    return test_input
'''


@pytest.mark.filterwarnings("ignore:max_metric_calls")
def test_scripted_run_smoke(tmp_path):
    lm = ScriptedLM(lambda prompt: fenced(RULE_SEARCH))
    task_model = ScriptedLM(lambda prompt: "0 0\n0 0")
    out = main.run(budget=20, reflection_lm=lm, task_lm=lambda prompt: task_model.complete(
        [{"role": "user", "content": prompt}]).text, n_train=5, n_val=5, n_test=5, verbose=False,
        run_dir=str(tmp_path / "run"))
    assert lm.prompts and task_model.prompts
    assert out["baseline"] == 0.0
    assert out["optimized"] == 1.0  # the 5 geometric rules are the first 5 tasks
    assert "diff" in lm.prompt_texts[0]
