"""How long resuming a long run takes, and how much memory it needs, on synthetic large runs.

A resume opens the run store and replays every record into a fresh score
board (``SQLiteStore.open`` + ``honing._replay.replay``, what ``Engine.run``
does before its first proposal), each in a fresh interpreter so that its peak
memory (VmHWM) is its own. The synthetic runs are ``bench/_large_store.py``'s
(real reflection prompts, minibatch evaluations for every child, full
validation scoring of the accepted ones: nearly every evaluation belongs to a
pool member); ``--run-dir`` adds runs the engine made, where most children
lose their minibatch. Each is copied before its resume, which writes a session
into the store.

    python bench/resume.py                            # 100,000 and 1,000,000 evaluations (about 5 minutes)
    python bench/resume.py --scales 0.1 --keep /tmp/large
    python bench/resume.py --keep /tmp/large --honing ../older-checkout   # the same runs, another honing
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CHILD = """
import json, random, sqlite3, sys, time
sys.path.insert(0, {bench!r})
from honing._replay import replay
from honing._scoreboard import ScoreBoard
from honing.store import RunHeader, SQLiteStore
from honing.store._rows import read_header

started = time.perf_counter()
with sqlite3.connect({db!r}) as conn:  # the run's own header, and its validation examples
    header = read_header(conn)
    val = [key for (key,) in conn.execute("SELECT DISTINCT example_key FROM evaluations WHERE split = 'val'")]
board = ScoreBoard(val, "instance", None, keep_top=False)
store = SQLiteStore.for_run_dir({run_dir!r})
stored = store.open(header, {{}})
opened = time.perf_counter()
try:
    state = replay(board, stored, retire_losers=True)
except TypeError:  # a honing from before retiring during the replay: the engine retired afterwards
    state = replay(board, stored)
    for candidate in stored.candidates:
        if candidate.origin != "refined" and candidate.id not in state.judged:
            board.retire(candidate.id)
del stored
done = time.perf_counter()
store.close()
with open("/proc/self/status") as status:
    peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024
import honing
print(json.dumps({{"honing": honing.__file__, "open_s": round(opened - started, 2), "replay_s": round(done - opened, 2),
                  "resume_s": round(done - started, 2), "peak_mb": round(peak, 1), "spent": state.spent,
                  "kept": board.candidate_count, "pool": board.pool_size}}))
"""


def resume_once(python: str, honing_dir: Path, run_dir: Path, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "run"
        shutil.copytree(run_dir, copy)
        code = CHILD.format(bench=str(HERE), db=str(copy / "honing.db"), run_dir=str(copy))
        env = dict(os.environ, PYTHONPATH=f"{honing_dir}{os.pathsep}{HERE}")
        load = open("/proc/loadavg").read().split()[0] if os.path.exists("/proc/loadavg") else "?"
        # cwd: not this checkout, which ``-c`` would put first on the path, ahead of ``--honing``
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env, timeout=timeout,
                              cwd=tmp)
    if done.returncode != 0:
        raise RuntimeError(f"resume of {run_dir} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]), load_before=load)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", default="0.1,1", help="fractions of the full large shape (default 0.1,1)")
    parser.add_argument("--run-dir", type=Path, action="append", default=[],
                        help="also resume this run (a copy of it), e.g. one bench/scaling.py made; repeatable")
    parser.add_argument("--keep", help="where the synthetic runs are kept (and reused); default: a temp dir")
    parser.add_argument("--python", default=sys.executable)
    parser.add_argument("--honing", type=Path, default=HERE.parent, help="the checkout honing is imported from")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    from _large_store import Shape, make_large_store

    full = Shape()
    rows = []
    runs: list[tuple[str, Path]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for scale in (float(s) for s in args.scales.split(",") if s):
            shape = Shape(candidates=int(full.candidates * scale), evaluations=int(full.evaluations * scale),
                          val_size=full.val_size, train_size=full.train_size)
            run_dir = Path(args.keep or tmp) / f"large-{scale:g}"
            if not (run_dir / "honing.db").exists():
                print(f"writing {shape.candidates:,} candidates / {shape.evaluations:,} evaluations to {run_dir}",
                      flush=True)
                make_large_store(run_dir, shape, log=None)
            runs.append((f"synthetic: {shape.candidates:,} candidates, {shape.evaluations:,} evaluations", run_dir))
        runs += [(f"{run_dir}", run_dir) for run_dir in args.run_dir]
        for name, run_dir in runs:
            record = resume_once(args.python, args.honing.resolve(), run_dir, args.timeout)
            rows.append((name, (run_dir / "honing.db").stat().st_size / 2**20, record))
            print(json.dumps(record), flush=True)
    print(f"\nhoning from {args.honing.resolve()}, {time.strftime('%Y-%m-%d %H:%M')}\n")
    print("| run | store (MiB) | open (s) | replay (s) | resume (s) | peak RSS (MB) | evaluations | candidates kept "
          "| load |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, mib, r in rows:
        print(f"| {name} | {mib:.0f} | {r['open_s']} | {r['replay_s']} | {r['resume_s']} | {r['peak_mb']} | "
              f"{r['spent']:,} | {r['kept']:,} | {r['load_before']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
