"""Quality benchmark: honing vs GEPA 0.1.4 on the same tasks, model, budget and seeds.

    python bench/quality.py                                   # defaults: all tasks, 3 seeds (hours on 2 CPUs)
    python bench/quality.py --tasks circle_packing,blackbox --seeds 1 --budget circle_packing=6 \\
        --budget blackbox=20 --max-proposals 5 --model local/qwen2.5-coder-0.5b --bb-problems ackley-2d,levy-4d

For every task and seed, each engine runs in its own subprocess
(``bench/_quality_worker.py``; GEPA with ``.bench-venv/gepa``'s interpreter, made by
``bench/setup_gepa_venv.sh``). The reflection model is served once by ``honing
serve-lm`` on loopback and reached by both engines through the same client
(``honing.lm(endpoint)``), one request at a time, so neither gets a better model
or a faster one. Runs are sequential, so they never compete for the CPU.

Reported per task and system: the median over seeds of the best candidate's score
re-measured from scratch by the task's own scorer, the evaluator calls counted by
a wrapper around the evaluator, and the wall-clock of the optimization. Plain
baselines run in this process: the seed candidate, random restarts (circle
packing), Optuna TPE and random search with the same evaluations per function
(black-box). Tasks: ``circle_packing``, ``blackbox`` and any ``examples/<name>/``
with an ``evaluator.py`` exposing ``SEED``/``OBJECTIVE``/``BACKGROUND``/``evaluate``
(``prompt_opt``); missing ones are listed as skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import _quality_tasks as tasks  # noqa: E402

GEPA_PY = os.path.join(REPO, ".bench-venv", "gepa", "bin", "python")
WORKER = os.path.join(HERE, "_quality_worker.py")
DEFAULT_BUDGETS = {"circle_packing": 20, "blackbox": 60, "prompt_opt": 60}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", default="circle_packing,blackbox,prompt_opt")
    p.add_argument("--engines", default="honing,gepa")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 per task and engine")
    p.add_argument("--budget", action="append", default=[], metavar="TASK=N",
                   help=f"max_metric_calls per task (defaults {DEFAULT_BUDGETS})")
    p.add_argument("--max-proposals", type=int, default=None, help="also stop each run after N proposals")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--model", default="local/qwen2.5-coder-1.5b", help="embedded model served to both engines")
    p.add_argument("--task-model", default="local/qwen2.5-coder-0.5b",
                   help="prompt_opt only: the model whose system prompt is optimized, served once for both engines")
    p.add_argument("--lm", default=None, help="use this endpoint ('http://host:port/v1#model') instead of serving "
                                              "('stub': no model, checks the pipeline)")
    p.add_argument("--max-tokens", type=int, default=None, help="reply limit per LM call, the same for both engines")
    p.add_argument("--port", type=int, default=0, help="port for honing serve-lm (0: a free one)")
    p.add_argument("--bb-problems", default="", help="comma-separated subset of the black-box suite")
    p.add_argument("--bb-evals", type=int, default=100, help="objective evaluations per black-box function")
    p.add_argument("--run-timeout", type=float, default=3600.0, help="kill a worker after this many seconds")
    p.add_argument("--json", default=None, help="write all records here; an existing file is resumed: runs it "
                                                 "already holds (ok) are skipped, the new ones added")
    p.add_argument("--fresh", action="store_true", help="start over even if --json already holds runs")
    p.add_argument("--max-runs", type=int, default=None,
                   help="run at most N engine runs this time, then stop (a slice; run again to continue)")
    p.add_argument("--report", nargs="+", default=None, metavar="JSON",
                   help="run nothing: print the combined table and verdicts of earlier --json files")
    return p.parse_args(argv)


def task_options(args, name: str) -> dict:
    if name == "blackbox":
        opts = {"evals_per_function": args.bb_evals}
        if args.bb_problems:
            opts["problems"] = [s for s in args.bb_problems.split(",") if s]
        return opts
    return {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, port: int) -> tuple[subprocess.Popen, str]:
    port = port or free_port()
    proc = subprocess.Popen([sys.executable, "-m", "honing.cli", "serve-lm", "--model", model, "--port", str(port)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"honing serve-lm exited: {proc.stderr.read().decode()[-2000:]}")
        try:
            with urllib.request.urlopen(url + "/models", timeout=2):
                return proc, f"{url}#{model.split('/')[-1]}"
        except OSError:
            time.sleep(1)
    proc.kill()
    raise RuntimeError("honing serve-lm did not come up within 300 s")


def run_worker(engine: str, name: str, budget: int, seed: int, lm: str, args, env: dict | None = None) -> dict:
    python = sys.executable if engine == "honing" else GEPA_PY
    cmd = [python, WORKER, "--engine", engine, "--task", name, "--budget", str(budget), "--seed", str(seed),
           "--lm", lm, "--workers", str(args.workers), "--task-options", json.dumps(task_options(args, name))]
    if args.max_proposals:
        cmd += ["--max-proposals", str(args.max_proposals)]
    if args.max_tokens:
        cmd += ["--max-tokens", str(args.max_tokens)]
    started = time.monotonic()
    try:
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=args.run_timeout,
                              env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        return {"engine": engine, "task": name, "seed": seed, "ok": False, "error": "worker timed out",
                "wall_clock_s": time.monotonic() - started}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"engine": engine, "task": name, "seed": seed, "ok": False,
                "error": f"worker exit {done.returncode}: {done.stderr[-1500:]}"}
    return json.loads(lines[-1])


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, spec):
    return "—" if value is None else format(value, spec)


def table(records: list[dict], baselines: dict[str, dict], names: list[str], engines: list[str]) -> str:
    rows = ["| task | system | median best score | scores per seed | evaluator calls (median) | LM calls (median) "
            "| wall-clock s (median) | s per LM call (median) | runs |",
            "|---|---|---:|---|---:|---:|---:|---:|---|"]
    for name in names:
        for engine in engines:
            runs = sorted((r for r in records if r["task"] == name and r["engine"] == engine), key=lambda r: r["seed"])
            good = [r for r in runs if r.get("ok")]
            label = "honing" if engine == "honing" else "GEPA 0.1.4"
            per_call = [r["wall_clock_s"] / r["lm_calls"] for r in good if r.get("lm_calls")]
            rows.append(f"| {name} | {label} | {fmt(median([r['final_score'] for r in good]), '.4f')} | "
                        f"{' / '.join(format(r['final_score'], '.4f') for r in good) or '—'} | "
                        f"{fmt(median([r['evaluator_calls'] for r in good]), '.0f')} | "
                        f"{fmt(median([r.get('lm_calls') for r in good]), '.0f')} | "
                        f"{fmt(median([r['wall_clock_s'] for r in good]), '.0f')} | "
                        f"{fmt(median(per_call), '.0f')} | {len(good)}/{len(runs)} ok |")
        by_method: dict[str, list[dict]] = {}
        for seed_rows in baselines.get(name, {}).values():
            for method, row in seed_rows.items():
                by_method.setdefault(method, []).append(row)
        for method, rows_ in by_method.items():
            rows.append(f"| {name} | {method} | {fmt(median([r['score'] for r in rows_]), '.4f')} | | "
                        f"{fmt(median([r.get('evaluator_calls') for r in rows_]), '.0f')} | | "
                        f"{fmt(median([r['wall_clock_s'] for r in rows_]), '.1f')} | | baseline |")
    return "\n".join(rows)


def verdicts(records: list[dict], names: list[str]) -> list[str]:
    """Per task: is honing's median best score at least GEPA's, and its median wall-clock at most 60% of GEPA's?"""
    lines = []
    for name in names:
        got = {}
        for engine in ("honing", "gepa"):
            good = [r for r in records if r["task"] == name and r["engine"] == engine and r.get("ok")]
            got[engine] = (median([r["final_score"] for r in good]), median([r["wall_clock_s"] for r in good]))
        (h_score, h_wall), (g_score, g_wall) = got["honing"], got["gepa"]
        if None in (h_score, g_score, h_wall, g_wall):
            lines.append(f"{name}: not comparable (a system has no successful run)")
            continue
        score_ok, ratio = h_score >= g_score - 1e-9, h_wall / g_wall
        lines.append(f"{name}: median best score honing {h_score:.4f} vs GEPA {g_score:.4f} "
                     f"({'at least' if score_ok else 'BELOW'} GEPA's); wall-clock {ratio:.0%} of GEPA's "
                     f"({'within' if ratio <= 0.6 else 'over'} the 60% target)")
    return lines


