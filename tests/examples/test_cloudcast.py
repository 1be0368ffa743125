"""Cloudcast example: the broadcast cost model on a hand-checked routing, and a scripted run."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402

from examples.cloudcast import evaluator, main, simulator  # noqa: E402
from tests.conftest import ScriptedLM, fenced  # noqa: E402

# A 3-node graph: src -> a is cheap but slow, src -> b dear, a -> b cheap.
GRAPH = {
    "src": {"a": {"cost": 0.02, "throughput": 4.0}, "b": {"cost": 0.10, "throughput": 8.0}},
    "a": {"src": {"cost": 0.02, "throughput": 4.0}, "b": {"cost": 0.01, "throughput": 8.0}},
    "b": {"src": {"cost": 0.10, "throughput": 8.0}, "a": {"cost": 0.01, "throughput": 8.0}},
}
CONFIG = {"id": "t", "src": "src", "dsts": ["a", "b"], "num_partitions": 2, "data_gb": 100.0}


def test_cost_of_a_relay_tree_counts_shared_edges_once():
    # Both partitions: src->a, then a->b for b (src->a is shared by both destinations).
    routing = {"a": {"0": [["src", "a"]], "1": [["src", "a"]]},
               "b": {"0": [["src", "a"], ["a", "b"]], "1": [["src", "a"], ["a", "b"]]}}
    assert simulator.check_routing(CONFIG, GRAPH, routing) == []
    report = simulator.broadcast_cost(CONFIG, GRAPH, routing)
    # Egress: per partition 50 GB x (0.02 + 0.01) = 1.5, two partitions = 3.0.
    assert report["egress_cost"] == pytest.approx(3.0)
    # Time: src->a carries 2 x 50 GB at 4 Gbps = 200 s; 3 regions x VMs x price x 200 s.
    assert report["transfer_s"] == pytest.approx(200.0)
    instance = 3 * simulator.VMS_PER_REGION * simulator.VM_PRICE_PER_HOUR * 200 / 3600
    assert report["instance_cost"] == pytest.approx(instance, abs=1e-3)
    assert report["total_cost"] == pytest.approx(3.0 + instance, abs=1e-3)


def test_direct_routing_costs_more_egress():
    direct = {"a": {"0": [["src", "a"]], "1": [["src", "a"]]}, "b": {"0": [["src", "b"]], "1": [["src", "b"]]}}
    report = simulator.broadcast_cost(CONFIG, GRAPH, direct)
    assert report["egress_cost"] == pytest.approx(100 * 0.02 + 100 * 0.10)


def test_invalid_routings_are_reported():
    missing = {"a": {"0": [["src", "a"]]}}
    problems = simulator.check_routing(CONFIG, GRAPH, missing)
    assert any("partition 1" in p for p in problems) and any("destination b" in p for p in problems)
    broken = {"a": {"0": [["src", "a"]], "1": [["src", "a"]]}, "b": {"0": [["a", "b"]], "1": [["src", "a"]]}}
    problems = simulator.check_routing(CONFIG, GRAPH, broken)
    assert any("does not start" in p for p in problems) and any("ends at a" in p for p in problems)


def test_seed_dijkstra_routes_in_the_sandbox():
    report, error = evaluator.price(evaluator.SEED, CONFIG, GRAPH)
    assert error is None
    # Cheapest path to b is src->a->b (0.03 < 0.10); to a it is direct.
    assert report["egress_cost"] == pytest.approx(3.0)


def test_generated_topology_is_complete_and_deterministic():
    g = simulator.make_topology(0)
    assert g == simulator.make_topology(0)
    assert len(g) == 18 and all(len(edges) == 17 for edges in g.values())
    assert g["aws:us-east-1"]["aws:us-west-2"]["cost"] < g["aws:us-east-1"]["gcp:us-east4"]["cost"]
    assert simulator.make_configs(0) == simulator.make_configs(0)


def test_broken_candidate_scores_zero_with_the_error():
    evaluate = evaluator.make_evaluator(GRAPH)
    score, info = evaluate("def search_algorithm(src, dsts, G, n):\n    return {}\n", CONFIG)
    assert score == 0.0 and "invalid routing" in info["error"]
    score, info = evaluate("def search_algorithm(src, dsts, G, n):\n    raise KeyError('x')\n", CONFIG)
    assert score == 0.0 and "KeyError" in info["error"]


# Multicast-aware: route each destination from the cheapest node already in the tree.
TREE = '''def search_algorithm(src, dsts, G, num_partitions):
    topo = BroadCastTopology(src, dsts, num_partitions)
    reached = {src: []}
    for dst in sorted(dsts, key=lambda d: G[src][d]["cost"]):
        via = min(reached, key=lambda n: G[n][dst]["cost"])
        reached[dst] = reached[via] + [[via, dst]]
    for dst in dsts:
        for p in range(num_partitions):
            topo.set_dst_partition_paths(dst, p, reached[dst])
    return topo
'''


@pytest.mark.filterwarnings("ignore:max_metric_calls")
def test_scripted_run_smoke(tmp_path):
    lm = ScriptedLM(lambda prompt: fenced(TREE))
    out = main.run(budget=8, reflection_lm=lm, n_configs=3, verbose=False,
                   run_dir=str(tmp_path / "run"))
    assert lm.prompts
    assert out["evaluator_calls"] <= 8
    assert out["optimized_cost"] <= out["baseline_cost"]
    assert out["errors"] == []
