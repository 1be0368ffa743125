"""Engine cost as the data and the run grow, side by side with GEPA 0.1.4.

The LM and the evaluator are instant (``_scaling_worker.py``), so what is timed is each engine's
own bookkeeping. Two sweeps, honing and GEPA in turn at every size (the order alternates):

* validation examples: 10 / 100 / 1,000 / 10,000, 50 proposals each;
* proposals: 100 / 1,000 / 10,000, 10 validation examples.

Reported per run: wall-clock, milliseconds of engine time per evaluation and per proposal, the
per-proposal cost over the first and the last 10% of the run (flat means no growth), peak RSS and,
for honing, the size of its run store (honing always keeps a durable SQLite store; GEPA runs without
a run_dir, so nothing of it is written to disk). Both imports are inside the timed region. GEPA is
imported from the bytecode pip compiled when it was installed; honing's (and this directory's) sources
are compiled once before the sweeps for the same footing: with ``PYTHONDONTWRITEBYTECODE`` set, as on
the team machine, every honing run would otherwise compile its modules from source (0.1-0.2 s of a
small run). Peak RSS is each run's own (VmHWM). Each system runs on an interpreter of its own kind: GEPA in its
venv, honing in a plain venv with its dependencies (``.bench-venv/honing``, made on first use), so
neither pays for, or profits from, modules the other's start-up loaded. Sizes whose runs take under 5 s
are run ``--repeat`` times, interleaved, and the median reported. ``--plot`` writes a log-log PNG. The viewers on a
large stored run are timed by ``bench/store.py --large``.

    python bench/scaling.py                                  # both sweeps (about 10 minutes)
    python bench/scaling.py --examples 10,100 --proposals 100 # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _benchmarks_md as benchmarks_md  # noqa: E402

GEPA_PYTHON = HERE.parent / ".bench-venv" / "gepa" / "bin" / "python"
HONING_VENV = HERE.parent / ".bench-venv" / "honing"


def honing_python() -> Path:
    """An interpreter like GEPA's: a plain venv with honing's own dependencies, made on first use.

    Not this interpreter: its start-up may load modules a user's would not (this team machine's ``site``
    runs a ``.pth`` file that imports certifi, 72 modules and 5 MB before any code runs), which would skew
    both the import time and the peak memory compared with GEPA's clean venv. honing itself is imported
    from this checkout (``PYTHONPATH``), as GEPA is from its venv.
    """
    python = HONING_VENV / "bin" / "python"
    if not python.exists():
        import tomllib

        requires = tomllib.loads((HERE.parent / "pyproject.toml").read_text())["project"]["dependencies"]
        print(f"creating {HONING_VENV} with {', '.join(requires)}", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(HONING_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *requires],
                       check=True)
    return python


def run(system: str, examples: int, proposals: int, timeout: float) -> dict:
    python = str(GEPA_PYTHON) if system == "gepa" else str(honing_python())
    command = [python, str(HERE / "_scaling_worker.py"), "--system", system, "--examples", str(examples),
               "--proposals", str(proposals)]
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    load = open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "?"
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"system": system, "examples": examples, "proposals_asked": proposals, "timed_out": timeout,
                "load_before": load}
    if done.returncode != 0:
        raise RuntimeError(f"{system} at {examples} examples / {proposals} proposals failed:\n{done.stderr[-3000:]}")
    record = json.loads(done.stdout.strip().splitlines()[-1])
    record["load_before"] = load
    if record.get("run_dir"):
        shutil.rmtree(record["run_dir"], ignore_errors=True)
    return record


def compile_sources() -> None:
    """Bytecode for honing and the bench scripts, as pip writes it for an installed package like GEPA."""
    import compileall

    for directory in (HERE.parent / "honing", HERE):
        if not compileall.compile_dir(str(directory), quiet=1):
            raise RuntimeError(f"compiling {directory} failed")


def sweep(sizes: list[tuple[int, int]], args: argparse.Namespace) -> list[dict]:
    """Each size once per system, in alternating order; a size whose runs were short is run ``--repeat`` times.

    A run of a fraction of a second moves by tens of percent between identical runs on a shared machine,
    so those sizes are repeated (interleaved) and the run with the median wall-clock is reported.
    """
    records = []
    for i, (examples, proposals) in enumerate(sizes):
        systems = [s for s in (["honing", "gepa"] if i % 2 == 0 else ["gepa", "honing"])
                   if not (s == "gepa" and args.skip_gepa)]
        runs: dict[str, list[dict]] = {system: [] for system in systems}
        for _ in range(args.repeat):
            for system in systems:
                record = run(system, examples, proposals, args.timeout)
                runs[system].append(record)
                print(_line(record), flush=True)
            if any("timed_out" in r or r["wall_clock_s"] > SHORT_RUN_S for rs in runs.values() for r in rs):
                break
        for system in systems:
            records.append(_median_run(runs[system]))
    return records


SHORT_RUN_S = 5.0


def _median_run(runs: list[dict]) -> dict:
    """The run with the median wall-clock, with how many runs there were and their range."""
    done = sorted((r for r in runs if "timed_out" not in r), key=lambda r: r["wall_clock_s"])
    if not done:
        return runs[0]
    median = dict(done[(len(done) - 1) // 2], runs=len(done))
    median["wall_clock_range_s"] = [done[0]["wall_clock_s"], done[-1]["wall_clock_s"]]
    return median


def _line(r: dict) -> str:
    if "timed_out" in r:
        return f"{r['system']:6s} {r['examples']:6d} examples {r['proposals_asked']:6d} proposals: " \
               f"did not finish in {r['timed_out']:g} s (load {r['load_before']})"
    return (f"{r['system']:6s} {r['examples']:6d} examples {r['lm_calls']:6d} proposals: {r['wall_clock_s']:8.2f} s, "
            f"{r['evaluator_calls']:8d} evaluations, {r['ms_per_evaluation']:.4f} ms/eval, "
            f"{r['ms_per_proposal']:.3f} ms/proposal (first 10% {r['ms_per_proposal_first_10pct']}, last 10% "
            f"{r['ms_per_proposal_last_10pct']}), {r['peak_rss_mb']} MB peak (load {r['load_before']})")


def table(records: list[dict], key: str) -> str:
    rows = ["| system | examples | proposals | wall-clock (s) | of it, import (s) | evaluations | ms / evaluation "
            "| ms / proposal | ms / proposal, first 10% → last 10% | peak RSS (MB) | store (MB) | load |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in sorted(records, key=lambda r: (r[key] if key in r else 0, r["system"])):
        if "timed_out" in r:
            rows.append(f"| {r['system']} | {r['examples']} | {r['proposals_asked']} | > {r['timed_out']:g} "
                        f"(did not finish) | | | | | | | | {r['load_before']} |")
            continue
        wall = f"{r['wall_clock_s']:.2f}"
        if r.get("runs", 1) > 1:
            low, high = r["wall_clock_range_s"]
            wall += f" (median of {r['runs']}: {low:.2f}-{high:.2f})"
        rows.append(f"| {r['system']} | {r['examples']} | {r['lm_calls']} | {wall} | {r.get('import_s', '-')} | "
                    f"{r['evaluator_calls']} | {r['ms_per_evaluation']:.4f} | {r['ms_per_proposal']:.3f} | "
                    f"{r['ms_per_proposal_first_10pct']} → {r['ms_per_proposal_last_10pct']} | {r['peak_rss_mb']} | "
                    f"{r['store_mb'] if r['store_mb'] is not None else '-'} | {r['load_before']} |")
    return "\n".join(rows)


def plot(examples: list[dict], proposals: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for system in ("honing", "gepa"):
        rs = sorted((r for r in examples if r["system"] == system and "timed_out" not in r),
                    key=lambda r: r["examples"])
        if rs:
            axes[0].loglog([r["examples"] for r in rs], [r["ms_per_evaluation"] for r in rs], "o-", label=system)
        rs = sorted((r for r in proposals if r["system"] == system and "timed_out" not in r),
                    key=lambda r: r["lm_calls"])
        if rs:
            axes[1].loglog([r["lm_calls"] for r in rs], [r["ms_per_proposal_last_10pct"] for r in rs], "o-",
                           label=f"{system}, last 10% of the run")
    axes[0].set_xlabel("validation examples (50 proposals)")
    axes[0].set_ylabel("engine ms per evaluation")
    axes[1].set_xlabel("proposals (10 validation examples)")
    axes[1].set_ylabel("engine ms per proposal")
    for ax in axes:
        ax.grid(alpha=0.3, which="both")
        ax.legend()
    fig.suptitle("bench/scaling.py: engine cost with an instant LM and evaluator")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", default="10,100,1000,10000")
    parser.add_argument("--proposals", default="100,1000,10000")
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--skip-gepa", action="store_true")
    parser.add_argument("--repeat", type=int, default=5,
                        help=f"runs per system for a size whose runs take under {SHORT_RUN_S:g} s (median reported)")
    parser.add_argument("--plot", type=Path, help="write the log-log PNG here")
    benchmarks_md.add_record_options(parser, "scaling", "Scaling")
    args = parser.parse_args()
    if args.report:
        saved = json.loads(args.report.read_text())
        report(saved["examples"], saved["proposals"], saved["started"], args)
        return 0
    if not args.skip_gepa and not GEPA_PYTHON.exists():
        parser.error(f"GEPA venv missing ({GEPA_PYTHON}); run bench/setup_gepa_venv.sh (or pass --skip-gepa)")
    compile_sources()
    started = time.strftime("%Y-%m-%d %H:%M")
    by_examples = sweep([(int(n), 50) for n in args.examples.split(",") if n], args)
    by_proposals = sweep([(10, int(n)) for n in args.proposals.split(",") if n], args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"started": started, "examples": by_examples, "proposals": by_proposals}, indent=1))
    report(by_examples, by_proposals, started, args)
    return 0


def report(by_examples: list[dict], by_proposals: list[dict], started: str, args: argparse.Namespace) -> None:
    tables = ("Validation examples (50 proposals each):\n\n" + table(by_examples, "examples")
              + "\n\nProposals (10 validation examples):\n\n" + table(by_proposals, "proposals_asked"))
    print(tables)
    if args.plot:
        plot(by_examples, by_proposals, args.plot)
        print(f"wrote {args.plot}")
    if args.write:
        section = (f"`python bench/scaling.py --write` started {started}, {os.cpu_count()} cores; an "
                   "instant scripted LM and an instant evaluator, so only each engine's own bookkeeping is timed "
                   "(honing writes its SQLite store, GEPA runs without a run dir). Each system runs on a plain venv of "
                   "its own; sizes whose runs take under 5 s are run several times, interleaved, and the median run "
                   "is shown. The load average before each run is in the last column.\n\n" + tables + "\n")
        if args.plot:
            section += f"\n![scaling]({args.plot.resolve().relative_to(HERE.parent)})\n"
        benchmarks_md.write_section("Scaling", section)
        print(f"updated {benchmarks_md.PATH}")


if __name__ == "__main__":
    sys.exit(main())
