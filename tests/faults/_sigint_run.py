"""A run for the Ctrl-C test: one evaluation and one LM call never return; the test sends SIGINT meanwhile.

usage: python _sigint_run.py RUN_DIR MARKS RESULT_JSON

MARKS receives "evaluation" and "lm" lines when each stuck call begins.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import honing as hn
from tests.helpers import growing_lm

run_dir, marks, result_json = sys.argv[1:4]


def mark(what: str) -> None:
    with open(marks, "a") as f:
        f.write(what + "\n")


def evaluate(candidate: str, example: str):
    if candidate == "@@" and example == "b":
        mark("evaluation")
        time.sleep(600)
    return candidate.count("@") / 10, {"count": candidate.count("@")}


class SecondCallHangs:
    def __init__(self) -> None:
        self.inner = growing_lm()
        self.calls = 0
        self.lock = threading.Lock()

    def complete(self, messages):
        with self.lock:
            self.calls += 1
            call = self.calls
        if call == 2:
            mark("lm")
            time.sleep(600)
        return self.inner.complete(messages)


config = hn.Config(engine=hn.EngineConfig(max_metric_calls=100, max_workers=2, max_proposals_in_flight=2,
                                          stop_grace_s=1.0, run_dir=run_dir, progress=False),
                   reflection=hn.ReflectionConfig(reflection_lm=SecondCallHangs()))
result = hn.optimize_anything("@", evaluate, dataset=["a", "b", "c"], objective="more @", config=config)
Path(result_json).write_text(json.dumps({"stop_reason": result.stop_reason, "best_score": result.best_score,
                                         "total_metric_calls": result.total_metric_calls}))
