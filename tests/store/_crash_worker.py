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
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import honing as hn

run_dir, call_log, budget, result_json = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]


def messages_to_text(messages) -> str:
    return "\n".join(str(m.get("content", "")) if isinstance(m, dict) else str(m) for m in messages)


class GrowingLM:
    """Replies with 1-12 more '@' than the longest run of '@' in the prompt: a function of the prompt.

    The step varies with the prompt (its minibatch) so that a candidate orphaned
    by a kill -- created, never judged, and refused as a duplicate ever after --
    cannot stall the whole run.
    """

    def complete(self, messages):
        text = messages_to_text(messages)
        longest = max((len(r) for r in re.findall("@+", text)), default=0)
        step = 1 + zlib.crc32(text.encode()) % 12
        time.sleep(0.05)
        return hn.Completion(text=f"```\n{'@' * (longest + step)}\n```", prompt_tokens=10, completion_tokens=5)


def evaluate(candidate: str, example: str):
    digest = hashlib.sha256(candidate.encode()).hexdigest()[:16]
    fd = os.open(call_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{digest}\t{example}\n".encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    time.sleep(random.uniform(0.02, 0.08))
    return min(candidate.count("@"), 400) / 400, {"count": candidate.count("@"), "trace": "t" * 1500}


# One proposal in flight: two concurrent proposals can still create the same text twice (an engine race
# outside the store's concern); evaluations still run on 4 workers at once.
config = hn.Config(engine=hn.EngineConfig(max_metric_calls=budget, run_dir=run_dir, max_workers=4,
                                          max_proposals_in_flight=1),
                   reflection=hn.ReflectionConfig(reflection_lm=GrowingLM()))
result = hn.optimize_anything("@", evaluator=evaluate, dataset=["a", "b", "c", "d"], objective="more @",
                              config=config)
Path(result_json).write_text(json.dumps({
    "best_candidate": result.best_candidate, "best_score": result.best_score,
    "candidates": result.candidates, "candidate_ids": result.candidate_ids,
    "total_metric_calls": result.total_metric_calls, "val_scores": result.val_scores,
    "stop_reason": result.stop_reason,
}))
