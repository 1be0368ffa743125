"""What serve-lm's front costs: the same streamed request, straight to the runtime and through serve-lm.

serve-lm checks each request and relays the runtime's (llama.cpp's) own
server; this measures first-token latency, total time and chunk count both
ways, alternating, on the 0.5B model at temperature 0 (same tokens each time).

    python bench/serve_lm.py               # 5 rounds
    python bench/serve_lm.py --write       # also update BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import threading
import time
from urllib.parse import urlsplit

import _benchmarks_md as benchmarks_md

from honing.llm._local import LocalLM
from honing.llm._server import make_server

SECTION = "## serve-lm"
MODEL = "local/qwen2.5-coder-0.5b"
BODY = {"messages": [{"role": "user", "content": "Count from 1 to 30, separated by spaces. Only the numbers."}],
        "max_tokens": 60, "temperature": 0, "stream": True}


def stream_once(host: str, port: int, path: str, headers: dict[str, str]) -> tuple[float, float, int]:
    """(seconds to the first content chunk, seconds to the end, content chunks)."""
    connection = http.client.HTTPConnection(host, port, timeout=300)
    started = time.perf_counter()
    connection.request("POST", path, body=json.dumps(BODY), headers={"Content-Type": "application/json", **headers})
    response = connection.getresponse()
    first, chunks = None, 0
    for line in iter(response.readline, b""):
        if line.startswith(b"data: {"):
            delta = json.loads(line[6:])["choices"][0]["delta"].get("content")
            if delta:
                chunks += 1
                first = first or time.perf_counter() - started
        elif line.startswith(b"data: [DONE]"):
            break
    total = time.perf_counter() - started
    connection.close()
    return first or total, total, chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="update the serve-lm section of BENCHMARKS.md")
    args = parser.parse_args()

    load_before = open("/proc/loadavg").read().split()[:3]
    lm = LocalLM(MODEL, n_ctx=1024, max_tokens=60, n_threads=2)
    runtime, key = lm.endpoint()
    parts = urlsplit(runtime)
    server = make_server([lm], port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    front = server.server_address[:2]
    ways = {
        "runtime's own server": (parts.hostname, parts.port, {"Authorization": f"Bearer {key}"}),
        "through serve-lm": (front[0], front[1], {}),
    }
    results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in ways}
    stream_once(*front, "/v1/chat/completions", {})  # warm up: first request fills caches
    for _ in range(args.rounds):
        for name, (host, port, headers) in ways.items():  # alternate, so load drifts hit both alike
            results[name].append(stream_once(host, port, "/v1/chat/completions", headers))
    server.shutdown()
    load_after = open("/proc/loadavg").read().split()[:3]

    rows = []
    for name, runs in results.items():
        firsts, totals, chunks = zip(*runs, strict=True)
        rows.append((name, statistics.median(firsts), statistics.median(totals), statistics.median(chunks)))
    base = rows[0]
    lines = [
        f"{MODEL}, 60 tokens streamed at temperature 0, median of {args.rounds} alternating rounds, 2 threads; "
        "the prompt is cached after a warm-up request, so the first chunk costs about one token. "
        f"{time.strftime('%Y-%m-%d')}, {platform.machine()} {os.cpu_count()} cores, "
        f"load average {' '.join(load_before)} before, {' '.join(load_after)} after.",
        "",
        "| path | first chunk (s) | total (s) | content chunks | total vs runtime |",
        "|---|---|---|---|---|",
    ]
    for name, first, total, chunks in rows:
        lines.append(f"| {name} | {first:.3f} | {total:.3f} | {chunks:.0f} | {total / base[2]:.3f}x |")
    table = "\n".join(lines)
    print(table)
    if args.write:
        benchmarks_md.write_section(SECTION.removeprefix("## "), f"Produced by `python bench/serve_lm.py`.\n\n{table}")


if __name__ == "__main__":
    main()
