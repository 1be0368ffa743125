"""The prompt-optimization task as plain parts, for harnesses such as ``bench/quality.py``.

Exposes ``SEED``, ``OBJECTIVE``, ``BACKGROUND``, ``evaluate(candidate, problem)`` and the
splits (``make_dataset`` = train, ``make_valset`` = val, ``make_testset`` = test). The
task model is read from ``PROMPT_OPT_TASK_LM`` (a local model name or an
``http://host:port/v1#model`` endpoint; default the embedded 0.5B model), so that two
engines compared side by side can share one served copy of it; ``PROMPT_OPT_N_VAL`` and
``PROMPT_OPT_N_TEST`` shrink the val and test splits (6 and 12 problems). Replies are capped at
``PROMPT_OPT_MAX_TOKENS`` tokens (default 192) and generated at temperature 0.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from examples import _common
from examples.prompt_opt import data, scorer
from examples.prompt_opt.main import BACKGROUND, OBJECTIVE, SEED_PROMPT

__all__ = ["SEED", "OBJECTIVE", "BACKGROUND", "evaluate", "make_dataset", "make_valset", "make_testset"]

SEED = SEED_PROMPT
N_TRAIN, N_VAL, N_TEST = 20, 6, 12

_lock = threading.Lock()
_evaluate = None


def _evaluator():
    global _evaluate
    with _lock:
        if _evaluate is None:
            spec = os.environ.get("PROMPT_OPT_TASK_LM", _common.TASK_LM)
            max_tokens = int(os.environ.get("PROMPT_OPT_MAX_TOKENS", "192"))
            _evaluate = scorer.make_evaluator(_common.task_model(spec, max_tokens=max_tokens))
        return _evaluate


def evaluate(candidate: str, problem: dict) -> tuple[float, dict[str, Any], dict[str, Any]]:
    """Score one problem: 1.0 if the task model's parsed answer is right; side info explains."""
    return _evaluator()(candidate, problem)


def make_dataset() -> list[dict]:
    return data.load()["train"][:N_TRAIN]


def make_valset() -> list[dict]:
    return data.load()["val"][:int(os.environ.get("PROMPT_OPT_N_VAL", N_VAL))]


def make_testset() -> list[dict]:
    return data.load()["test"][:int(os.environ.get("PROMPT_OPT_N_TEST", N_TEST))]
