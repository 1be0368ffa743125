"""Benchmark the embedded local models: load time, token rates, seconds per call.

A "reflection-sized" call sends about 1500 prompt tokens (a function under
optimization plus evaluation feedback) and generates exactly 300 tokens, so
the figures say what one reflection step costs on this machine.

    python bench/local_lm.py                 # every installed local model
    python bench/local_lm.py --write         # also update BENCHMARKS.md
    python bench/local_lm.py --models local/smollm2-135m
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import time
from pathlib import Path

from honing.llm import _local
from honing.llm._local import LocalLM
from honing.llm._model_files import MODELS, ModelFileError, model_path

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Local models"

_FUNCTION = '''def schedule(jobs, workers):
    """Assign jobs (name, duration) to workers, minimizing the finish time."""
    loads = [0] * workers
    plan = {w: [] for w in range(workers)}
    for name, duration in sorted(jobs, key=lambda j: j[1]):
        w = loads.index(min(loads))
        plan[w].append(name)
        loads[w] += duration
    return plan, max(loads)
'''

_FEEDBACK = (
    "Case {i}: {n} jobs on {w} workers finished at {got}, the best known schedule "
    "finishes at {best}. The longest jobs were placed last, so one worker ran late. "
    "Runtime {ms} ms.\n"
)


def reflection_prompt(target_chars: int = 5200) -> list[dict]:
    """About 1500 tokens of candidate code and feedback (measured figures are reported)."""
    parts = ["You improve Python functions. Here is the current candidate:\n```python\n",
             _FUNCTION, "```\nEvaluation feedback:\n"]
    i = 0
    while sum(map(len, parts)) < target_chars:
        parts.append(_FEEDBACK.format(i=i, n=20 + i, w=3 + i % 4, got=100 + 7 * i,
                                      best=90 + 5 * i, ms=3 + i % 9))
        i += 1
    parts.append("\nPropose an improved function in a single ```python block, then explain why.")
    return [{"role": "system", "content": "You are a careful senior engineer."},
            {"role": "user", "content": "".join(parts)}]


def bench_model(name: str, repeats: int) -> dict:
    started = time.perf_counter()
    model_path(name)  # join and verify (fast after the first time)
    prepare_s = time.perf_counter() - started
    _local.unload_models()
    lm = LocalLM(name, n_ctx=4096, max_tokens=300)
    load_s = lm.load()
    engine = lm._engine
    assert engine is not None
    rows = []
    for _ in range(repeats):
        request = {
            "messages": reflection_prompt(),
            "max_tokens": 300,
            "ignore_eos": True,  # always generate the full 300 tokens
            "cache_prompt": False,  # every repeat evaluates the whole prompt
            "temperature": 0.7,
        }
        t0 = time.perf_counter()
        reply = engine.chat(request)
        wall = time.perf_counter() - t0
        timings, usage = reply["timings"], reply["usage"]
        rows.append((wall, timings["prompt_per_second"], timings["predicted_per_second"],
                     usage["prompt_tokens"], usage["completion_tokens"]))
    _local.unload_models()
    best = min(rows)
    return {
        "model": name,
        "prepare_s": prepare_s,
        "load_s": load_s,
        "prompt_tps": best[1],
        "gen_tps": best[2],
        "prompt_tokens": best[3],
        "gen_tokens": best[4],
        "call_s": best[0],
    }


def table(results: list[dict]) -> str:
    lines = [
        "| model | load (s) | prompt tok/s | generation tok/s | s per reflection-sized call |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| `{r['model']}` | {r['load_s']:.1f} | {r['prompt_tps']:.0f} | {r['gen_tps']:.1f} | "
            f"{r['call_s']:.1f} ({r['prompt_tokens']} in / {r['gen_tokens']} out) |"
        )
    return "\n".join(lines)


def write_section(body: str, path: Path = ROOT / "BENCHMARKS.md") -> None:
    """Replace only the ``## Local models`` section, leaving other sections alone."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{SECTION}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: block + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + block
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--write", action="store_true", help="update BENCHMARKS.md")
    args = parser.parse_args(argv)

    results, skipped = [], []
    for name in args.models:
        try:
            model_path(name)
        except ModelFileError as error:
            skipped.append(f"{name}: {str(error).splitlines()[0]}")
            continue
        print(f"benchmarking {name} ...", file=sys.stderr, flush=True)
        results.append(bench_model(name, args.repeats))
    if not results:
        print("no local model installed:\n" + "\n".join(skipped), file=sys.stderr)
        return 1
    figures = table(results)
    print(figures)
    for line in skipped:
        print("skipped", line, file=sys.stderr)
    if args.write:
        machine = (f"{os.cpu_count()} CPU cores ({platform.machine()}), "
                   "threads chosen by llama.cpp, "
                   f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
        body = (
            f"Measured with `python bench/local_lm.py --write` on {machine}; n_ctx 4096, "
            "one slot. A reflection-sized call is ~1500 prompt tokens in and exactly 300 "
            "generated (best of the repeats, full prompt evaluated each time). Load time is "
            "the model already joined into the cache (joining once costs a few more seconds).\n\n"
            + figures
            + "\n\nGeneration slows as the context fills, so rates on short prompts are higher "
            "than these. Figures from a shared machine vary by up to 2x between runs.\n"
        )
        write_section(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
