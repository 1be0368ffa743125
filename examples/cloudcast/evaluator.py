"""Runs a candidate ``search_algorithm`` in the sandbox and prices the routing it returns."""

from __future__ import annotations

from typing import Any

import honing as hn
from examples.cloudcast import simulator

# Defined in the sandbox before the candidate runs (a candidate may define its own instead).
PRELUDE = '''
from typing import Dict, List


class BroadCastTopology:
    """Paths per destination and partition: paths[dst][str(partition)] = [[u, v, edge_data], ...]."""

    def __init__(self, src: str, dsts: List[str], num_partitions: int = 4, paths=None):
        self.src = src
        self.dsts = dsts
        self.num_partitions = num_partitions
        self.paths = paths if paths else {dst: {str(i): None for i in range(num_partitions)} for dst in dsts}

    def set_num_partitions(self, num_partitions: int):
        self.num_partitions = num_partitions

    def set_dst_partition_paths(self, dst: str, partition: int, paths: List):
        self.paths[dst][str(partition)] = paths

    def append_dst_partition_path(self, dst: str, partition: int, path: List):
        partition = str(partition)
        if self.paths[dst][partition] is None:
            self.paths[dst][partition] = []
        self.paths[dst][partition].append(path)

'''

DRIVER = '''

def _route(src, dsts, G, num_partitions):
    topology = search_algorithm(src, list(dsts), G, num_partitions)
    paths = getattr(topology, "paths", topology)
    if not isinstance(paths, dict):
        raise TypeError(f"search_algorithm must return a BroadCastTopology or a dict, got {type(paths).__name__}")
    plain = {}
    for dst, parts in paths.items():
        plain[str(dst)] = {}
        for part, hops in (parts or {}).items():
            hops = list(hops or [])
            if hops and all(isinstance(h, str) for h in hops):  # a node list: turn it into hops
                hops = [[a, b] for a, b in zip(hops, hops[1:])]
            plain[str(dst)][str(part)] = [[str(h[0]), str(h[1])] for h in hops if len(h) >= 2]
    return plain
'''

SEED = '''import heapq


def search_algorithm(src, dsts, G, num_partitions):
    """Route every partition to every destination along its cheapest path (Dijkstra on egress cost)."""
    bc_topology = BroadCastTopology(src, dsts, num_partitions)
    for dst in dsts:
        path = dijkstra_path(G, src, dst, weight="cost")
        for i in range(len(path) - 1):
            s, t = path[i], path[i + 1]
            for j in range(bc_topology.num_partitions):
                bc_topology.append_dst_partition_path(dst, j, [s, t, G[s][t]])
    return bc_topology


def dijkstra_path(G, src, dst, weight="cost"):
    dist = {src: 0.0}
    prev = {}
    heap = [(0.0, src)]
    while heap:
        d, u = heapq.heappop(heap)
        if u == dst:
            break
        if d > dist[u]:
            continue
        for v, data in G[u].items():
            if v == src:
                continue
            nd = d + data[weight]
            if nd < dist.get(v, float("inf")):
                dist[v] = nd
                prev[v] = u
                heapq.heappush(heap, (nd, v))
    path = [dst]
    while path[-1] != src:
        path.append(prev[path[-1]])
    return path[::-1]
'''

OBJECTIVE = ("Optimize a broadcast routing algorithm for multi-cloud data transfer: route every partition of a "
             "dataset from one source region to all destination regions across AWS, GCP and Azure, minimizing "
             "total cost (egress + instance costs).")

BACKGROUND = f"""The candidate is Python source (standard library only; networkx is NOT available) defining
`search_algorithm(src, dsts, G, num_partitions)`.
- Nodes are regions such as "aws:us-east-1", "gcp:europe-west1", "azure:japaneast". G is a plain dict of dicts:
  G[u][v] = {{"cost": $ per GB of egress, "throughput": Gbps}} for every ordered pair u != v. Egress inside one
  provider and continent is cheap (~$0.02/GB); crossing continents or leaving a provider costs far more.
- Return a BroadCastTopology (already defined: BroadCastTopology(src, dsts, num_partitions) with
  append_dst_partition_path(dst, partition, [u, v, G[u][v]]) and set_dst_partition_paths(dst, partition, hops))
  or a dict paths[dst][str(partition)] = list of hops [u, v] from src to dst. Every destination must receive
  every partition 0..num_partitions-1.
- Cost: each partition (data_gb / num_partitions GB) pays an edge's egress ONCE even when paths to several
  destinations share that edge, so building a shared tree (relaying through a destination or a cheap hub)
  saves egress. Edges run in parallel; transfer time is set by the most loaded edge
  (partitions x GB x 8 / throughput); every region used keeps {simulator.VMS_PER_REGION} VMs at
  ${simulator.VM_PRICE_PER_HOUR}/h for the transfer time.
- Score = 1 / (1 + total cost in $); higher is better."""


def route(candidate: str, config: dict, graph: dict, timeout: float = 30.0) -> dict | str:
    """The candidate's routing as plain data, or the sandbox's error text."""
    result = hn.run_code(PRELUDE + candidate + DRIVER, "_route",
                         (config["src"], config["dsts"], graph, config["num_partitions"]),
                         timeout=timeout, memory_mb=512)
    if not result.ok:
        return result.feedback(2000)
    return result.value


def price(candidate: str, config: dict, graph: dict) -> tuple[dict | None, str | None]:
    """``(cost report, None)`` for a valid routing, else ``(None, what went wrong)``."""
    routing = route(candidate, config, graph)
    if isinstance(routing, str):
        return None, routing
    problems = simulator.check_routing(config, graph, routing)
    if problems:
        shown = "; ".join(problems[:8]) + (f"; ... {len(problems) - 8} more" if len(problems) > 8 else "")
        return None, f"invalid routing: {shown}"
    return simulator.broadcast_cost(config, graph, routing), None


def make_evaluator(graph: dict):
    def evaluate(candidate: str, config: dict) -> tuple[float, dict[str, Any]]:
        job = (f"{config['data_gb']:g} GB from {config['src']} to {', '.join(config['dsts'])} "
               f"in {config['num_partitions']} partitions")
        report, error = price(candidate, config, graph)
        if report is None:
            return 0.0, {"job": job, "error": error}
        return 1.0 / (1.0 + report["total_cost"]), {
            "job": job,
            "cost": (f"total ${report['total_cost']:.2f} = egress ${report['egress_cost']:.2f} + instances "
                     f"${report['instance_cost']:.2f}"),
            "transfer": (f"{report['transfer_s']:.0f} s, bottleneck {report['bottleneck']}, "
                         f"{report['regions_used']} regions and {report['edges_used']} edges used"),
        }
    return evaluate


def total_cost(candidate: str, configs: list[dict], graph: dict) -> tuple[float, list[str]]:
    """Summed cost over the configs (inf when any routing is invalid) and the errors met."""
    total, errors = 0.0, []
    for config in configs:
        report, error = price(candidate, config, graph)
        if report is None:
            errors.append(f"{config['id']}: {error}")
            total = float("inf")
        else:
            total += report["total_cost"]
    return total, errors
