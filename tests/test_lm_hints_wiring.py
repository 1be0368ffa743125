"""What the engine passes to an LM that can use it: the prompt profile, reply hints, and a cancel at the stop.

The reply hints travel in a context variable, through the gateway's helper thread; an LM with ``cancel()``
(the embedded model) is told to stop computing a call the run gave up on.
"""

from __future__ import annotations

import threading
import time

import honing as hn
from honing.llm import Completion, LMError
from honing.llm._hints import PromptProfile, current_reply_hints

SEED = "def f(x):\n    return x"
BETTER = "def f(x):\n    return x + 1"


def evaluate(candidate: str) -> float:
    return 1.0 if "x + 1" in candidate else 0.1


class ProfiledLM:
    """Reads like the embedded model: asks for compact prompts, looks at the reply hints of each call."""

    prompt_profile = PromptProfile(compact=True, max_prompt_chars=3000)

    def __init__(self) -> None:
        self.prompts: list[list[dict]] = []
        self.hints = []

    def complete(self, messages):
        self.prompts.append(messages)
        self.hints.append(current_reply_hints())
        return Completion(text=f"Add one.\n```python\n{BETTER}\n```", prompt_tokens=5, completion_tokens=5)


def test_the_prompt_profile_and_reply_hints_reach_the_lm():
    lm = ProfiledLM()
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=2, max_candidate_proposals=1, max_workers=1),
                       reflection=hn.ReflectionConfig(reflection_lm=lm))
    result = hn.optimize_anything(SEED, evaluate, objective="return x plus one", config=config)
    assert result.best_candidate == BETTER
    prompt = lm.prompts[0][1]["content"]
    assert "In at most two sentences" in prompt  # the compact layout
    hints = lm.hints[0]
    assert hints is not None and hints.max_tokens >= 512
    assert hints.stop_at(f"Add one.\n```python\n{BETTER}\n```\nThat is it.\n") == "complete"
    assert current_reply_hints() is None  # only set around the call


class BlockingLM:
    """A call that runs until cancelled, like a slow local model on a busy machine."""

    max_concurrency = 1

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self.calls = 0

    def complete(self, messages):
        self.calls += 1
        if not self.cancelled.wait(30):
            return Completion(text="too late")
        raise LMError("cancelled")

    def cancel(self) -> int:
        self.cancelled.set()
        return 1


def test_a_timeout_cancels_the_lm_call_still_running():
    lm = BlockingLM()
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=20, timeout_s=0.5, max_workers=1),
                       reflection=hn.ReflectionConfig(reflection_lm=lm))
    started = time.monotonic()
    result = hn.optimize_anything(SEED, evaluate, objective="return x plus one", config=config)
    assert time.monotonic() - started < 10
    assert lm.cancelled.is_set() and result.stop_reason == "timeout"
    assert not [p for p in result.proposals if p.error]  # given up on at the stop, not an LM failure


def test_the_profile_s_edit_threshold_applies_unless_the_user_chose_one():
    class EditingLM(ProfiledLM):
        prompt_profile = PromptProfile(compact=True, edit_threshold_chars=10)

    def first_prompt(**reflection) -> str:
        lm = EditingLM()
        config = hn.Config(engine=hn.EngineConfig(max_metric_calls=2, max_candidate_proposals=1, max_workers=1),
                           reflection=hn.ReflectionConfig(reflection_lm=lm, **reflection))
        hn.optimize_anything(SEED, evaluate, objective="return x plus one", config=config)
        return lm.prompts[0][1]["content"]

    assert "<<<<<<< SEARCH" in first_prompt()  # the seed is longer than the model's threshold
    assert "<<<<<<< SEARCH" not in first_prompt(edit_threshold_chars=5000)