def report(paths: list[str]) -> int:
    """Print the combined table of earlier runs (their --json files)."""
    records, baselines, headers = [], {}, []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        records += data["records"]
        baselines.update(data["baselines"])
        headers.append(data.get("header") or f"{path}: interrupted run")
    names = list(dict.fromkeys(r["task"] for r in records))
    engines = list(dict.fromkeys(r["engine"] for r in records))
    print("\n".join(headers))
    print(table(records, baselines, names, engines))
    print("\n".join(verdicts(records, names)))
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.report:
        return report(args.report)
    engines = [e for e in args.engines.split(",") if e]
    budgets = dict(DEFAULT_BUDGETS)
    for item in args.budget:
        key, _, value = item.partition("=")
        budgets[key] = int(value)
    names, skipped = tasks.available([t for t in args.tasks.split(",") if t])
    for name, why in skipped.items():
        print(f"skipping task {name}: {why}", file=sys.stderr)
    if "gepa" in engines and not os.path.exists(GEPA_PY):
        subprocess.run(["bash", os.path.join(HERE, "setup_gepa_venv.sh")], check=True)
    servers, env = [], {}
    lm = args.lm
    started = datetime.now(timezone.utc)
    settings = run_settings(args, budgets, names, engines)
    records, baselines = resume(args.json, settings) if args.json and not args.fresh else ([], {})
    done = {(r["task"], r["seed"], r["engine"]) for r in records if r.get("ok")}
    todo = [(name, seed, engine) for name in names for seed in range(args.seeds)
            # Alternate which engine goes first, so that a machine getting slower or faster
            # during the benchmark does not favour one of them.
            for engine in (engines if seed % 2 == 0 else engines[::-1]) if (name, seed, engine) not in done]
    if args.max_runs is not None:
        todo = todo[:args.max_runs]
    if done:
        print(f"resuming {args.json}: {len(done)} runs done, {len(todo)} to run now", file=sys.stderr)
    try:
        if todo and lm is None:
            server, lm = start_server(args.model, args.port)
            servers.append(server)
        if todo and "prompt_opt" in names:  # one served task model, shared by both engines and the baseline
            server, env["PROMPT_OPT_TASK_LM"] = start_server(args.task_model, 0)
            servers.append(server)
            os.environ.update(env)
        loaded: dict[str, object] = {}
        for name, seed, engine in todo:
            task = loaded.get(name) or loaded.setdefault(name, tasks.load(name, task_options(args, name)))
            if str(seed) not in baselines.setdefault(name, {}):
                baselines[name][str(seed)] = task.baselines(seed)
            records = [r for r in records if (r["task"], r["seed"], r["engine"]) != (name, seed, engine)]
            print(f"[{time.strftime('%H:%M:%S')}] {name} seed {seed}: {engine} ...", file=sys.stderr, flush=True)
            record = run_worker(engine, name, budgets.get(name, 40), seed, lm, args, env)
            records.append(record)
            if args.json:  # written after every run, so that an interrupted benchmark keeps its results
                write_json(args.json, None, records, baselines, skipped, settings)
            summary = (f"score {record['final_score']:.4f}, {record['evaluator_calls']} calls, "
                       f"{record.get('proposals')} proposals, {record['wall_clock_s']:.0f} s"
                       if record.get("ok") else f"FAILED: {record.get('error')}")
            print(f"    {summary}", file=sys.stderr, flush=True)
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=30)
    header = (f"{started:%Y-%m-%d}, {platform.machine()} Linux, {os.cpu_count()} CPUs, Python "
              f"{platform.python_version()}; reflection model {args.model if args.lm is None else args.lm}; "
              f"seeds {args.seeds}; budgets " + ", ".join(f"{n}={budgets.get(n, 40)}" for n in names)
              + (f"; at most {args.max_proposals} proposals per run" if args.max_proposals else "")
              + (f"; prompt_opt task model {args.task_model}" if "prompt_opt" in names else "")
              + (f"; black-box problems {args.bb_problems or 'all'} x {args.bb_evals} evaluations"
                 if "blackbox" in names else ""))
    print(header)
    print(table(records, baselines, names, engines))
    if set(engines) == {"honing", "gepa"}:
        print("\n".join(verdicts(records, names)))
    if skipped:
        print("not run: " + "; ".join(f"{k} ({v})" for k, v in skipped.items()))
    if args.json:
        write_json(args.json, header, records, baselines, skipped, settings)
    return 0


