"""Scores a candidate strategy by running it in the sandbox on one job (or a whole split)."""

from __future__ import annotations

import os
from typing import Any

import honing as hn

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "simulator.py"), encoding="utf-8") as _f:
    SIMULATOR_SOURCE = _f.read()

MISSED_DEADLINE_PENALTY = 100.0

# The greedy baseline: spot when available, wait otherwise, on-demand once the slack is gone.
SEED = '''class Strategy:
    """Decide each step whether to run on SPOT, ON_DEMAND or nothing (NONE)."""

    def reset(self, env):
        pass

    def step(self, env, last_cluster_type, has_spot):
        if env.remaining_work <= 1e-3:
            return ClusterType.NONE
        # Out of slack: only guaranteed on-demand capacity can still make the deadline.
        if env.remaining_work + env.restart_overhead >= env.remaining_time:
            return ClusterType.ON_DEMAND
        if has_spot:
            return ClusterType.SPOT
        return ClusterType.NONE
'''

OBJECTIVE = ("Optimize a scheduling strategy for the Can't Be Late problem: finish a job before its deadline "
             "at the lowest cost by choosing SPOT (cheap, can be preempted), ON_DEMAND (expensive, always "
             "available) or NONE (wait) at every step.")

BACKGROUND = """The candidate is Python source defining `class Strategy` with `step(self, env, last_cluster_type, has_spot)`
(and optionally `reset(self, env)`), called every `env.gap` = 0.1 hours. It must return ClusterType.SPOT,
ClusterType.ON_DEMAND or ClusterType.NONE (already defined; do not import anything for it).
- `env` has (hours): elapsed, deadline, task_duration, work_done, remaining_work, remaining_time,
  restart_overhead, gap, spot_price (0.3 $/h), od_price (1.0 $/h).
- SPOT may be chosen only when has_spot is True; a spot machine is preempted when availability disappears, and
  last_cluster_type is then NONE.
- Every start or switch of a machine costs `restart_overhead` hours of billed time without progress.
- Score = -(cost in $) - 100 if the deadline is missed. Missing a deadline is far worse than paying for
  on-demand; among strategies that never miss, cheaper is better. Switching back and forth wastes overhead.
"""  # noqa: E501 (the prompt text is kept as the LM sees it)


def _driver() -> str:
    return '''

def _make_strategy():
    if "Strategy" in globals():
        return Strategy()
    if "step" in globals() and callable(step):
        class _FunctionStrategy:
            def step(self, env, last_cluster_type, has_spot):
                return step(env, last_cluster_type, has_spot)
        return _FunctionStrategy()
    raise NameError("define class Strategy with a step(self, env, last_cluster_type, has_spot) method")


def _evaluate_many(examples):
    return [simulate_example(_make_strategy(), ex) for ex in examples]
'''


def program(candidate: str) -> str:
    return SIMULATOR_SOURCE + "\n\n# ---- candidate strategy ----\n" + candidate + _driver()


def run_split(candidate: str, examples: list[dict], timeout: float = 60.0) -> list[dict] | str:
    """The simulator's reports for every example, or the sandbox's error text."""
    result = hn.run_code(program(candidate), "_evaluate_many", (examples,), timeout=timeout, memory_mb=512)
    if not result.ok:
        return result.feedback(2000)
    return result.value


def penalized_cost(report: dict) -> float:
    return report["cost"] + (MISSED_DEADLINE_PENALTY if report["missed_deadline"] else 0.0)


def side_info(example: dict, report: dict) -> dict[str, Any]:
    slack = example["deadline"] - example["task_duration"]
    verdict = ("MISSED the deadline" if report["missed_deadline"]
               else f"finished at hour {report['finish_time']} of {report['deadline']}")
    return {
        "job": (f"{example['task_duration']:g} h of work, deadline {example['deadline']:g} h (slack {slack:g} h), "
                f"restart overhead {example['restart_overhead']:g} h, spot available "
                f"{report['spot_availability']:.0%} of the time"),
        "result": (f"cost ${report['cost']:.2f}, {verdict}; {report['spot_hours']:g} h spot, "
                   f"{report['on_demand_hours']:g} h on-demand, {report['restarts']} restarts, "
                   f"{report['preemptions']} preemptions, {report['invalid_spot_requests']} invalid spot requests"),
        "timeline": _timeline_text(report["timeline"]),
    }


def _timeline_text(timeline: list) -> str:
    parts = [f"{c} {a:g}-{b:g}h" for c, a, b in timeline]
    if len(parts) > 16:
        parts = parts[:8] + [f"... {len(parts) - 16} more ..."] + parts[-8:]
    return ", ".join(parts)


def evaluate(candidate: str, example: dict) -> tuple[float, dict[str, Any]]:
    reports = run_split(candidate, [example], timeout=30.0)
    if isinstance(reports, str):
        return -(MISSED_DEADLINE_PENALTY + example["task_duration"] * example["od_price"]), {"error": reports}
    report = reports[0]
    return -penalized_cost(report), side_info(example, report)


def summarize(reports: list[dict] | str) -> dict[str, Any]:
    if isinstance(reports, str):
        return {"error": reports, "mean_cost": float("nan"), "missed": None, "mean_penalized": float("nan")}
    n = len(reports)
    return {
        "mean_cost": sum(r["cost"] for r in reports) / n,
        "missed": sum(r["missed_deadline"] for r in reports),
        "mean_penalized": sum(penalized_cost(r) for r in reports) / n,
        "jobs": n,
    }
