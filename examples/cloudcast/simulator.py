"""Cloudcast: a generated multi-cloud topology and the cost of broadcasting a dataset over it.

Standard library only. The topology is a complete directed graph over 18 regions of three
providers; every edge carries an egress price (``cost``, $/GB) and a ``throughput`` (Gbps).
Prices follow the usual shape of public price lists: cheap inside a provider's continent,
dearer across oceans, dearest out of a provider onto the internet, and dearer still out of Asia.

Cost model of a broadcast (``broadcast_cost``):

* The dataset (``data_gb``) is split into ``num_partitions`` equal partitions, and each
  partition reaches every destination along a path of edges chosen by the routing.
* **Egress**: a partition crossing an edge pays ``cost * data_gb / num_partitions`` once, even
  when several destinations' paths share that edge (relays forward what they received).
* **Time**: the edges run in parallel; an edge carrying k partitions needs
  ``k * data_gb / num_partitions * 8 / throughput`` seconds. The transfer takes as long as the
  most loaded edge.
* **Instances**: every region touched keeps ``VMS_PER_REGION`` VMs at ``VM_PRICE_PER_HOUR``
  for the whole transfer time.
"""

from __future__ import annotations

import random

VM_PRICE_PER_HOUR = 0.54
VMS_PER_REGION = 4

REGIONS = {
    "aws": [("us-east-1", "na"), ("us-west-2", "na"), ("eu-west-1", "eu"), ("eu-central-1", "eu"),
            ("ap-northeast-1", "asia"), ("ap-southeast-1", "asia")],
    "gcp": [("us-central1", "na"), ("us-east4", "na"), ("europe-west1", "eu"), ("europe-west4", "eu"),
            ("asia-east1", "asia"), ("asia-northeast1", "asia")],
    "azure": [("eastus", "na"), ("westus2", "na"), ("westeurope", "eu"), ("northeurope", "eu"),
              ("japaneast", "asia"), ("southeastasia", "asia")],
}
# $/GB leaving a provider to the internet (another provider), by source continent.
INTERNET_EGRESS = {"aws": 0.09, "gcp": 0.12, "azure": 0.087}
ASIA_SURCHARGE = 0.03


def regions() -> dict[str, tuple[str, str]]:
    """``{"aws:us-east-1": ("aws", "na"), ...}``."""
    return {f"{p}:{name}": (p, cont) for p, names in REGIONS.items() for name, cont in names}


def make_topology(seed: int = 0) -> dict[str, dict[str, dict[str, float]]]:
    """``G[u][v] = {"cost": $/GB, "throughput": Gbps}`` for every ordered pair of regions."""
    rng = random.Random(seed)
    nodes = regions()
    graph: dict[str, dict[str, dict[str, float]]] = {u: {} for u in nodes}
    for u, (pu, cu) in nodes.items():
        for v, (pv, cv) in nodes.items():
            if u == v:
                continue
            if pu == pv:
                base = 0.02 if cu == cv else (0.08 if "asia" in (cu, cv) else 0.05)
                gbps = rng.uniform(6, 12) if cu == cv else rng.uniform(2, 5)
            else:
                base = INTERNET_EGRESS[pu]
                gbps = rng.uniform(3, 7) if cu == cv else rng.uniform(1, 3)
            if cu == "asia":
                base += ASIA_SURCHARGE
            graph[u][v] = {"cost": round(base * rng.uniform(0.9, 1.1), 4), "throughput": round(gbps, 2)}
    return graph


def make_configs(seed: int = 0, count: int = 6) -> list[dict]:
    """Broadcast jobs: a source, 3-5 destinations spread over providers, partitions and size."""
    rng = random.Random(10_000 + seed)
    names = sorted(regions())
    out = []
    for i in range(count):
        src = rng.choice(names)
        dsts = rng.sample([n for n in names if n != src], rng.choice([3, 4, 5]))
        out.append({"id": f"bc-{i}", "src": src, "dsts": dsts, "num_partitions": rng.choice([2, 4, 6]),
                    "data_gb": float(rng.choice([200, 500, 1000]))})
    return out


def check_routing(config: dict, graph: dict, routing: dict) -> list[str]:
    """Problems with a routing ``{dst: {"0": [[u, v], ...], ...}}``; empty when it is valid."""
    problems = []
    for dst in config["dsts"]:
        parts = routing.get(dst)
        if not isinstance(parts, dict):
            problems.append(f"no paths for destination {dst}")
            continue
        for p in range(config["num_partitions"]):
            path = parts.get(str(p))
            if not path:
                problems.append(f"{dst}: partition {p} has no path")
                continue
            at = config["src"]
            for hop in path:
                if len(hop) < 2:
                    problems.append(f"{dst}: partition {p}: malformed hop {hop!r}")
                    break
                u, v = hop[0], hop[1]
                if u != at:
                    problems.append(f"{dst}: partition {p}: hop {u}->{v} does not start where the path is ({at})")
                    break
                if v not in graph.get(u, {}):
                    problems.append(f"{dst}: partition {p}: no edge {u}->{v}")
                    break
                at = v
            else:
                if at != dst:
                    problems.append(f"{dst}: partition {p}: path ends at {at}, not at {dst}")
    return problems


def broadcast_cost(config: dict, graph: dict, routing: dict) -> dict:
    """Egress, instance and total cost (in $) and the transfer time of a valid routing."""
    n_parts = config["num_partitions"]
    part_gb = config["data_gb"] / n_parts
    egress = 0.0
    load: dict[tuple[str, str], int] = {}
    nodes = {config["src"]}
    for p in range(n_parts):
        tree = {(hop[0], hop[1]) for dst in config["dsts"] for hop in routing[dst][str(p)]}
        for u, v in tree:
            egress += graph[u][v]["cost"] * part_gb
            load[(u, v)] = load.get((u, v), 0) + 1
            nodes.update((u, v))
    edge_seconds = {e: k * part_gb * 8 / graph[e[0]][e[1]]["throughput"] for e, k in load.items()}
    seconds = max(edge_seconds.values(), default=0.0)
    instance = len(nodes) * VMS_PER_REGION * VM_PRICE_PER_HOUR * seconds / 3600
    bottleneck = max(edge_seconds, key=edge_seconds.get) if edge_seconds else None
    return {
        "total_cost": round(egress + instance, 4),
        "egress_cost": round(egress, 4),
        "instance_cost": round(instance, 4),
        "transfer_s": round(seconds, 1),
        "regions_used": len(nodes),
        "edges_used": len(load),
        "bottleneck": None if bottleneck is None else f"{bottleneck[0]}->{bottleneck[1]} "
                                                       f"({load[bottleneck]} partitions, "
                                                       f"{graph[bottleneck[0]][bottleneck[1]]['throughput']} Gbps)",
    }
