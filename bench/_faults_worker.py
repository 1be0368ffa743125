"""One optimization run for ``bench/faults.py`` (and tests/faults), meant to be SIGKILLed and resumed.

usage: python bench/_faults_worker.py RUN_DIR --log CALLS --result RESULT.json [options]

Everything that steers the run is a function of its input: the scripted LM's
reply depends only on the prompt, the evaluator's score only on the candidate
and the example. So a sequential run (``--sequential``) resumed after any
number of kills must end exactly where an uninterrupted run ends.

Each evaluator call appends ``pid<TAB>candidate hash<TAB>example`` to CALLS
with one ``O_APPEND`` write as it starts; a killed process loses nothing
already written (the page cache survives the process), so the file counts
every real call, including the ones a kill cut short.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import signal
import sys
import threading
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import honing as hn

#: The examples: a candidate scores on an example by how many of the word's letters it holds.
TRAIN = ["quartz", "jumping", "vexed", "blowzy", "fjord", "nymph", "glib", "sphinx"]
VAL = ["waltz", "quick", "brown", "foxes", "lazy", "dwarf", "jinx", "crypt", "vow", "kempt"]
SEED = "<<e>>"
CANDIDATE = re.compile(r"<<([a-z]*)>>")
MISSING = re.compile(r"missing: ([a-z]+)")


def messages_to_text(messages) -> str:
    return "\n".join(str(m.get("content", "")) if isinstance(m, dict) else str(m) for m in messages)


class ScriptedLM:
    """Adds a few of the letters the feedback says are missing (which ones: a hash of the prompt).

    One reply in four also drops a letter, so some children are worse and races have work to do.
    """

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    def complete(self, messages):
        text = messages_to_text(messages)
        found = CANDIDATE.search(text)
        current = found.group(1) if found else ""
        missing = sorted(set("".join(MISSING.findall(text))) - set(current))
        digest = zlib.crc32(text.encode())
        take = missing[digest % max(1, len(missing)):][: 1 + digest % 3] if missing else []
        letters = set(current) | set(take)
        if digest % 4 == 0 and current:
            letters.discard(current[(digest >> 4) % len(current)])
        if self.delay_s:
            time.sleep(self.delay_s)
        reply = "<<" + "".join(sorted(letters)) + ">>"
        return hn.Completion(text=f"```\n{reply}\n```", prompt_tokens=len(text) // 4, completion_tokens=10)


class Evaluator:
    """Scores a candidate by the share of the example's letters it holds; logs every call as it starts.

    ``die_on_call`` / ``die_times``: SIGKILL the process at this session's Nth call, in the first K
    sessions (counted in ``<log>.deaths``). ``die_on``: SIGKILL it whenever it evaluates this
    (candidate, example) pair, i.e. in every session that gets there.
    """

    def __init__(self, log: str, delay_s: float, die_on_call: int = 0, die_times: int = 0,
                 die_on: tuple[str, str] | None = None) -> None:
        self.log = log
        self.delay_s = delay_s
        self.die_on_call = die_on_call
        self.die_times = die_times
        self.die_on = die_on
        self.calls = 0
        self.lock = threading.Lock()

    def _maybe_die(self, candidate: str, example: str) -> None:
        with self.lock:
            self.calls += 1
            calls = self.calls
        if self.die_on == (candidate, example):
            os.kill(os.getpid(), signal.SIGKILL)
        if self.die_on_call and calls == self.die_on_call:
            deaths = Path(self.log + ".deaths")
            died = len(deaths.read_text().splitlines()) if deaths.exists() else 0
            if died < self.die_times:
                with deaths.open("a") as f:
                    f.write(f"{os.getpid()}\n")
                os.kill(os.getpid(), signal.SIGKILL)

    def __call__(self, candidate: str, example: str):
        digest = hashlib.sha256(candidate.encode()).hexdigest()[:16]
        fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{os.getpid()}\t{digest}\t{example}\n".encode())
        finally:
            os.close(fd)
        self._maybe_die(candidate, example)
        if self.delay_s:
            time.sleep(self.delay_s * (0.5 + (zlib.crc32(f"{digest}{example}".encode()) % 100) / 100))
        found = CANDIDATE.search(candidate)
        have = set(found.group(1)) if found else set()
        missing = "".join(sorted(set(example) - have))
        score = 1 - len(missing) / len(set(example))
        return score, {"missing": missing or "nothing", "letters": len(have)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--log", required=True, help="file that receives one line per evaluator call")
    parser.add_argument("--result", required=True, help="JSON file written when the run returns")
    parser.add_argument("--budget", type=int, default=150)
    parser.add_argument("--sequential", action="store_true", help="parallel=False (one worker, one proposal)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-delay", type=float, default=0.01, help="mean seconds per evaluator call")
    parser.add_argument("--lm-delay", type=float, default=0.01, help="seconds per LM call")
    parser.add_argument("--die-on-call", type=int, default=0, help="SIGKILL itself at this session's Nth call ...")
    parser.add_argument("--die-times", type=int, default=1, help="... in this many sessions")
    parser.add_argument("--die-on", help="CANDIDATE:EXAMPLE: SIGKILL itself whenever it evaluates this pair")
    args = parser.parse_args(argv)

    engine = hn.EngineConfig(max_metric_calls=args.budget, run_dir=args.run_dir, seed=args.seed, progress=False,
                             parallel=not args.sequential, max_workers=args.workers)
    config = hn.Config(engine=engine, reflection=hn.ReflectionConfig(reflection_lm=ScriptedLM(args.lm_delay)))
    die_on = tuple(args.die_on.split(":", 1)) if args.die_on else None
    evaluator = Evaluator(args.log, args.eval_delay, args.die_on_call, args.die_times, die_on)  # type: ignore[arg-type]
    result = hn.optimize_anything(SEED, evaluator=evaluator, dataset=TRAIN,
                                  valset=VAL, objective="hold every letter the examples need", config=config)
    Path(args.result).write_text(json.dumps({
        "best_candidate": result.best_candidate, "best_score": result.best_score,
        "total_metric_calls": result.total_metric_calls, "stop_reason": result.stop_reason,
        "candidates": result.candidates, "val_scores": result.val_scores,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
