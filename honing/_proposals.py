"""Proposers: turn a plan (parent, components, minibatch) into a child judged on its minibatch.

Reflective mutation shows the LM the parent's text and the side information
of its evaluations on a minibatch, evaluates the rewritten child on the same
minibatch and lets it go on only if it scores strictly higher there. Merge
combines two pool members that share an ancestor, taking from each the
components it changed. Both return a ``ProposalRecord``; whether a winner
then earns a place in the pool is the validation race's decision (``_race``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._config import ReflectionConfig
from ._rebase import rebase
from ._records import (
    SINGLE_TASK_KEY,
    CandidateRecord,
    EvaluationRecord,
    LMUsage,
    Origin,
    ProposalKind,
    ProposalRecord,
)
from ._reflection import (
    ReflectionExample,
    build_reflection_messages,
    follow_up_message,
    parse_reflection_reply,
    wants_follow_up,
)
from ._render import render_side_info
from ._reply_watch import reflection_reply_hints
from ._scoreboard import ScoreBoard
from ._templates import render_template
from .llm._base import Completion, Message
from .llm._hints import PromptProfile, reply_hints

MERGE_SUBSAMPLE = 5  # validation examples a merged child is judged on before its race
_DEFAULT_EDIT_THRESHOLD = ReflectionConfig().edit_threshold_chars


@dataclass(frozen=True)
class Plan:
    proposal_id: int
    kind: ProposalKind
    parent_ids: tuple[int, ...]
    components: tuple[str, ...] = ()
    minibatch: tuple[str, ...] = ()
    ancestor_id: int | None = None
    pool_mark: int = 0  # the pool's size when the plan was made (what was admitted since is newer)


@dataclass(frozen=True)
class ProblemView:
    """What a proposer needs to know about the problem (fixed for the run)."""

    objective: str | None
    background: str | None
    train_examples: Mapping[str, Any]
    single_task: bool
    val_keys: tuple[str, ...]
    max_prompt_chars: int | None = None  # from the LM's context window
    multimodal: bool = True  # whether the LM takes image parts
    prompt_profile: PromptProfile | None = None  # the prompts the LM reads well (the embedded model's: compact)


@dataclass
class Draft:
    """A proposal up to its new text: either a child to judge, or already a finished (rejected) record."""

    plan: Plan
    record: ProposalRecord | None = None
    child: dict[str, str] | None = None
    origin: Origin = "reflection"
    parent_score: float = 0.0
    keys: tuple[str, ...] = ()
    prompt: Any = None
    reply: str | None = None
    usage: _Usage | None = None
    strict: bool = True


class _Usage:
    """Tokens, cost and time of the LM calls one proposal made."""

    def __init__(self) -> None:
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost_usd: float | None = None
        self.duration_s = 0.0
        self.model: str | None = None
        self.seen_tokens = False

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
        return LMUsage(prompt_tokens=self.prompt_tokens if self.seen_tokens else None,
                       completion_tokens=self.completion_tokens if self.seen_tokens else None,
                       cost_usd=self.cost_usd, duration_s=self.duration_s, model=self.model)


class Proposer:
    def __init__(
        self,
        *,
        reflection: ReflectionConfig,
        problem: ProblemView,
        scoreboard: ScoreBoard,
        evaluate: Callable[[int, list[str]], dict[str, EvaluationRecord]],
        complete: Callable[[list[Message]], Completion],
        new_candidate: Callable[[dict[str, str], tuple[int, ...], Origin, int], CandidateRecord],
        claim: Callable[[int], str | None] = lambda candidate_id: None,
        rebase: bool = True,
    ) -> None:
        self.config = reflection
        self.problem = problem
        self.board = scoreboard
        self.evaluate = evaluate
        self.complete = complete
        self.new_candidate = new_candidate
        self.claim = claim  # None when this proposal may judge the child, else why another one already does
        self.rebase = rebase

    def draft(self, plan: Plan, rng: random.Random) -> Draft:
        """Everything up to the new text: the part that needs the LM (a merge needs none)."""
        return self._merge(plan, rng) if plan.kind == "merge" else self._reflect(plan)

    def judge(self, draft: Draft) -> ProposalRecord:
        """Score the child on the minibatch (or the merge's subsample) against its parent(s)."""
        if draft.record is not None:
            return draft.record
        assert draft.child is not None and draft.usage is not None
        return self._judge(draft.plan, draft.child, draft.origin, draft.parent_score, list(draft.keys),
                           draft.prompt, draft.reply, draft.usage, strict=draft.strict)

    # -- reflective mutation ----------------------------------------------
    def _reflect(self, plan: Plan) -> Draft:
        parent_id = plan.parent_ids[0]
        parent = self.board.candidate(parent_id)
        keys = list(plan.minibatch)
        parent_evals = self.evaluate(parent_id, keys)
        if len(parent_evals) < len(keys):
            return Draft(plan, self._rejected(plan, "budget exhausted before the parent was scored on the minibatch"))
        parent_score = sum(parent_evals[k].score for k in keys)
        perfect = self.config.perfect_score
        if self.config.skip_perfect_score and perfect is not None and all(
                parent_evals[k].score >= perfect for k in keys):
            return Draft(plan, self._rejected(plan, "parent already has a perfect score on this minibatch",
                                              parent_score))

        examples = [self._reflection_example(parent_evals[k]) for k in keys]
        usage = _Usage()
        child_components = dict(parent.components)
        prompts, replies, failures = [], [], []
        for component in plan.components:
            messages = self._messages(component, parent.components, examples)
            prompts.append(messages)
            # The LM may use these: a reply budget sized to the text, and where a complete answer ends.
            hints = reflection_reply_hints(parent.components[component])
            with reply_hints(hints):
                completion = self.complete(messages)  # a failure propagates: the engine records it
            usage.add(completion)
            replies.append(completion.text)
            parsed = parse_reflection_reply(completion.text, parent.components[component])
            if parsed.text is None and self.config.follow_up_prose_replies and wants_follow_up(completion.text):
                messages = [*messages, {"role": "assistant", "content": completion.text},
                            follow_up_message(component, parent.components[component])]
                prompts[-1] = messages
                with reply_hints(hints):
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
            return Draft(plan, self._rejected(plan, reason, parent_score, prompt=prompt, reply=reply, usage=usage))
        return Draft(plan, child=child_components, parent_score=parent_score, keys=tuple(keys), prompt=prompt,
                     reply=reply, usage=usage)

    def _reflection_example(self, record: EvaluationRecord) -> ReflectionExample:
        example = None if self.problem.single_task else self.problem.train_examples.get(record.example_key)
        return ReflectionExample(
            score=record.score, side_info=record.side_info, example=example, output=record.output,
            error=record.error, objective_scores=dict(record.objective_scores),
        )

    def _messages(self, component: str, components: dict[str, str], examples: list[ReflectionExample]) -> list[Message]:
        current = components[component]
        template = self.config.reflection_prompt_template
        if template is not None:
            share = self.config.max_side_info_chars // max(1, len(examples))
            feedback = "\n\n".join(
                f"Example {i} (score {ex.score:.4g}):\n" + render_side_info(ex.side_info, max_total_chars=share).text
                for i, ex in enumerate(examples, 1)
            )
            text = render_template(template, component=component, current=current, feedback=feedback,
                                   objective=self.problem.objective, background=self.problem.background)
            if text is not None:  # None: a per-component dict without this component uses the built-in prompt
                return [{"role": "user", "content": text}]
        profile = self.problem.prompt_profile if isinstance(self.problem.prompt_profile, PromptProfile) else None
        max_chars = self.problem.max_prompt_chars
        threshold = self.config.edit_threshold_chars
        if profile is not None:
            if profile.max_prompt_chars:
                max_chars = min(max_chars or profile.max_prompt_chars, profile.max_prompt_chars)
            if profile.edit_threshold_chars is not None and threshold == _DEFAULT_EDIT_THRESHOLD:
                threshold = profile.edit_threshold_chars  # the LM's own, unless the user chose one
        return build_reflection_messages(
            component=component, current_text=current, all_components=components, examples=examples,
            objective=self.problem.objective, background=self.problem.background,
            allow_edits=len(current) > threshold,
            max_prompt_chars=max_chars, multimodal=self.problem.multimodal,
            max_side_info_chars=self.config.max_side_info_chars, compact=profile is not None and profile.compact,
        )

    # -- merge --------------------------------------------------------------
    def _merge(self, plan: Plan, rng: random.Random) -> Draft:
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
            return Draft(plan, self._rejected(plan, "the merge reproduced one of its parents"))
        common = [k for k in self.problem.val_keys
                  if self.board.evaluation(a.id, k) is not None and self.board.evaluation(b.id, k) is not None]
        keys = sorted(rng.sample(common, min(MERGE_SUBSAMPLE, len(common))))

        def score(candidate_id: int, key: str) -> float:
            record = self.board.evaluation(candidate_id, key)
            assert record is not None  # ``common`` holds only keys both parents were scored on
            return record.score

        best_parent = max(sum(score(p, k) for k in keys) for p in plan.parent_ids)
        return Draft(plan, child=child, origin="merge", parent_score=best_parent, keys=tuple(keys), usage=_Usage(),
                     strict=False)

    # -- a stale child: its parent was improved while it was being written ------------
    def _newer_version(self, plan: Plan) -> int | None:
        """The best pool member admitted since planning that descends from the parent, if any."""
        parent_id = plan.parent_ids[0]
        newer = [c for c in self.board.admitted_since(plan.pool_mark) if parent_id in self.board.ancestors(c)]
        if not newer:
            return None
        return max(newer, key=lambda c: (self.board.val_mean(c) or float("-inf"), -c))

    # -- shared -------------------------------------------------------------
    def _judge(self, plan: Plan, components: dict[str, str], origin: Origin, parent_score: float, keys: list[str],
               prompt: Any, reply: str | None, usage: _Usage, strict: bool = True) -> ProposalRecord:
        parents = plan.parent_ids
        note = ""
        newer = self._newer_version(plan) if plan.kind == "reflection" and self.rebase else None
        if newer is not None:
            # The parent was improved while this child was written: replay the edit on the improved version
            # and judge it against that version. An edit that touches what the improvement touched most
            # likely makes the same fix again: it is set aside without spending any evaluation.
            base = self.board.candidate(newer).components
            merged = rebase(self.board.candidate(plan.parent_ids[0]).components, base, components)
            if merged is None or merged == base:
                return self._rejected(plan, f"superseded: candidate {newer}, a newer version of its parent, "
                                      "already changed the same lines", parent_score, prompt=prompt, reply=reply,
                                      usage=usage)
            newer_evals = self.evaluate(newer, keys)
            if len(newer_evals) < len(keys):
                return self._rejected(plan, "budget exhausted before the parent's newer version was scored on "
                                      "the minibatch", parent_score, prompt=prompt, reply=reply, usage=usage)
            components, parents = merged, (plan.parent_ids[0], newer)
            note = f"rebased onto candidate {newer}, its parent's newer version; "
            parent_score = sum(newer_evals[k].score for k in keys)
        # With caching on, identical text is the same candidate: its recorded evaluations are
        # reused, and one already in the pool (or already judged) is not judged again.
        child = self.new_candidate(components, parents, origin, plan.proposal_id)
        taken = "already in the pool" if self.board.in_pool(child.id) else self.claim(child.id)
        if taken is not None:
            return self._rejected(plan, f"duplicate of candidate {child.id}, {taken}", parent_score,
                                  prompt=prompt, reply=reply, usage=usage)
        child_evals = self.evaluate(child.id, keys)
        if len(child_evals) < len(keys):
            return self._rejected(plan, "budget exhausted before the child was scored on the minibatch",
                                  parent_score, prompt=prompt, reply=reply, usage=usage, child_id=child.id)
        child_score = sum(child_evals[k].score for k in keys)
        accepted = child_score > parent_score if strict else child_score >= parent_score
        verdict = "improved" if accepted else "did not improve"
        reason = f"{note}{verdict} on the minibatch: {child_score:.6g} vs parent {parent_score:.6g}"
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
        return self._rejected(plan, "the run stopped before the LM answered")

    def failed(self, plan: Plan, error: BaseException) -> ProposalRecord:
        return self._rejected(plan, "the reflection LM failed", error=f"{type(error).__name__}: {error}")


__all__ = ["MERGE_SUBSAMPLE", "Draft", "Plan", "ProblemView", "Proposer", "SINGLE_TASK_KEY"]
