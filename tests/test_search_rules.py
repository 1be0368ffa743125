"""The search's own rules, each on its own: validation races, rebasing stale children, and the
budget and no-repeat guarantees under random latencies."""

from __future__ import annotations

import random
import threading
import time
import zlib
from collections import Counter

import pytest

import honing as hn
from honing._race import RaceRules, ValsetRace
from honing._rebase import merge3, rebase
from honing._records import CandidateRecord, EvaluationRecord
from honing._scoreboard import ScoreBoard
from tests.conftest import ScriptedLM, fenced
from tests.helpers import longest_run

VAL = [f"k{i}" for i in range(12)]
POOL = {key: 0.2 if key == "k0" else 0.5 for key in VAL}  # the one admitted candidate, weakest on k0


def _board() -> ScoreBoard:
    board = ScoreBoard(VAL, "instance")
    board.add_candidate(CandidateRecord(id=0, components={"text": "seed"}, origin="seed"))
    board.add_candidate(CandidateRecord(id=1, components={"text": "child"}, origin="reflection"))
    board.admit(0)
    for key in VAL:
        board.add_evaluation(EvaluationRecord(candidate_id=0, example_key=key, split="val", score=POOL[key]))
    return board


def _race(child_scores: dict[str, float], rules: RaceRules | None = None) -> tuple[object, list[str]]:
    board = _board()
    calls: list[str] = []

    def evaluate(cid: int, keys: list[str]) -> dict[str, EvaluationRecord]:
        found = {}
        for key in keys:
            calls.append(key)
            found[key] = EvaluationRecord(candidate_id=cid, example_key=key, split="val", score=child_scores[key])
            board.add_evaluation(found[key])
        return found

    race = ValsetRace(board, evaluate, rules or RaceRules(), stopping=threading.Event())
    return race.run(1, 0), calls


def test_a_child_worse_everywhere_is_stopped_after_the_first_round():
    verdict, calls = _race({key: 0.2 for key in VAL})
    assert not verdict.admitted
    assert len(calls) == RaceRules().min_examples  # 3 of 12 validation examples spent, not 12


def test_a_child_better_everywhere_runs_the_whole_valset_and_is_admitted():
    verdict, calls = _race({key: 0.8 for key in VAL})
    assert verdict.admitted
    assert sorted(calls) == sorted(VAL)


def test_a_new_specialist_is_never_stopped_although_its_mean_is_worse():
    scores = {key: 0.1 for key in VAL}
    scores["k0"] = 0.9  # the only example where it beats the pool (raced first: the pool is weakest there)
    verdict, calls = _race(scores)
    assert verdict.admitted  # it leads on k0: the Pareto frontier wants it
    assert sorted(calls) == sorted(VAL)


def test_a_child_that_ties_the_pool_everywhere_is_not_admitted():
    verdict, calls = _race(dict(POOL))
    assert not verdict.admitted
    assert len(calls) < len(VAL)  # a tie is not worth the whole valset either


def test_racing_off_scores_the_whole_valset_and_admits():
    verdict, calls = _race({key: 0.2 for key in VAL}, RaceRules(enabled=False))
    assert verdict.admitted
    assert sorted(calls) == sorted(VAL)


def test_gepa_full_eval_scores_every_winner_on_the_whole_valset():
    """GEPA's ``val_evaluation_policy="full_eval"`` given explicitly turns racing off."""
    def run(**engine):
        calls: list[tuple[str, int]] = []

        def evaluate(candidate, example):
            calls.append((candidate, example))
            # the child wins its minibatch (train examples 100, 101) and loses on every validation example
            return (0.9 if example >= 100 else 0.1) if "@@" in candidate else 0.5

        lm = ScriptedLM(lambda prompt: fenced("@@ overfit"))
        cfg = hn.Config(engine=hn.EngineConfig(max_metric_calls=40, parallel=False, **engine),
                        reflection=hn.ReflectionConfig(reflection_lm=lm, reflection_minibatch_size=2))
        hn.optimize_anything("seed", evaluate, dataset=[100, 101], valset=list(range(12)), config=cfg)
        return Counter(c for c, e in calls if e in range(12))

    assert run()["@@ overfit"] == RaceRules().min_examples  # raced: stopped after 3
    assert run(val_evaluation_policy="full_eval")["@@ overfit"] == 12
    assert run(valset_racing=False)["@@ overfit"] == 12


# -- rebase ------------------------------------------------------------------------------

BASE = "a = 1\nb = 2\nc = 3\nd = 4\ne = 5\n"


def test_an_edit_is_replayed_onto_the_newer_version_when_the_lines_do_not_overlap():
    newer = BASE.replace("a = 1", "a = 10")  # a sibling's improvement, admitted meanwhile
    child = BASE.replace("e = 5", "e = 50")  # written against the old parent
    assert merge3(BASE, newer, child) == "a = 10\nb = 2\nc = 3\nd = 4\ne = 50\n"


def test_an_edit_that_touches_the_lines_the_newer_version_changed_is_not_rebased():
    newer = BASE.replace("c = 3", "c = 30")
    child = BASE.replace("c = 3", "c = 31")
    assert merge3(BASE, newer, child) is None


def test_insertions_rebase_and_unchanged_sides_pass_through():
    newer = BASE.replace("e = 5\n", "e = 5\nf = 6\n")
    child = "import math\n" + BASE
    assert merge3(BASE, newer, child) == "import math\n" + BASE + "f = 6\n"
    assert merge3(BASE, newer, BASE) == newer
    assert merge3(BASE, BASE, child) == child


def test_rebase_works_component_by_component_and_refuses_a_different_shape():
    parent = {"prompt": BASE, "code": "x\n"}
    newer = {"prompt": BASE.replace("a = 1", "a = 2"), "code": "x\n"}
    child = {"prompt": BASE, "code": "y\n"}
    assert rebase(parent, newer, child) == {"prompt": newer["prompt"], "code": "y\n"}
    assert rebase(parent, {"prompt": BASE}, child) is None


# -- guarantees under random timing ------------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
def test_random_latencies_never_overspend_or_repeat_a_pair(seed):
    """Evaluator and LM latencies drawn at random reorder every race, rebase and admission."""
    rng = random.Random(seed)
    lock = threading.Lock()
    calls: list[tuple[str, int]] = []

    def evaluate(candidate, example):
        time.sleep(rng.random() * 0.004)
        with lock:
            calls.append((candidate, example))
        noise = ((zlib.crc32(f"{candidate}|{example}".encode()) % 7) - 3) * 0.01
        return min(longest_run(candidate), 12) / 12 + noise

    def reply(prompt):
        time.sleep(rng.random() * 0.01)
        step = rng.choice([-1, 1, 1, 2])
        return fenced("@" * max(1, longest_run(prompt) + step) + f" v{rng.randrange(10**6)}")

    budget = rng.choice([23, 61, 97])
    cfg = hn.Config(engine=hn.EngineConfig(max_metric_calls=budget, max_workers=rng.choice([2, 4, 8]),
                                           seed=seed),
                    reflection=hn.ReflectionConfig(reflection_lm=ScriptedLM(reply), reflection_minibatch_size=2))
    result = hn.optimize_anything("@", evaluate, dataset=list(range(6)), valset=list(range(6, 14)), config=cfg)
    assert len(calls) <= budget
    assert result.total_metric_calls == len(calls)
    assert max(Counter(calls).values()) == 1
