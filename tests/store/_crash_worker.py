"""An optimization run for the crash test; the test SIGKILLs it at random moments.

usage: python _crash_worker.py RUN_DIR CALL_LOG BUDGET RESULT_JSON

Every evaluator call is appended to CALL_LOG with O_APPEND and fsync *before*
the evaluator returns, so the log is a faithful count of real calls even when
the process dies right after one.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import honing as hn  # noqa: E402
from honing.lm import Completion  # noqa: E402
from honing.lm._base import messages_to_text  # noqa: E402

run_dir, call_log, budget, result_json = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]


class GrowingLM:
    """Replies with one more '@' than the longest run of '@' in the prompt (a function of the prompt)."""

    def complete(self, messages):
        text = messages_to_text(messages)
        longest = max((len(r) for r in re.findall("@+", text)), default=0)
        time.sleep(0.01)
        return Completion(text=f"```\n{'@' * (longest + 1)}\n```", prompt_tokens=10, completion_tokens=5)


def evaluate(candidate: str, example: str):
    digest = hashlib.sha256(candidate.encode()).hexdigest()[:16]
    fd = os.open(call_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{digest}\t{example}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    time.sleep(random.uniform(0.005, 0.03))
    return min(candidate.count("@"), 12) / 12, {"count": candidate.count("@"), "trace": "t" * 1500}


config = hn.Config(engine=hn.EngineConfig(max_metric_calls=budget, run_dir=run_dir, max_workers=4),
                   reflection=hn.ReflectionConfig(reflection_lm=GrowingLM()))
result = hn.optimize_anything("@", evaluator=evaluate, dataset=["a", "b", "c", "d"], objective="more @",
                              config=config)
Path(result_json).write_text(json.dumps({
    "best_candidate": result.best_candidate, "best_score": result.best_score,
    "candidates": result.candidates, "candidate_ids": result.candidate_ids,
    "total_metric_calls": result.total_metric_calls, "val_scores": result.val_scores,
    "stop_reason": result.stop_reason,
}))
