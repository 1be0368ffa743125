"""Benchmark honing.sandbox: per-call overhead and throughput of both modes.

    python bench/sandbox.py            # print the table
    python bench/sandbox.py --update   # also rewrite the "## Sandbox" section of BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from honing.sandbox import run_code

ROOT = Path(__file__).resolve().parents[1]


def _one(mode: str) -> float:
    start = time.perf_counter()
    result = run_code("pass", mode=mode)
    if not result.ok:
        raise SystemExit(f"benchmark call failed: {result.error}")
    return time.perf_counter() - start


def overhead(mode: str, calls: int) -> tuple[float, float]:
    _one(mode)  # warm up imports and caches
    samples = [_one(mode) for _ in range(calls)]
    return statistics.median(samples) * 1000, statistics.quantiles(samples, n=20)[-1] * 1000


def throughput(mode: str, threads: int, calls: int) -> float:
    with ThreadPoolExecutor(threads) as pool:
        start = time.perf_counter()
        list(pool.map(lambda _: _one(mode), range(calls)))
        return calls / (time.perf_counter() - start)


def measure(quick: bool) -> list[tuple[str, float, float, float, float]]:
    rows = []
    for mode, calls in (("subprocess", 15 if quick else 40), ("inprocess", 300 if quick else 2000)):
        median, p95 = overhead(mode, calls)
        rows.append((mode, median, p95, throughput(mode, 1, calls), throughput(mode, 8, calls)))
    return rows


def render(rows: list[tuple[str, float, float, float, float]]) -> str:
    lines = [
        "| mode | overhead median (ms) | overhead p95 (ms) | calls/s, 1 thread | calls/s, 8 threads |",
        "|---|---:|---:|---:|---:|",
    ]
    lines += [f"| {m} | {med:.2f} | {p95:.2f} | {t1:.1f} | {t8:.1f} |" for m, med, p95, t1, t8 in rows]
    return "\n".join(lines)


def update_benchmarks(table: str) -> None:
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    machine = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    user = "root (per-call uid, namespaces)" if os.geteuid() == 0 else "unprivileged user"
    section = (
        "## Sandbox\n\n"
        "`python bench/sandbox.py --update`: `run_code(\"pass\")` end to end, "
        f"{machine}, running as {user}.\n\n{table}\n\n"
        "Subprocess overhead is almost all interpreter start-up (`python -I` with site-packages);"
        " in-process overhead is one worker thread per call. Figures from a shared machine"
        " vary by tens of percent between runs.\n"
    )
    pattern = re.compile(r"^## Sandbox\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: section + "\n", text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--update", action="store_true", help="rewrite the Sandbox section of BENCHMARKS.md")
    parser.add_argument("--quick", action="store_true", help="fewer calls")
    opts = parser.parse_args()
    table = render(measure(opts.quick))
    print(table)
    if opts.update:
        update_benchmarks(table)
        print(f"updated {ROOT / 'BENCHMARKS.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
