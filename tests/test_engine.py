"""Engine behaviour with scripted LMs: modes, budget, concurrency, determinism."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

import honing as hn
from honing._records import example_key
from tests.conftest import ScriptedLM, fenced
from tests.helpers import CountingEvaluator, growing_lm


def config(lm, **engine):
    engine.setdefault("max_metric_calls", 20)
    return hn.Config(engine=hn.EngineConfig(**engine), reflection=hn.ReflectionConfig(reflection_lm=lm))


def test_single_task_improves_and_passes_a_str():
    evaluator = CountingEvaluator()
    result = hn.optimize_anything("@", evaluator=evaluator, objective="more @", config=config(growing_lm()))
    assert isinstance(result.best_candidate, str)
    assert result.best_score > 0.1
    assert result.best_candidate.count("@") > 1
    assert all(isinstance(text, str) for text, _ in evaluator.calls)
    assert result.total_metric_calls == len(evaluator.calls) <= 20


def test_dict_seed_gives_the_evaluator_a_dict():
    seen = []

    def evaluate(candidate):
        seen.append(candidate)
        return candidate["text"].count("@") / 10

    result = hn.optimize_anything({"text": "@"}, evaluate, config=config(growing_lm(), max_metric_calls=5))
    assert all(isinstance(c, dict) and set(c) == {"text"} for c in seen)
    assert isinstance(result.best_candidate, dict)


def test_fitness_fn_is_the_evaluator_and_both_is_an_error():
    evaluator = CountingEvaluator()
    result = hn.optimize_anything(seed_candidate="@", fitness_fn=evaluator,
                                  config=config(growing_lm(), max_metric_calls=3))
    assert result.total_metric_calls == 3
    with pytest.raises(TypeError, match="not both"):
        hn.optimize_anything("@", evaluator, fitness_fn=evaluator, config=config(growing_lm()))
    with pytest.raises(TypeError, match="needs an evaluator"):
        hn.optimize_anything("@", config=config(growing_lm()))


def test_budget_is_a_hard_ceiling_under_concurrency():
    calls = 0
    lock = threading.Lock()

    def slow_eval(candidate, example):
        nonlocal calls
        with lock:
            calls += 1
        time.sleep(0.002)
        return candidate.count("@") / 100 + (example % 3) * 0.01, {"n": example}

    for budget in (7, 37, 101):
        calls = 0
        cfg = config(growing_lm(), max_metric_calls=budget, max_workers=8, max_proposals_in_flight=16)
        result = hn.optimize_anything("@", slow_eval, dataset=list(range(12)), config=cfg)
        assert calls <= budget
        assert result.total_metric_calls == calls


def test_no_candidate_is_evaluated_twice_on_an_example():
    evaluator = CountingEvaluator(with_example=True)
    cfg = config(growing_lm(), max_metric_calls=80, max_workers=4)
    hn.optimize_anything("@", evaluator, dataset=[1, 2, 3, 4], valset=[5, 6, 7], config=cfg)
    pairs = Counter(evaluator.calls)
    assert pairs and max(pairs.values()) == 1


def test_generalization_mode_never_shows_valset_content_to_the_lm():
    lm = growing_lm()
    train = [{"q": f"train-item-{i}"} for i in range(4)]
    val = [{"q": f"SECRET-VAL-{i}"} for i in range(4)]

    def evaluate(candidate, example):
        return candidate.count("@") / 10, {"question": example["q"], "echo": f"saw {example['q']}"}

    result = hn.optimize_anything("@", evaluate, dataset=train, valset=val, config=config(lm, max_metric_calls=40))
    prompts = lm.prompt_texts
    assert prompts, "the LM was never asked"
    assert not any("SECRET-VAL" in p for p in prompts)
    assert any("train-item" in p for p in prompts)
    # the best candidate is judged on the valset
    assert set(result.per_example_scores[0]) == {example_key(ex) for ex in val}


def test_multi_task_mode_scores_on_the_dataset():
    lm = growing_lm()
    result = hn.optimize_anything("@", lambda c, ex: c.count("@") / 10 + ex * 0, dataset=[1, 2, 3],
                                  config=config(lm, max_metric_calls=20))
    assert len(result.per_example_scores[0]) == 3
    assert result.best_score > result.val_scores[0]


def test_seed_none_lets_the_lm_write_the_first_candidate():
    lm = ScriptedLM(lambda prompt: fenced("@@"))
    evaluator = CountingEvaluator()
    result = hn.optimize_anything(None, evaluator, objective="write many @", config=config(lm, max_metric_calls=3))
    assert result.candidates[0] == "@@"
    assert result.proposals[0].kind == "seed_generation"
    with pytest.raises(ValueError, match="objective"):
        hn.optimize_anything(None, evaluator, config=config(lm))


def test_exceptions_and_bad_returns_become_failed_evaluations():
    calls = []

    def evaluate(candidate, example):
        calls.append((candidate, example))
        if example == "raise":
            raise ZeroDivisionError("boom on this example")
        if example == "nan":
            return float("nan")
        if example == "none":
            return None
        return candidate.count("@") / 10

    lm = growing_lm()
    cfg = config(lm, max_metric_calls=12, parallel=False)
    result = hn.optimize_anything("@", evaluate, dataset=["raise", "nan", "none", "ok"], config=cfg)
    prompts = "\n".join(lm.prompt_texts)
    assert "ZeroDivisionError" in prompts and "boom on this example" in prompts
    assert "nan" in prompts.lower() and "expected a number" in prompts
    assert result.total_metric_calls == len(calls) <= 12  # failed evaluations count like any other
    seed_scores = result.per_example_scores[0]
    assert sorted(seed_scores.values()) == [0.0, 0.0, 0.0, 0.1]


def test_raise_on_exception_propagates():
    def evaluate(candidate):
        raise RuntimeError("fatal evaluator bug")

    with pytest.raises(RuntimeError, match="fatal evaluator bug") as raised:  # the evaluator's own, as in GEPA
        hn.optimize_anything("@", evaluate, config=config(growing_lm(), raise_on_exception=True))
    assert type(raised.value) is RuntimeError


def test_a_failing_lm_spends_no_budget_and_stops_with_a_clear_error():
    class Broken:
        def complete(self, messages):
            raise ConnectionError("provider down")

    evaluator = CountingEvaluator()
    with pytest.raises(hn.LMError, match="provider down"):
        hn.optimize_anything("@", evaluator, config=config(Broken(), max_metric_calls=50))
    assert len(evaluator.calls) == 1  # only the seed


def test_unusable_replies_never_loop_forever():
    lm = ScriptedLM(lambda prompt: "I am not sure.")
    evaluator = CountingEvaluator()
    result = hn.optimize_anything("@", evaluator, config=config(lm, max_metric_calls=50, max_workers=1, parallel=False))
    assert result.stop_reason == "no usable proposals"
    assert len(evaluator.calls) == 1


def test_duplicates_are_not_evaluated_again():
    # The LM always answers "@@": once "@@" is in the pool, every later proposal is a
    # duplicate (of the pool member, or of its parent's own text) and costs no evaluation.
    lm = ScriptedLM(lambda prompt: fenced("@@"))
    evaluator = CountingEvaluator()
    cfg = config(lm, max_metric_calls=10, parallel=False, max_candidate_proposals=5,
                 candidate_selection_strategy="epsilon_greedy", epsilon=1.0)
    result = hn.optimize_anything("@", evaluator, config=cfg)
    assert [text for text, _ in evaluator.calls] == ["@", "@@"]
    reasons = [p.reason for p in result.proposals[1:]]
    assert any("duplicate of candidate 1" in r for r in reasons)
    assert all("duplicate" in r or "unchanged" in r for r in reasons)


def test_a_rejected_text_proposed_again_reuses_its_scores():
    # "@@" loses on an all-failing minibatch, is proposed again later and wins on a minibatch
    # with the working example; its first scores are reused, never recomputed.
    evaluator = CountingEvaluator(with_example=True)

    def evaluate(candidate, example):
        evaluator(candidate, example)
        return 0.0 if example != "ok" else candidate.count("@") / 10

    lm = ScriptedLM(lambda prompt: fenced("@@"))
    cfg = config(lm, max_metric_calls=12, parallel=False)
    result = hn.optimize_anything("@", evaluate, dataset=["a", "b", "c", "ok"], config=cfg)
    assert "@@" in result.candidates
    assert max(Counter(evaluator.calls).values()) == 1


def test_seeded_sequential_runs_are_deterministic():
    def run():
        lm = ScriptedLM(lambda prompt: fenced("@" * (len(prompt) % 7 + 1)))
        cfg = config(lm, max_metric_calls=40, parallel=False, seed=3)
        result = hn.optimize_anything("@", lambda c, ex: (c.count("@") * ex) % 5 / 5, dataset=[1, 2, 3, 4, 5],
                                      config=cfg)
        proposals = [(p.parent_ids, p.minibatch_keys, p.child_score, p.accepted) for p in result.proposals]
        return proposals, result.best_score

    assert run() == run()


def test_result_lineage_and_json():
    result = hn.optimize_anything("@", CountingEvaluator(), config=config(growing_lm(), max_metric_calls=5))
    assert result.parents[0] == []
    for i, parents in enumerate(result.parents[1:], start=1):
        assert parents and all(p < i for p in parents)
    data = result.to_dict()
    assert data["best_candidate"] == result.best_candidate
    assert '"proposals"' in result.to_json()
    assert result.lm_calls == len(result.proposals)
    assert result.lm_prompt_tokens == 10 * result.lm_calls and result.lm_completion_tokens == 5 * result.lm_calls
    assert all(p.prompt is not None for p in result.proposals if p.child_id is not None)


def test_track_best_outputs():
    def evaluate(candidate, example):
        return candidate.count("@") / 10, f"out-{example}-{len(candidate)}", {"x": 1}

    cfg = config(growing_lm(), max_metric_calls=12, track_best_outputs=True)
    result = hn.optimize_anything("@", evaluate, dataset=[1, 2], config=cfg)
    assert result.best_outputs and all(entries for entries in result.best_outputs.values())
    assert all(str(out).startswith("out-") for entries in result.best_outputs.values() for _, out in entries)


def test_long_candidates_accept_search_replace_edits():
    seed = "def f():\n    return 1\n" + "# filler line\n" * 300

    def reply(prompt):
        return "<<<<<<< SEARCH\n    return 1\n=======\n    return 2\n>>>>>>> REPLACE"

    def evaluate(candidate):
        return 1.0 if "return 2" in candidate else 0.0

    result = hn.optimize_anything(seed, evaluate, config=config(ScriptedLM(reply), max_metric_calls=3))
    assert result.best_score == 1.0
    assert result.best_candidate.count("# filler line") == 300


def test_images_in_side_info_reach_the_lm_as_image_parts():
    png = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
           b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")

    def evaluate(candidate):
        return candidate.count("@") / 10, {"render": hn.Image(png)}

    lm = growing_lm()
    hn.optimize_anything("@", evaluate, config=config(lm, max_metric_calls=2))
    parts = [part for messages in lm.prompts for m in messages if isinstance(m["content"], list)
             for part in m["content"]]
    assert any(part.get("type") == "image_url" for part in parts)


def test_cache_keys_are_example_contents_not_positions():
    # Position 0 of the dataset and of the valset hold different examples: both are evaluated.
    # The shared example {"x": 2} is one example, evaluated once per candidate.
    evaluator = CountingEvaluator(with_example=True)
    train = [{"x": 1}, {"x": 2}]
    val = [{"x": 3}, {"x": 2}]
    cfg = hn.Config(engine=hn.EngineConfig(max_metric_calls=4, parallel=False),
                    reflection=hn.ReflectionConfig(reflection_lm=growing_lm(), reflection_minibatch_size=2))
    hn.optimize_anything("@", evaluator, dataset=train, valset=val, config=cfg)
    assert sorted(call for call in evaluator.calls if call[0] == "@") == [("@", repr({"x": n})) for n in (1, 2, 3)]
    assert len(evaluator.calls) == 4


def test_adaptive_width_narrows_while_most_proposals_succeed_and_widens_when_few_do():
    from honing._width import Width

    width = Width(16, adaptive=True)
    for _ in range(30):
        width.record(True)
    assert width.current() == 1  # the next proposals would mostly build on a parent about to be replaced
    for _ in range(10):
        width.record(False)
    assert width.current() == 1  # about a third still succeed (0.35): one in flight
    for _ in range(20):
        width.record(False)
    assert width.current() >= 8  # improvements are rare: parallel proposals are independent samples
    for _ in range(200):
        width.record(False)
    assert width.current() == 16  # a rate that decays to (almost) nothing is not a division by zero
    assert Width(16, adaptive=False).current() == 16
