"""Proposers: turn a plan (parent, components, minibatch) into a judged child.

Reflective mutation shows the LM the parent's text and the side information
of its evaluations on a minibatch, evaluates the rewritten child on the same
minibatch and accepts it only if it scores strictly higher there. Merge
combines two pool members that share an ancestor, taking from each the
components it changed. Both return a ``ProposalRecord``; the engine decides
what happens next (valset evaluation of accepted children).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ._records import SINGLE_TASK_KEY, CandidateRecord, EvaluationRecord, LMUsage, ProposalRecord
from ._reflection import (
    ReflectionExample,
    build_reflection_messages,
    follow_up_message,
    parse_reflection_reply,
    wants_follow_up,
)
from ._render import render_side_info
from ._scoreboard import ScoreBoard
from ._templates import render_template
from .llm._base import Completion


@dataclass(frozen=True)
class Plan:
    proposal_id: int
    kind: str  # "reflection" or "merge"
    parent_ids: tuple[int, ...]
    components: tuple[str, ...] = ()
    minibatch: tuple[str, ...] = ()
    ancestor_id: int | None = None


@dataclass
class _Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float | None = None
    duration_s: float = 0.0
    model: str | None = None
    seen_tokens: bool = False

    def add(self, c: Completion) -> None:
        if c.prompt_tokens is not None or c.completion_tokens is not None:
            self.seen_tokens = True
        self.prompt_tokens += c.prompt_tokens or 0
        self.completion_tokens += c.completion_tokens or 0
        if c.cost_usd is not None:
            self.cost_usd = (self.cost_usd or 0.0) + c.cost_usd
        self.duration_s += c.duration_s
        self.model = c.model or self.model

    def frozen(self) -> LMUsage:
        return LMUsage(
            prompt_tokens=self.prompt_tokens if self.seen_tokens else None,
            completion_tokens=self.completion_tokens if self.seen_tokens else None,
            cost_usd=self.cost_usd, duration_s=self.duration_s, model=self.model,
        )


@dataclass
class ProposerSettings:
    objective: str | None
    background: str | None
    train_examples: Mapping[str, Any]
    single_task: bool
    edit_threshold_chars: int
    max_side_info_chars: int
    max_prompt_chars: int | None
    prompt_template: str | Mapping[str, str] | None
    skip_perfect_score: bool
    perfect_score: float | None
    merge_subsample: int = 5
    val_keys: tuple[str, ...] = field(default_factory=tuple)
    follow_up: bool = True


class Proposer:
    def __init__(
        self,
        *,
        settings: ProposerSettings,
        scoreboard: ScoreBoard,
        evaluate: Callable[[int, Any], dict[str, EvaluationRecord]],
        complete: Callable[[list[dict]], Completion],
        new_candidate: Callable[[dict[str, str], tuple[int, ...], str, int], CandidateRecord],
    ) -> None:
        self.s = settings
        self.board = scoreboard
        self.evaluate = evaluate
        self.complete = complete
        self.new_candidate = new_candidate

    # -- reflective mutation ----------------------------------------------
    def reflect(self, plan: Plan) -> ProposalRecord:
        parent_id = plan.parent_ids[0]
        parent = self.board.candidate(parent_id)
        keys = list(plan.minibatch)
        parent_evals = self.evaluate(parent_id, keys)
        if len(parent_evals) < len(keys):
            return self._rejected(plan, "budget exhausted before the parent was scored on the minibatch")
        parent_score = sum(parent_evals[k].score for k in keys)
        if self.s.skip_perfect_score and self.s.perfect_score is not None and all(
            parent_evals[k].score >= self.s.perfect_score for k in keys
        ):
            return self._rejected(plan, "parent already has a perfect score on this minibatch", parent_score)

        examples = [self._reflection_example(parent_evals[k]) for k in keys]
        usage = _Usage()
        child_components = dict(parent.components)
        prompts, replies, failures = [], [], []
        for component in plan.components:
            messages = self._messages(component, parent.components, examples)
            prompts.append(messages)
            completion = self.complete(messages)  # LMError propagates: the engine records it
            usage.add(completion)
            replies.append(completion.text)
            parsed = parse_reflection_reply(completion.text, parent.components[component])
            if parsed.text is None and self.s.follow_up and wants_follow_up(completion.text):
                messages = [*messages, {"role": "assistant", "content": completion.text},
                            follow_up_message(component, parent.components[component])]
                prompts[-1] = messages
                completion = self.complete(messages)
                usage.add(completion)
                replies[-1] += "\n\n[asked again for the text]\n\n" + completion.text
                parsed = parse_reflection_reply(completion.text, parent.components[component])
            if parsed.text is not None:
                child_components[component] = parsed.text
            else:
                failures.append(f"{component}: {parsed.error}")
        prompt = prompts[0] if len(prompts) == 1 else prompts
        reply = replies[0] if len(replies) == 1 else "\n\n".join(replies)
        if child_components == parent.components:
            reason = "the reply held no usable new text (" + "; ".join(failures) + ")"
            return self._rejected(plan, reason, parent_score, prompt=prompt, reply=reply, usage=usage)
        return self._judge(plan, child_components, "reflection", parent_score, keys, prompt, reply, usage)

    def _reflection_example(self, record: EvaluationRecord) -> ReflectionExample:
        example = None if self.s.single_task else self.s.train_examples.get(record.example_key)
        return ReflectionExample(
            score=record.score, side_info=record.side_info, example=example, output=record.output,
            error=record.error, objective_scores=dict(record.objective_scores),
        )

    def _messages(self, component: str, components: dict[str, str], examples: list[ReflectionExample]) -> list[dict]:
        current = components[component]
        if self.s.prompt_template is not None:
            feedback = "\n\n".join(
                f"Example {i} (score {ex.score:.4g}):\n"
                + render_side_info(ex.side_info, max_total_chars=self.s.max_side_info_chars // max(1, len(examples))).text
                for i, ex in enumerate(examples, 1)
            )
            text = render_template(self.s.prompt_template, component=component, current=current, feedback=feedback,
                                   objective=self.s.objective, background=self.s.background)
            if text is not None:  # None: a per-component dict without this component uses the built-in prompt
                return [{"role": "user", "content": text}]
        return build_reflection_messages(
            component=component, current_text=current, all_components=components, examples=examples,
            objective=self.s.objective, background=self.s.background,
            allow_edits=len(current) > self.s.edit_threshold_chars, max_prompt_chars=self.s.max_prompt_chars,
        )

    # -- merge --------------------------------------------------------------
    def merge(self, plan: Plan, rng: random.Random) -> ProposalRecord:
        a, b = (self.board.candidate(i) for i in plan.parent_ids)
        ancestor = self.board.candidate(plan.ancestor_id) if plan.ancestor_id is not None else None
        means = {i: self.board.val_mean(i) or 0.0 for i in plan.parent_ids}
        child: dict[str, str] = {}
        for name in a.components:
            base = ancestor.components.get(name) if ancestor else None
            if a.components[name] == base:
                child[name] = b.components[name]
            elif b.components[name] == base:
                child[name] = a.components[name]
            else:
                child[name] = (a if means[a.id] >= means[b.id] else b).components[name]
        if child in (a.components, b.components):
            return self._rejected(plan, "the merge reproduced one of its parents")
        common = [k for k in self.s.val_keys
                  if self.board.evaluation(a.id, k) is not None and self.board.evaluation(b.id, k) is not None]
        keys = sorted(rng.sample(common, min(self.s.merge_subsample, len(common))))
        best_parent = max(sum(self.board.evaluation(p, k).score for k in keys) for p in plan.parent_ids)
        return self._judge(plan, child, "merge", best_parent, keys, None, None, _Usage(), strict=False)

    # -- shared -------------------------------------------------------------
    def _judge(self, plan: Plan, components: dict[str, str], origin: str, parent_score: float, keys: list[str],
               prompt: Any, reply: str | None, usage: _Usage, strict: bool = True) -> ProposalRecord:
        # With caching on, identical text is the same candidate: its recorded evaluations are
        # reused, and one already in the pool is not judged again.
        child = self.new_candidate(components, plan.parent_ids, origin, plan.proposal_id)
        if child.id in self.board.pool:
            return self._rejected(plan, f"duplicate of candidate {child.id}, already in the pool", parent_score,
                                  prompt=prompt, reply=reply, usage=usage)
        child_evals = self.evaluate(child.id, keys)
        if len(child_evals) < len(keys):
            return self._rejected(plan, "budget exhausted before the child was scored on the minibatch",
                                  parent_score, prompt=prompt, reply=reply, usage=usage, child_id=child.id)
        child_score = sum(child_evals[k].score for k in keys)
        accepted = child_score > parent_score if strict else child_score >= parent_score
        verdict = "improved" if accepted else "did not improve"
        reason = f"{verdict} on the minibatch: {child_score:.6g} vs parent {parent_score:.6g}"
        return ProposalRecord(
            id=plan.proposal_id, kind=plan.kind, parent_ids=plan.parent_ids, components=plan.components,
            prompt=prompt, reply=reply, child_id=child.id, accepted=accepted, reason=reason,
            parent_score=parent_score, child_score=child_score, minibatch_keys=tuple(keys),
            usage=usage.frozen(), created_at=time.time(),
        )

    def _rejected(self, plan: Plan, reason: str, parent_score: float | None = None, *, prompt: Any = None,
                  reply: str | None = None, usage: _Usage | None = None, child_id: int | None = None,
                  error: str | None = None) -> ProposalRecord:
        return ProposalRecord(
            id=plan.proposal_id, kind=plan.kind, parent_ids=plan.parent_ids, components=plan.components,
            prompt=prompt, reply=reply, child_id=child_id, accepted=False, reason=reason,
            parent_score=parent_score, minibatch_keys=plan.minibatch, usage=(usage or _Usage()).frozen(),
            error=error, created_at=time.time(),
        )

    def stopped(self, plan: Plan) -> ProposalRecord:
        return self._rejected(plan, "the run stopped before the LM was asked")

    def failed(self, plan: Plan, error: BaseException) -> ProposalRecord:
        return self._rejected(plan, "the reflection LM failed", error=f"{type(error).__name__}: {error}")


def find_merge_pair(board: ScoreBoard, rng: random.Random, tried: set[tuple[int, int]],
                    min_overlap: int) -> Plan | None:
    """Pick two frontier members with a common ancestor that neither descends from the other."""
    members = sorted(board.front.non_dominated())
    pairs = [(i, j) for n, i in enumerate(members) for j in members[n + 1:] if (i, j) not in tried]
    rng.shuffle(pairs)
    for i, j in pairs:
        tried.add((i, j))
        ai, aj = _ancestors(board, i), _ancestors(board, j)
        if i in aj or j in ai:
            continue
        common = ai & aj
        if not common:
            continue
        overlap = sum(1 for k in board.val_keys
                      if board.evaluation(i, k) is not None and board.evaluation(j, k) is not None)
        if overlap < min(min_overlap, len(board.val_keys)):
            continue
        ancestor = max(common)  # the most recent shared ancestor
        return Plan(proposal_id=-1, kind="merge", parent_ids=(i, j), ancestor_id=ancestor)
    return None


def _ancestors(board: ScoreBoard, candidate_id: int) -> set[int]:
    seen: set[int] = set()
    stack = list(board.candidate(candidate_id).parents)
    while stack:
        cid = stack.pop()
        if cid not in seen:
            seen.add(cid)
            stack.extend(board.candidate(cid).parents)
    return seen


__all__ = ["Plan", "Proposer", "ProposerSettings", "find_merge_pair", "SINGLE_TASK_KEY"]
