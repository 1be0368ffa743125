"""Can't Be Late example: the simulator's accounting and a scripted end-to-end run."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

from examples.cant_be_late import evaluator, main, simulator  # noqa: E402
from tests.conftest import ScriptedLM, fenced  # noqa: E402

CT = simulator.ClusterType


class Fixed:
    """Plays a fixed list of choices, then repeats the last one."""

    def __init__(self, choices):
        self.choices = list(choices)
        self.seen = []

    def step(self, env, last, has_spot):
        self.seen.append(last)
        i = min(len(self.seen) - 1, len(self.choices) - 1)
        return self.choices[i]


def test_on_demand_only_costs_work_plus_one_restart():
    report = simulator.simulate(Fixed([CT.ON_DEMAND]), [False] * 30, task_duration=1.0, deadline=3.0,
                                restart_overhead=0.2, gap=0.1, od_price=1.0)
    assert not report["missed_deadline"]
    assert report["restarts"] == 1
    assert report["cost"] == pytest.approx(1.2)  # 1 h of work + 0.2 h of billed overhead
    assert report["finish_time"] == pytest.approx(1.2)


def test_preemption_charges_restart_overhead_again():
    # Spot for 5 steps, gone for 2, back: spot -> preempted -> spot again.
    trace = [True] * 5 + [False] * 2 + [True] * 30
    strat = Fixed([CT.SPOT] * 5 + [CT.NONE] * 2 + [CT.SPOT])
    report = simulator.simulate(strat, trace, task_duration=1.0, deadline=3.7, restart_overhead=0.2, gap=0.1,
                                spot_price=0.3)
    assert report["preemptions"] == 1
    assert report["restarts"] == 2
    assert strat.seen[5] == CT.NONE  # the strategy sees the preemption
    # 0.5 h billed before the preemption (0.3 of work), then 0.2 overhead + 0.7 work.
    assert report["spot_hours"] == pytest.approx(1.4)
    assert report["cost"] == pytest.approx(0.3 * 1.4)
    assert not report["missed_deadline"]


def test_switching_back_and_forth_pays_overhead_each_time():
    alternating = Fixed([CT.SPOT, CT.ON_DEMAND] * 100)
    steady = Fixed([CT.ON_DEMAND])
    args = dict(task_duration=1.0, deadline=10.0, restart_overhead=0.05, gap=0.1)
    thrash = simulator.simulate(alternating, [True] * 100, **args)
    calm = simulator.simulate(steady, [True] * 100, **args)
    assert thrash["restarts"] > 10
    assert thrash["finish_time"] > calm["finish_time"]


def test_missed_deadline_is_detected_and_penalized():
    report = simulator.simulate(Fixed([CT.NONE] * 10 + [CT.ON_DEMAND]), [False] * 20, task_duration=1.5,
                                deadline=2.0, restart_overhead=0.2, gap=0.1)
    assert report["missed_deadline"]
    assert report["finish_time"] is None
    assert report["work_done"] == pytest.approx(0.8)
    assert evaluator.penalized_cost(report) == pytest.approx(report["cost"] + evaluator.MISSED_DEADLINE_PENALTY)


def test_spot_request_without_capacity_runs_nothing():
    report = simulator.simulate(Fixed([CT.SPOT]), [False] * 10, task_duration=0.5, deadline=1.0,
                                restart_overhead=0.1, gap=0.1)
    assert report["invalid_spot_requests"] == 10
    assert report["cost"] == 0 and report["missed_deadline"]


def test_traces_and_examples_are_deterministic():
    assert simulator.make_examples("val", 4) == simulator.make_examples("val", 4)
    assert simulator.make_examples("train", 3)[0] != simulator.make_examples("test", 3)[0]
    assert simulator.make_trace(5, 100, 0.05, 0.05) == simulator.make_trace(5, 100, 0.05, 0.05)


def test_seed_strategy_runs_in_the_sandbox():
    examples = simulator.make_examples("test", 3)
    score, info = evaluator.evaluate(evaluator.SEED, examples[0])
    assert score < 0 and "cost $" in info["result"]
    broken = evaluator.evaluate("class Strategy:\n    def step(self, env, last, has_spot):\n        return 'FAST'\n",
                                examples[0])
    assert "error" in broken[1] and "FAST" in broken[1]["error"]


CAREFUL = evaluator.SEED.replace(
    "env.remaining_work + env.restart_overhead >= env.remaining_time",
    "env.remaining_work + 2 * env.restart_overhead + 1.0 >= env.remaining_time "
    "or last_cluster_type == ClusterType.ON_DEMAND")


@pytest.mark.filterwarnings("ignore:max_metric_calls")
def test_scripted_run_smoke(tmp_path):
    lm = ScriptedLM(lambda prompt: fenced(CAREFUL))
    out = main.run(budget=14, reflection_lm=lm, n_train=3, n_val=2, n_test=3, verbose=False,
                   run_dir=str(tmp_path / "run"))
    assert lm.prompts, "the reflection LM was consulted"
    assert out["evaluator_calls"] <= 14
    assert out["baseline"]["jobs"] == 3 and "mean_cost" in out["optimized"]
