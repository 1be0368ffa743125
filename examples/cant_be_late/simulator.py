"""A small "Can't Be Late" simulator: finish a job before its deadline on spot or on-demand machines.

Standard library only: ``evaluator.py`` ships this file's source into the sandbox in front of
the candidate strategy, so the strategy sees ``ClusterType`` and ``Env`` exactly as defined here.

The model, in hours:

* Time advances in steps of ``gap``. At each step the strategy picks ``SPOT``, ``ON_DEMAND``
  or ``NONE`` (run nothing). SPOT costs ``spot_price`` per hour, ON_DEMAND ``od_price``;
  NONE is free.
* SPOT can be chosen only when the trace says spot capacity is available at that step; a
  running spot machine is preempted when capacity disappears (the strategy then sees
  ``last_cluster_type == NONE``). Asking for SPOT while it is unavailable counts as an
  invalid request and runs nothing.
* Every (re)start of a machine (a change to SPOT or ON_DEMAND from anything else, including
  after a preemption) pays ``restart_overhead`` hours of billed time that does no work.
* The job needs ``task_duration`` hours of work. It misses its deadline if the work is not
  done by ``deadline`` hours; the evaluator then adds a large penalty.
"""

from __future__ import annotations

import math
import random


class ClusterType:
    NONE = "NONE"
    SPOT = "SPOT"
    ON_DEMAND = "ON_DEMAND"


VALID = (ClusterType.NONE, ClusterType.SPOT, ClusterType.ON_DEMAND)


class Env:
    """What a strategy can read at each step (all times in hours)."""

    def __init__(self, *, task_duration: float, deadline: float, restart_overhead: float, gap: float,
                 spot_price: float, od_price: float) -> None:
        self.task_duration = task_duration
        self.deadline = deadline
        self.restart_overhead = restart_overhead
        self.gap = gap
        self.spot_price = spot_price
        self.od_price = od_price
        self.elapsed = 0.0
        self.work_done = 0.0
        self.overhead_left = 0.0  # restart overhead still to pay on the machine now running

    @property
    def remaining_work(self) -> float:
        return max(0.0, self.task_duration - self.work_done)

    @property
    def remaining_time(self) -> float:
        return max(0.0, self.deadline - self.elapsed)


def make_trace(seed: int, n_steps: int, p_up_to_down: float, p_down_to_up: float) -> list[bool]:
    """A two-state Markov chain of spot availability (True = spot capacity available)."""
    rng = random.Random(seed)
    stationary_up = p_down_to_up / (p_up_to_down + p_down_to_up)
    up = rng.random() < stationary_up
    trace = []
    for _ in range(n_steps):
        trace.append(up)
        if up:
            up = rng.random() >= p_up_to_down
        else:
            up = rng.random() < p_down_to_up
    return trace


def simulate(strategy, trace: list[bool], *, task_duration: float, deadline: float, restart_overhead: float,
             gap: float = 0.1, spot_price: float = 0.3, od_price: float = 1.0) -> dict:
    """Run ``strategy`` on one availability trace; returns costs, counters and a timeline."""
    env = Env(task_duration=task_duration, deadline=deadline, restart_overhead=restart_overhead, gap=gap,
              spot_price=spot_price, od_price=od_price)
    if hasattr(strategy, "reset"):
        strategy.reset(env)
    n_steps = int(round(deadline / gap))
    if len(trace) < n_steps:
        raise ValueError(f"trace has {len(trace)} steps, the deadline needs {n_steps}")
    last = ClusterType.NONE
    cost = 0.0
    hours = {ClusterType.SPOT: 0.0, ClusterType.ON_DEMAND: 0.0}
    restarts = preemptions = invalid_spot = 0
    finish_time = None
    timeline: list[list] = []  # [choice, start_hour, end_hour]
    for step in range(n_steps):
        env.elapsed = step * gap
        has_spot = bool(trace[step])
        if last == ClusterType.SPOT and not has_spot:
            preemptions += 1
            last = ClusterType.NONE
            env.overhead_left = 0.0
        choice = strategy.step(env, last, has_spot)
        if choice not in VALID:
            raise ValueError(f"step() returned {choice!r} at hour {env.elapsed:.1f}; return one of "
                             "ClusterType.SPOT, ClusterType.ON_DEMAND, ClusterType.NONE")
        if choice == ClusterType.SPOT and not has_spot:
            invalid_spot += 1
            choice = ClusterType.NONE
        if choice != ClusterType.NONE and choice != last:
            restarts += 1
            env.overhead_left = restart_overhead
        if choice == ClusterType.NONE:
            env.overhead_left = 0.0
            used = 0.0
        else:
            price = spot_price if choice == ClusterType.SPOT else od_price
            overhead = min(env.overhead_left, gap)
            work = min(gap - overhead, env.remaining_work)
            used = overhead + work
            env.overhead_left -= overhead
            env.work_done += work
            cost += price * used
            hours[choice] += used
        if timeline and timeline[-1][0] == choice:
            timeline[-1][2] = env.elapsed + gap
        else:
            timeline.append([choice, env.elapsed, env.elapsed + gap])
        last = choice
        if env.remaining_work <= 1e-9:
            finish_time = env.elapsed + used
            timeline[-1][2] = finish_time
            break
    missed = finish_time is None
    return {
        "cost": round(cost, 4),
        "missed_deadline": missed,
        "finish_time": None if missed else round(finish_time, 3),
        "work_done": round(env.work_done, 3),
        "task_duration": task_duration,
        "deadline": deadline,
        "restarts": restarts,
        "preemptions": preemptions,
        "invalid_spot_requests": invalid_spot,
        "spot_hours": round(hours[ClusterType.SPOT], 3),
        "on_demand_hours": round(hours[ClusterType.ON_DEMAND], 3),
        "spot_availability": round(sum(trace[:n_steps]) / n_steps, 3),
        "timeline": [[c, round(a, 2), round(b, 2)] for c, a, b in timeline],
    }


def simulate_example(strategy, example: dict) -> dict:
    """``simulate`` on the trace and job an example (see ``make_examples``) describes."""
    n_steps = int(round(example["deadline"] / example["gap"]))
    trace = make_trace(example["trace_seed"], n_steps, example["p_up_to_down"], example["p_down_to_up"])
    return simulate(strategy, trace, task_duration=example["task_duration"], deadline=example["deadline"],
                    restart_overhead=example["restart_overhead"], gap=example["gap"],
                    spot_price=example["spot_price"], od_price=example["od_price"])


def make_examples(split: str, count: int, seed: int = 0) -> list[dict]:
    """Deterministic jobs + trace parameters; splits use disjoint seeds."""
    offset = {"train": 1_000, "val": 2_000, "test": 3_000}[split]
    rng = random.Random(offset + seed)
    out = []
    for i in range(count):
        task = float(rng.choice([8, 12, 16, 24]))
        slack_factor = rng.choice([1.25, 1.5, 2.0])
        out.append({
            "id": f"{split}-{i}",
            "trace_seed": offset * 10 + seed * 100 + i,
            # Mean spot-up spell 1/p_up_to_down steps, mean outage 1/p_down_to_up steps (0.1 h each).
            "p_up_to_down": rng.choice([0.01, 0.03, 0.08]),
            "p_down_to_up": rng.choice([0.01, 0.02, 0.05]),
            "task_duration": task,
            "deadline": math.ceil(task * slack_factor),
            "restart_overhead": rng.choice([0.1, 0.2, 0.4]),
            "gap": 0.1,
            "spot_price": 0.3,
            "od_price": 1.0,
        })
    return out
