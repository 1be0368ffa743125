"""Before a run: how far the budget goes, and roughly what the reflection LM will cost.

A budget is counted in evaluator calls, but what a user wants to know is how
many *proposals* it buys, and that depends on how proposals end:

* a rejected proposal costs the child's minibatch evaluations (plus, in
  generalization mode, the parent's minibatch on training examples the first
  time that parent is picked);
* an accepted proposal also scores the child on the whole valset (in
  multi-task mode the minibatch is part of the valset, so that is just the
  valset size).

So the estimate is a range: every proposal accepted (fewest) to every one
rejected (most). The seed's valset scoring comes off the top. Each proposal
is one reflection LM call; for a priced hosted model the cost range uses a
typical prompt (candidate + a share of ``max_side_info_chars`` + instructions)
and a reply about the size of the candidate. Estimates are advisory: they
log (``honing.estimate``), warn through the same logger when the budget is too
small to learn anything, and never stop a run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ._config import DEFAULT_MINIBATCH_SIZE

logger = logging.getLogger("honing.estimate")

CHARS_PER_TOKEN = 4  # a rough average for English text and code
PROMPT_OVERHEAD_CHARS = 1_500  # instructions, objective, formatting around the candidate and feedback
DEFAULT_CANDIDATE_CHARS = 2_000
FEW_PROPOSALS = 5


@dataclass(frozen=True)
class RunEstimate:
    max_metric_calls: int
    seed_calls: int  # evaluator calls to score the seed on the valset
    calls_per_rejected: int  # cheapest proposal
    calls_per_accepted: int  # dearest proposal
    proposals_min: int  # if every proposal is accepted
    proposals_max: int  # if every proposal is rejected
    model: str | None = None
    cost_usd_min: float | None = None
    cost_usd_max: float | None = None

    def summary(self) -> str:
        text = (f"budget of {self.max_metric_calls} evaluator calls: the seed takes {self.seed_calls}, then "
                f"{_span(self.proposals_min, self.proposals_max)} proposals "
                f"(each costs {_calls(self.calls_per_rejected)} "
                f"if rejected, up to {_calls(self.calls_per_accepted)} if accepted)")
        if self.cost_usd_max is not None:
            text += (f"; reflection LM {self.model}: about ${self.cost_usd_min:.4f} to ${self.cost_usd_max:.4f} "
                     "at typical prompt sizes")
        return text


def _calls(n: int) -> str:
    return f"{n} call" if n == 1 else f"{n} calls"


def _span(low: int, high: int) -> str:
    return str(low) if low == high else f"{low} to {high}"


def estimate_run(
    max_metric_calls: int,
    *,
    train_size: int | None = None,
    val_size: int | None = None,
    minibatch_size: int | None = None,
    reflection_lm: Any = None,
    candidate_chars: int | None = None,
    max_side_info_chars: int = 12_000,
    generates_seed: bool = False,
) -> RunEstimate:
    """Estimate how many proposals ``max_metric_calls`` allows and what the LM calls may cost.

    ``train_size`` None means single-task mode (one evaluation per candidate);
    ``val_size`` None means the dataset is also the valset (multi-task mode).
    ``minibatch_size`` defaults to the engine's (1 single-task, else 3).
    ``reflection_lm`` is a model name (or an LM object with a ``model``
    attribute); only models with a LiteLLM price get a cost range.
    """
    if not isinstance(max_metric_calls, int) or max_metric_calls < 1:
        raise ValueError(f"max_metric_calls must be a positive integer, got {max_metric_calls!r}")
    if train_size is None:  # single task: the one "example" is both minibatch and valset
        train, val, mini, separate_val = 1, 1, 1, False
    else:
        train = max(1, train_size)
        separate_val = val_size is not None
        val = max(1, val_size) if val_size is not None else train
        mini = min(minibatch_size or DEFAULT_MINIBATCH_SIZE, train)
    if train_size is None:
        per_rejected = per_accepted = 1
    elif separate_val:  # child minibatch + (first time) parent minibatch on train, + valset if accepted
        per_rejected, per_accepted = mini, 2 * mini + val
    else:  # parent's minibatch scores are cached from its valset scoring; child's count toward its valset
        per_rejected, per_accepted = mini, val
    after_seed = max(0, max_metric_calls - val)
    proposals_min, proposals_max = after_seed // per_accepted, after_seed // per_rejected
    model = _model_name(reflection_lm)
    cost_min = cost_max = None
    prices = _prices(model)
    if prices is not None:
        price_in, price_out = prices
        cand = candidate_chars if candidate_chars else DEFAULT_CANDIDATE_CHARS
        reply_tokens = (cand + 300) / CHARS_PER_TOKEN
        low_tokens = (PROMPT_OVERHEAD_CHARS + cand + max_side_info_chars // 4) / CHARS_PER_TOKEN
        high_tokens = (PROMPT_OVERHEAD_CHARS + cand + max_side_info_chars) / CHARS_PER_TOKEN
        extra = 1 if generates_seed else 0
        cost_min = (proposals_min + extra) * (low_tokens * price_in + reply_tokens * price_out)
        cost_max = (proposals_max + extra) * (high_tokens * price_in + reply_tokens * price_out)
    return RunEstimate(max_metric_calls=max_metric_calls, seed_calls=min(val, max_metric_calls),
                       calls_per_rejected=per_rejected, calls_per_accepted=per_accepted,
                       proposals_min=proposals_min, proposals_max=proposals_max, model=model,
                       cost_usd_min=cost_min, cost_usd_max=cost_max)


def _model_name(lm: Any) -> str | None:
    name = lm if isinstance(lm, str) else getattr(lm, "model", None)
    if not isinstance(name, str) or name.startswith("local/") or "://" in name:
        return None  # embedded and self-hosted endpoints have no per-token price
    return name


def _prices(model: str | None) -> tuple[float, float] | None:
    if model is None:
        return None
    from .llm._litellm import price_per_token

    return price_per_token(model)


def announce_estimate(problem: Any, config: Any) -> RunEstimate | None:
    """Log the estimate for a run about to start; warn if the budget buys very few proposals."""
    budget = config.engine.max_metric_calls
    if budget is None:
        return None
    single = problem.mode == "single"
    seed = problem.seed_components
    estimate = estimate_run(
        budget,
        train_size=None if single else len(problem.train),
        val_size=len(problem.val) if problem.mode == "generalization" else None,
        minibatch_size=config.reflection.reflection_minibatch_size,
        reflection_lm=config.reflection.reflection_lm,
        candidate_chars=sum(len(text) for text in seed.values()) if seed else None,
        max_side_info_chars=config.reflection.max_side_info_chars,
        generates_seed=seed is None,
    )
    logger.info("estimate: %s", estimate.summary())
    if estimate.proposals_max < FEW_PROPOSALS:
        logger.warning(
            "max_metric_calls=%d allows at most %d proposal(s) (%s); reflection usually needs at least %d to "
            "improve on the seed. Raise max_metric_calls, or use a smaller valset or minibatch.",
            budget, estimate.proposals_max, estimate.summary(), FEW_PROPOSALS,
        )
    return estimate