def run_settings(args, budgets: dict, names: list[str], engines: list[str]) -> dict:
    """What must match for runs to be combined in one file."""
    return {"model": args.model if args.lm is None else args.lm, "task_model": args.task_model,
            "budgets": {n: budgets.get(n, 40) for n in names}, "max_proposals": args.max_proposals,
            "max_tokens": args.max_tokens, "workers": args.workers, "bb_problems": args.bb_problems,
            "bb_evals": args.bb_evals}


def resume(path: str, settings: dict) -> tuple[list[dict], dict]:
    """The records and baselines of an earlier, interrupted or sliced, benchmark with the same settings."""
    if not os.path.exists(path):
        return [], {}
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    stored = data.get("settings")
    if stored is not None:
        changed = {k: (stored.get(k), v) for k, v in settings.items()
                   if k != "budgets" and stored.get(k) != v}
        changed.update({f"budget {n}": (stored.get("budgets", {}).get(n), b) for n, b in settings["budgets"].items()
                        if n in stored.get("budgets", {}) and stored["budgets"][n] != b})
        if changed:
            shown = "; ".join(f"{k}: {old!r} there, {new!r} now" for k, (old, new) in changed.items())
            raise SystemExit(f"{path} holds runs made with other settings ({shown}). Use another --json file, "
                             "the same settings, or --fresh to start over.")
        settings["budgets"] = {**stored.get("budgets", {}), **settings["budgets"]}  # tasks run in other slices
    baselines = {name: {str(seed): rows for seed, rows in per_seed.items()}
                 for name, per_seed in data.get("baselines", {}).items()}
    return list(data.get("records", [])), baselines


def write_json(path: str, header, records, baselines, skipped, settings=None) -> None:
    temp = f"{path}.tmp"
    with open(temp, "w", encoding="utf-8") as f:
        json.dump({"header": header, "settings": settings, "records": records, "baselines": baselines,
                   "skipped": skipped}, f, indent=1, default=str)
    os.replace(temp, path)


if __name__ == "__main__":
    raise SystemExit(main())
