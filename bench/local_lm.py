"""Benchmark the embedded local models: token rates, seconds per proposal, and the demo.

    python bench/local_lm.py rates [--models ...]             # load time and token rates per model
    python bench/local_lm.py proposals --label after --json P.json [--tasks sorting,circle_packing] [--n 4]
        [--code /path/to/other/checkout] [--threads 1] [--speculation ngram_simple:16:4] [--no-hints]
        [--no-compact]
    python bench/local_lm.py demo --json D.json [--runs 1]    # honing demo, one subprocess per run
    python bench/local_lm.py report P.json [D.json] [--write] # tables (and the BENCHMARKS.md section)

``proposals`` answers the engine's own reflection prompts for the sorting and
circle-packing examples (``_local_lm_worker.py``) with ``--code``'s honing
(default: this checkout), so the code before a change and after it are
measured the same way on the same machine: seconds per proposal, prompt and
reply tokens, prompt and generation rates, and what the proposals were worth
(usable replies, valid children, children better than the seed). Every run
appends to its JSON file, so a benchmark can be built up in short slices, each
under the exclusive CPU lock; the load average before and after every call is
recorded next to it. ``report`` prints the tables; ``--write`` puts them in
BENCHMARKS.md under "## Local models".
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import _benchmarks_md as benchmarks_md  # noqa: E402

WORKER = Path(__file__).resolve().parent / "_local_lm_worker.py"
SECTION = "## Local models"
_LOCAL_MODELS = ("local/qwen2.5-coder-1.5b", "local/qwen2.5-coder-0.5b", "local/smollm2-135m")


# -- storage ----------------------------------------------------------------------------------------
def load_records(path: str | None) -> list[dict]:
    if not path or not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)["records"]


def append_records(path: str | None, new: list[dict]) -> None:
    """Add records to the JSON file (written whole, through a temp file, so an interrupted write loses nothing)."""
    if not path:
        return
    records = load_records(path) + new
    temp = f"{path}.tmp"
    with open(temp, "w", encoding="utf-8") as handle:
        json.dump({"records": records}, handle, indent=1)
    os.replace(temp, path)


def machine() -> str:
    return (f"{os.cpu_count()} CPU cores ({platform.machine()}), Python {platform.python_version()}, "
            f"{time.strftime('%Y-%m-%d')}")


# -- proposals ------------------------------------------------------------------------------------------
def run_proposals(args: argparse.Namespace) -> int:
    code = os.path.abspath(args.code or ROOT)
    env = {**os.environ, "PYTHONPATH": code + os.pathsep + os.environ.get("PYTHONPATH", "")}
    if args.no_compact:
        env["BENCH_NO_COMPACT"] = "1"
    if args.edit_threshold is not None:
        env["BENCH_EDIT_THRESHOLD"] = str(args.edit_threshold)
    extra = []
    if args.threads:
        extra += ["--threads", str(args.threads)]
    if args.speculation:
        extra += ["--speculation", args.speculation]
    if args.no_hints:
        extra += ["--no-hints"]
    for task in [t for t in args.tasks.split(",") if t]:
        print(f"[{time.strftime('%H:%M:%S')}] {args.label}: {task}, {args.n} proposals ...", file=sys.stderr,
              flush=True)
        load = os.getloadavg()
        done = subprocess.run([sys.executable, str(WORKER), "--task", task, "--n", str(args.n), "--model", args.model,
                               *extra], env=env, cwd=str(ROOT), capture_output=True, text=True)
        lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            print(done.stderr[-3000:], file=sys.stderr)
            return 1
        setup = next(line for line in lines if line["kind"] == "setup")
        records = [{"label": args.label, "task": task, "model": args.model, "code": code, "setup": setup,
                    "options": extra + (["--no-compact"] if args.no_compact else [])
                    + ([f"--edit-threshold {args.edit_threshold}"] if args.edit_threshold is not None else []),
                    "machine": machine(),
                    "loadavg_start": load, "loadavg_end": os.getloadavg(), **line}
                   for line in lines if line["kind"] == "proposal"]
        append_records(args.json, records)
        print(proposal_table(records), file=sys.stderr)
    return 0


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.fmean(values) if values else None


def _fmt(value, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def summarize(records: list[dict]) -> dict:
    """Per-proposal means over a group of records."""
    calls = [c for r in records for c in r["calls"]]
    per = lambda key: [sum(c[key] or 0 for c in r["calls"]) for r in records]  # noqa: E731
    loads = [x for c in calls for x in c["load"]]
    return {
        "n": len(records),
        "seconds": _mean([r["wall_s"] for r in records]),
        "prompt_tokens": _mean(per("prompt_tokens")),
        "cached": _mean(per("cached")) if any(c["cached"] is not None for c in calls) else None,
        "completion_tokens": _mean(per("completion_tokens")),
        "prompt_tps": _mean([c["prompt_tps"] for c in calls]),
        "gen_tps": _mean([c["gen_tps"] for c in calls]),
        "usable": sum(r["child_score"] is not None for r in records),
        "valid": sum((r["child_score"] or 0) > 0 for r in records),
        "better": sum((r["child_score"] or 0) > r["seed_score"] for r in records),
        "load": (min(loads), max(loads)) if loads else None,
    }


def proposal_table(records: list[dict]) -> str:
    rows = ["| task | code | proposals | s per proposal | prompt tok (cached) | reply tok | prompt tok/s | gen tok/s "
            "| usable / valid / better than seed | load avg (min-max) |",
            "|---|---|---:|---:|---:|---:|---:|---:|---|---|"]
    groups: dict[tuple[str, str], list[dict]] = {}
    for record in records:
        groups.setdefault((record["task"], record["label"]), []).append(record)
    for (task, label), group in groups.items():
        s = summarize(group)
        load = "—" if s["load"] is None else f"{s['load'][0]:.1f}-{s['load'][1]:.1f}"
        rows.append(f"| {task} | {label} | {s['n']} | {_fmt(s['seconds'], '.1f')} | "
                    f"{_fmt(s['prompt_tokens'], '.0f')} ({_fmt(s['cached'], '.0f')}) | "
                    f"{_fmt(s['completion_tokens'], '.0f')} | {_fmt(s['prompt_tps'], '.0f')} | "
                    f"{_fmt(s['gen_tps'], '.1f')} | {s['usable']} / {s['valid']} / {s['better']} | {load} |")
    return "\n".join(rows)


# -- the demo -----------------------------------------------------------------------------------------------
_DEMO_LINE = re.compile(r"seed score ([\d.]+) -> best score ([\d.]+) \((\d+) proposals.*?(\d+) s\)")


def run_demo(args: argparse.Namespace) -> int:
    import tempfile

    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="honing-demo-bench-") as tmp:
            load = os.getloadavg()
            started = time.monotonic()
            done = subprocess.run([sys.executable, "-m", "honing.cli", "demo", "--run-dir", os.path.join(tmp, "run"),
                                   *args.demo_args], env=env, cwd=tmp, capture_output=True, text=True)
            wall = time.monotonic() - started
        match = _DEMO_LINE.search(done.stdout)
        record = {"kind": "demo", "wall_s": wall, "returncode": done.returncode, "loadavg_start": load,
                  "loadavg_end": os.getloadavg(), "machine": machine(), "args": args.demo_args,
                  "tail": done.stdout[-1500:] + done.stderr[-500:]}
        if match:
            record.update(seed=float(match.group(1)), best=float(match.group(2)), proposals=int(match.group(3)))
        append_records(args.json, [record])
        outcome = f"seed {record['seed']:.3f} -> best {record['best']:.3f}" if match else "no result"
        print(f"demo: {outcome} "
              f"in {wall:.0f} s (load {load[0]:.1f} -> {record['loadavg_end'][0]:.1f})", file=sys.stderr, flush=True)
    return 0


def demo_table(records: list[dict]) -> str:
    runs = [r for r in records if r.get("kind") == "demo"]
    if not runs:
        return "no demo runs recorded"
    beat = [r for r in runs if r.get("best") is not None and r["best"] > r["seed"]]
    walls = sorted(r["wall_s"] for r in runs)
    loads = [x for r in runs for x in (r["loadavg_start"][0], r["loadavg_end"][0])]
    lines = [f"{len(beat)} of {len(runs)} runs beat the seed; median wall-clock {statistics.median(walls):.0f} s "
             f"(min {walls[0]:.0f}, max {walls[-1]:.0f}); load average {min(loads):.1f}-{max(loads):.1f} at the "
             "starts and ends of the runs", "",
             "| run | seed | best | proposals | wall-clock s | load avg start -> end |",
             "|---:|---:|---:|---:|---:|---|"]
    for number, r in enumerate(runs, 1):
        lines.append(f"| {number} | {_fmt(r.get('seed'), '.3f')} | {_fmt(r.get('best'), '.3f')} | "
                     f"{r.get('proposals', '—')} | {r['wall_s']:.0f} | {r['loadavg_start'][0]:.1f} -> "
                     f"{r['loadavg_end'][0]:.1f} |")
    return "\n".join(lines)


# -- token rates per model (the old table) ----------------------------------------------------------------------
def run_rates(args: argparse.Namespace) -> int:
    prompt = [{"role": "system", "content": "You are a careful senior engineer."},
              {"role": "user", "content": ("Case: 20 jobs on 3 workers finished at 140, the best known schedule "
                                           "finishes at 110; the longest jobs were placed last.\n") * 60
               + "\nPropose an improved scheduling function."}]
    rows = ["| model | threads | busy processes beside it | load (s) | prompt tok/s | generation tok/s "
            "| s per call (in / out tokens) | load avg |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        for name in args.models:
            rows += _rate_rows(name, prompt, args)
    finally:
        for process in busy:
            process.kill()
            process.wait()
    print("\n".join(rows))
    return 0


def _rate_rows(name: str, prompt: list[dict], args: argparse.Namespace) -> list[str]:
    from honing.llm import LocalLM, _local
    from honing.llm._model_files import ModelFileError, model_path

    try:
        model_path(name)
    except ModelFileError as error:
        print(f"skipped {name}: {str(error).splitlines()[0]}", file=sys.stderr)
        return []
    _local.unload_models()
    lm = LocalLM(name, max_tokens=args.gen, temperature=0.7, n_threads=args.threads, seed=1)
    load_s = lm.load()
    before = os.getloadavg()[0]
    completion, reply = lm.chat_reply(prompt)
    t = reply.timings
    threads = lm.threads_in_use
    _local.unload_models()
    return [f"| `{name}` | {threads} | {args.busy} | {load_s:.1f} | {t.get('prompt_per_second', 0):.0f} | "
            f"{t.get('predicted_per_second', 0):.1f} | {completion.duration_s:.1f} ({completion.prompt_tokens} / "
            f"{completion.completion_tokens}) | {before:.1f} -> {os.getloadavg()[0]:.1f} |"]


# -- report --------------------------------------------------------------------------------------------------------
def report(args: argparse.Namespace) -> int:
    records = [r for path in args.json for r in load_records(path)]
    proposals = [r for r in records if r.get("kind") == "proposal"]
    text = ""
    if proposals:
        text += proposal_table(proposals) + "\n"
    if any(r.get("kind") == "demo" for r in records):
        text += "\n" + demo_table(records) + "\n"
    print(text)
    if args.write:
        write_section(args.intro + "\n\n" + text if args.intro else text)
    return 0


def write_section(body: str) -> None:
    """Replace only the ``## Local models`` section, leaving other sections alone."""
    benchmarks_md.write_section(SECTION.removeprefix("## "), body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("proposals", help="seconds per proposal on the examples' reflection prompts")
    p.add_argument("--label", required=True, help="a name for this configuration, e.g. before / after")
    p.add_argument("--tasks", default="sorting,circle_packing")
    p.add_argument("--n", type=int, default=4, help="proposals per task")
    p.add_argument("--model", default="local/qwen2.5-coder-1.5b")
    p.add_argument("--code", default=None, help="checkout whose honing is measured (default: this one)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--speculation", default=None, help="kind[:n_max[:ngram]] (after the change only)")
    p.add_argument("--no-hints", action="store_true", help="no reply budget or early stop (after the change only)")
    p.add_argument("--no-compact", action="store_true", help="the full prompt layout even for the local model")
    p.add_argument("--edit-threshold", type=int, default=None,
                   help="offer SEARCH/REPLACE edits for candidates longer than this (after the change only)")
    p.add_argument("--json", default=None, help="append the records here")
    p.set_defaults(run=run_proposals)
    d = sub.add_parser("demo", help="run honing demo and record its scores and wall-clock")
    d.add_argument("--runs", type=int, default=1)
    d.add_argument("--json", default=None)
    d.add_argument("demo_args", nargs="*", help="extra arguments for honing demo (after --)")
    d.set_defaults(run=run_demo)
    r = sub.add_parser("rates", help="load time and token rates per installed model")
    r.add_argument("--models", nargs="*", default=list(_LOCAL_MODELS))
    r.add_argument("--threads", type=int, default=None)
    r.add_argument("--busy", type=int, default=0, help="busy-loop processes running beside the model (load)")
    r.add_argument("--gen", type=int, default=300, help="reply tokens at most")
    r.set_defaults(run=run_rates)
    w = sub.add_parser("report", help="print (and with --write store) the tables of recorded runs")
    w.add_argument("json", nargs="+")
    w.add_argument("--write", action="store_true")
    w.add_argument("--intro", default="", help="text before the tables in BENCHMARKS.md")
    w.set_defaults(run=report)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    raise SystemExit(main())
