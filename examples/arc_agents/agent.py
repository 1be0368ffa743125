"""Runs a candidate agent program in the sandbox and gives it an LLM without giving it a network.

The candidate defines ``solve(train_pairs, test_input, llm) -> grid``. A sandboxed process
cannot receive a Python callable, and the sandbox cuts the network, so ``llm`` inside the
sandbox is a stub and the real model is called here, in the parent, by *replay*:

1. The program runs in the sandbox with ``llm`` answering from a dict of known replies.
2. When it asks a prompt that has no reply yet, the stub raises an exception that derives from
   ``BaseException`` (so the program's own ``except Exception`` does not swallow it); the harness
   returns the prompt instead of a grid.
3. The parent asks the model, adds the reply to the dict and runs the program again from the
   start; step 1 now returns the known reply and the program goes further.

So the program sees an ordinary ``llm(prompt) -> str`` and may call it up to ``max_llm_calls``
times, while it never gets a socket, a key or the model itself, and the parent counts and bounds
every call. The price: a program is re-run once per LLM call (about 0.1 s each), and it must be
deterministic given its inputs and the replies (no randomness in the prompts it builds).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import honing as hn

HARNESS = '''

class _NeedLLM(BaseException):
    pass


def _agent_step(train_pairs, test_input, replies, max_calls, max_prompt_chars):
    def llm(prompt):
        prompt = str(prompt)[:max_prompt_chars]
        if prompt in replies:
            return replies[prompt]
        if len(replies) >= max_calls:
            raise RuntimeError(f"LLM call limit reached: at most {max_calls} distinct prompts per task")
        raise _NeedLLM(prompt)

    try:
        grid = solve(train_pairs, test_input, llm)
    except _NeedLLM as need:
        return {"need": need.args[0]}
    try:
        grid = [[int(c) for c in row] for row in grid]
    except Exception:
        return {"bad_output": repr(grid)[:500]}
    return {"output": grid}
'''


def run_agent(program: str, task: dict, llm: Callable[[str], str], max_llm_calls: int = 3,
              timeout: float = 20.0, max_prompt_chars: int = 8000) -> dict[str, Any]:
    """``{"output": grid | None, "error": str | None, "transcript": [(prompt, reply), ...]}``."""
    replies: dict[str, str] = {}
    transcript: list[tuple[str, str]] = []
    train_pairs = [{"input": p["input"], "output": p["output"]} for p in task["train"]]
    for _ in range(max_llm_calls + 1):
        result = hn.run_code(program + HARNESS, "_agent_step",
                             (train_pairs, task["test"]["input"], replies, max_llm_calls, max_prompt_chars),
                             timeout=timeout, memory_mb=512)
        if not result.ok:
            return {"output": None, "error": result.feedback(1500), "transcript": transcript}
        value = result.value
        if "need" in value:
            prompt = value["need"]
            try:
                reply = llm(prompt)
            except Exception as exc:  # the failure becomes the reply, visible to the program and in the side info
                reply = f"(the LLM call failed: {type(exc).__name__}: {exc})"
            replies[prompt] = reply
            transcript.append((prompt, reply))
            continue
        if "bad_output" in value:
            return {"output": None, "error": f"solve() must return a list of rows of ints, got {value['bad_output']}",
                    "transcript": transcript}
        return {"output": value["output"], "error": None, "transcript": transcript}
    return {"output": None, "error": "the program kept asking the LLM new prompts past the limit",
            "transcript": transcript}


def grid_diff(predicted: list | None, expected: list, limit: int = 12) -> str:
    """A short description of how ``predicted`` differs from ``expected``."""
    if predicted is None:
        return "no grid was produced"
    if predicted == expected:
        return "exact match"
    ph, eh = len(predicted), len(expected)
    pw = len(predicted[0]) if ph else 0
    ew = len(expected[0]) if eh else 0
    if (ph, pw) != (eh, ew) or any(len(row) != pw for row in predicted):
        return f"wrong shape: predicted {ph}x{pw} (rows x cols), expected {eh}x{ew}"
    wrong = [(r, c, predicted[r][c], expected[r][c]) for r in range(eh) for c in range(ew)
             if predicted[r][c] != expected[r][c]]
    shown = ", ".join(f"({r},{c}) got {g} expected {e}" for r, c, g, e in wrong[:limit])
    more = f", ... {len(wrong) - limit} more" if len(wrong) > limit else ""
    return f"{len(wrong)} of {eh * ew} cells wrong: {shown}{more}"
