"""A reply that only diagnoses gets one more turn asking for the text (small local models stop after step 1)."""

from __future__ import annotations

import pytest

import honing as hn
from honing._reflection import wants_follow_up
from tests.conftest import ScriptedLM

SEED = "def f(x):\n    return x"
BETTER = "def f(x):\n    return x + 1"


def evaluate(candidate: str) -> float:
    return 1.0 if "x + 1" in candidate else 0.1


def run(lm, **reflection):
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=2, max_candidate_proposals=1, max_workers=1),
                       reflection=hn.ReflectionConfig(reflection_lm=lm, **reflection))
    return hn.optimize_anything(SEED, evaluate, objective="return x plus one", config=config)


def diagnosis_then_code(prompt: str) -> str:
    if "Now write the complete improved" in prompt:
        return f"```python\n{BETTER}\n```"
    return "The function returns its input unchanged. It should add one."


def test_a_prose_only_reply_is_followed_up_in_the_same_conversation():
    lm = ScriptedLM(diagnosis_then_code)
    result = run(lm)
    assert result.best_candidate == BETTER and result.best_score == 1.0
    assert len(lm.prompts) == 2
    first, second = lm.prompts
    assert second[:len(first)] == first  # the same conversation, continued
    assert second[len(first)] == {"role": "assistant",
                                  "content": "The function returns its input unchanged. It should add one."}
    assert second[-1]["role"] == "user" and "```" in second[-1]["content"]
    proposal = result.proposals[-1]
    assert proposal.accepted and "asked again" in proposal.reply
    assert proposal.usage.prompt_tokens == 20 and proposal.usage.completion_tokens == 10  # both calls counted


def test_the_follow_up_can_be_turned_off():
    lm = ScriptedLM(diagnosis_then_code)
    result = run(lm, follow_up_prose_replies=False)
    assert len(lm.prompts) == 1
    assert result.best_candidate == SEED
    assert "no usable new text" in result.proposals[-1].reason


def test_asked_once_only():
    lm = ScriptedLM(lambda prompt: "I think it is fine as it is.")
    result = run(lm)
    assert len(lm.prompts) == 2 and result.best_candidate == SEED


@pytest.mark.parametrize("reply, expected", [
    ("The loop is too slow; use a dict.", True),
    ("Fix:\n```python\ndef f(x):\n    return x + 1\n```", False),
    ("1. It fails.\n2. ```python\ndef f(x):\n    return 2\n```", False),
    ("<<<<<<< SEARCH\nreturn x\n=======\nreturn x + 1\n>>>>>>> REPLACE", False),
    ("", False),
    ("<think>still thinking about", False),
])
def test_which_replies_get_a_follow_up(reply, expected):
    assert wants_follow_up(reply) is expected
