"""Cloudcast: evolve a routing algorithm that broadcasts a dataset to several cloud regions cheaply.

    python examples/cloudcast/main.py [--budget 30] [--reflection-lm local/qwen2.5-coder-1.5b]
                                      [--run-dir runs/cloudcast] [--seed 0]

Multi-task mode: the dataset is a handful of broadcast jobs over one generated 18-region
topology (``simulator.make_topology``); as in the seed, the same jobs give the final figures.
The candidate ``search_algorithm`` runs in the sandbox; its routing is validated and priced
here, in ``simulator.broadcast_cost``. The baseline is Dijkstra on egress cost.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

if not __package__:  # run as a script (python examples/cloudcast/main.py): make `examples` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import honing as hn
from examples import _common
from examples.cloudcast import evaluator, simulator

DEFAULT_BUDGET = 30


def run(budget: int = DEFAULT_BUDGET, reflection_lm: Any = None, run_dir: str | None = None, seed: int = 0,
        n_configs: int = 6, timeout_s: float | None = 900.0, verbose: bool = True) -> dict[str, Any]:
    """Optimize the routing; returns the total cost of the jobs before and after, and the best code."""
    graph = simulator.make_topology(seed)
    configs = simulator.make_configs(seed, n_configs)
    config = _common.config(budget, reflection_lm, run_dir, seed, timeout_s, verbose, minibatch=2)
    started = time.monotonic()
    result = hn.optimize_anything(evaluator.SEED, evaluator.make_evaluator(graph), dataset=configs,
                                  objective=evaluator.OBJECTIVE, background=evaluator.BACKGROUND, config=config)
    best = str(result.best_candidate)
    before, _ = evaluator.total_cost(evaluator.SEED, configs, graph)
    after, errors = evaluator.total_cost(best, configs, graph)
    return {
        **_common.run_figures(result, started),
        "baseline_cost": before,
        "optimized_cost": after,
        "errors": errors,
        "jobs": len(configs),
    }


def main(argv: list[str] | None = None) -> int:
    parser = _common.parser("Evolve a multi-cloud broadcast routing algorithm with honing.",
                            budget=DEFAULT_BUDGET, timeout=900.0,
                            seed_help="engine seed and topology/job generation seed")
    args = parser.parse_args(argv)
    out = run(args.budget, args.reflection_lm, args.run_dir, args.seed, timeout_s=args.timeout)
    if out["best_candidate"] != evaluator.SEED:
        print("\nbest search_algorithm:\n" + out["best_candidate"])
    else:
        print("\nno candidate beat the Dijkstra seed; the best routing is the seed")
    for error in out["errors"]:
        print(f"error: {error}")
    _common.print_run(out)
    saving = 1 - out["optimized_cost"] / out["baseline_cost"] if out["baseline_cost"] else 0.0
    print(f"baseline ${out['baseline_cost']:.2f} -> optimized ${out['optimized_cost']:.2f} "
          f"(total cost of {out['jobs']} broadcasts; {saving:.1%} saved)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
