"""Cloudcast: evolve a routing algorithm that broadcasts a dataset to several cloud regions cheaply.

    python examples/cloudcast/main.py [--budget 30] [--reflection-lm local/qwen2.5-coder-1.5b]
                                      [--run-dir runs/cloudcast] [--seed 0]

Multi-task mode: the dataset is a handful of broadcast jobs over one generated 18-region
topology (``simulator.make_topology``); as in the seed, the same jobs give the final figures.
The candidate ``search_algorithm`` runs in the sandbox; its routing is validated and priced
here, in ``simulator.broadcast_cost``. The baseline is Dijkstra on egress cost.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

if __package__:
    from . import evaluator, simulator
else:  # run as a script: python examples/cloudcast/main.py
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(1, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    import evaluator  # type: ignore[no-redef]
    import simulator  # type: ignore[no-redef]

import honing as hn

DEFAULT_BUDGET = 30


def run(budget: int = DEFAULT_BUDGET, reflection_lm: Any = None, run_dir: str | None = None, seed: int = 0,
        n_configs: int = 6, timeout_s: float | None = 900.0, verbose: bool = True) -> dict[str, Any]:
    """Optimize the routing; returns the total cost of the jobs before and after, and the best code."""
    graph = simulator.make_topology(seed)
    configs = simulator.make_configs(seed, n_configs)
    config = hn.Config(
        engine=hn.EngineConfig(max_metric_calls=budget, timeout_s=timeout_s, max_workers=2,
                               max_proposals_in_flight=2, seed=seed, run_dir=run_dir, progress=verbose),
        reflection=hn.ReflectionConfig(reflection_lm=reflection_lm, reflection_minibatch_size=2),
    )
    started = time.monotonic()
    result = hn.optimize_anything(evaluator.SEED, evaluator.make_evaluator(graph), dataset=configs,
                                  objective=evaluator.OBJECTIVE, background=evaluator.BACKGROUND, config=config)
    best = str(result.best_candidate)
    before, _ = evaluator.total_cost(evaluator.SEED, configs, graph)
    after, errors = evaluator.total_cost(best, configs, graph)
    return {
        "baseline_cost": before,
        "optimized_cost": after,
        "errors": errors,
        "jobs": len(configs),
        "best_candidate": best,
        "evaluator_calls": result.total_metric_calls,
        "proposals": len(result.proposals),
        "wall_clock_s": time.monotonic() - started,
        "run_dir": result.run_dir,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Evolve a multi-cloud broadcast routing algorithm with honing.")
    parser.add_argument("--budget", type=int, default=DEFAULT_BUDGET, help="evaluator calls (default %(default)s)")
    parser.add_argument("--reflection-lm", default=None, help="reflection model (default: the embedded local model)")
    parser.add_argument("--run-dir", default=None, help="store the run here")
    parser.add_argument("--seed", type=int, default=0, help="engine seed and topology/job generation seed")
    parser.add_argument("--timeout", type=float, default=900.0, help="wall-clock limit in seconds")
    args = parser.parse_args(argv)
    out = run(args.budget, args.reflection_lm, args.run_dir, args.seed, timeout_s=args.timeout)
    if out["best_candidate"] != evaluator.SEED:
        print("\nbest search_algorithm:\n" + out["best_candidate"])
    else:
        print("\nno candidate beat the Dijkstra seed; the best routing is the seed")
    for error in out["errors"]:
        print(f"error: {error}")
    print(f"{out['proposals']} proposals, {out['evaluator_calls']} evaluations, {out['wall_clock_s']:.0f} s")
    if out["run_dir"]:
        print(f"run stored in {out['run_dir']}")
    saving = 1 - out["optimized_cost"] / out["baseline_cost"] if out["baseline_cost"] else 0.0
    print(f"baseline ${out['baseline_cost']:.2f} -> optimized ${out['optimized_cost']:.2f} "
          f"(total cost of {out['jobs']} broadcasts; {saving:.1%} saved)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
