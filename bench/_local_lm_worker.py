"""One proposal benchmark: N reflection proposals on one task, with the honing found first on sys.path.

Run by ``bench/local_lm.py proposals`` with ``PYTHONPATH`` set to the checkout
under test, so the same script measures the code before and after a change
(it uses only what both have, and the reply hints where they exist).

The prompts are the engine's own: a run with a capturing LM that declines to
answer, so the parent stays the seed and each proposal gets a fresh minibatch
(the prompts a real run's first proposals see). Each prompt is then answered
by the embedded model the way the proposer does it (one follow-up turn for a
prose-only reply), the reply is parsed, and the child is scored by the task's
own evaluator. Prints one JSON line per proposal.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def load_task(name: str):
    sys.path.insert(0, REPO)
    if name == "sorting":
        from examples.sorting import evaluator as ev

        data = ev.make_dataset(0)
        return ev, data, lambda text: sum(ev.evaluate(text, ex)[0] for ex in data) / len(data)
    if name == "circle_packing":
        from examples.circle_packing import evaluator as ev

        return ev, None, lambda text: ev.evaluate(text)[0]
    raise SystemExit(f"unknown task {name!r}: sorting or circle_packing")


def capture_prompts(task: str, n: int, lm) -> list[list[dict]]:
    import honing as hn
    from honing.llm import Completion

    class Capture:
        """The LM's prompt-shaping attributes, without its replies."""

        context_window = lm.context_window
        max_concurrency = 1

        def __init__(self) -> None:
            self.prompts: list[list[dict]] = []
            profile = getattr(lm, "prompt_profile", None)
            if profile is not None and not os.environ.get("BENCH_NO_COMPACT"):
                if os.environ.get("BENCH_EDIT_THRESHOLD"):
                    import dataclasses

                    profile = dataclasses.replace(profile, edit_threshold_chars=int(os.environ["BENCH_EDIT_THRESHOLD"]))
                self.prompt_profile = profile

        def complete(self, messages):
            self.prompts.append(messages)
            # An empty block: no new text (the parent stays the seed) and no follow-up turn to capture.
            return Completion(text="```\n```", prompt_tokens=1, completion_tokens=1)

    ev, data, _ = load_task(task)
    capture = Capture()
    run_dir = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"bench-capture-{task}-{os.getpid()}")
    engine = hn.EngineConfig(max_metric_calls=10_000, max_candidate_proposals=n, max_workers=2, seed=0, run_dir=run_dir)
    if data is not None:
        config = hn.Config(engine=engine, reflection=hn.ReflectionConfig(reflection_lm=capture,
                                                                          reflection_minibatch_size=3))
        hn.optimize_anything(ev.SEED, ev.evaluate, dataset=data, objective=ev.OBJECTIVE, background=ev.BACKGROUND,
                             config=config)
    else:
        config = hn.Config(engine=engine, reflection=hn.ReflectionConfig(reflection_lm=capture))
        hn.optimize_anything(ev.SEED, lambda c: ev.evaluate(c), objective=ev.OBJECTIVE, background=ev.BACKGROUND,
                             config=config)
    return capture.prompts[:n]


def propose(lm, messages: list[dict], current: str, hints_on: bool):
    """Ask, follow up once on a prose-only reply, parse: what ``Proposer.reflect`` does for one component."""
    from honing._reflection import follow_up_message, parse_reflection_reply, wants_follow_up

    try:  # the reply hints exist only after the change
        from honing._reply_watch import reflection_reply_hints
        from honing.llm._hints import reply_hints
    except ImportError:
        reflection_reply_hints = reply_hints = None
    calls = []

    def ask(msgs):
        if hints_on and reply_hints is not None:
            with reply_hints(reflection_reply_hints(current)):
                return call(msgs)
        return call(msgs)

    def call(msgs):
        load = os.getloadavg()[0]
        if hasattr(lm, "chat_reply"):
            completion, reply = lm.chat_reply(msgs)
            timings, finish = reply.timings, reply.finish
        else:
            completion, finish = lm.chat(msgs)
            timings = {}
        calls.append({"s": completion.duration_s, "prompt_tokens": completion.prompt_tokens,
                      "completion_tokens": completion.completion_tokens, "finish": finish,
                      "cached": timings.get("cache_n"), "prompt_tps": timings.get("prompt_per_second"),
                      "gen_tps": timings.get("predicted_per_second"), "draft_n": timings.get("draft_n"),
                      "draft_accepted": timings.get("draft_n_accepted"), "load": [load, os.getloadavg()[0]]})
        return completion

    completion = ask(messages)
    text = completion.text
    parsed = parse_reflection_reply(text, current)
    if parsed.text is None and wants_follow_up(text):
        messages = [*messages, {"role": "assistant", "content": text}, follow_up_message("candidate", current)]
        completion = ask(messages)
        text += "\n\n[asked again]\n\n" + completion.text
        parsed = parse_reflection_reply(completion.text, current)
    return calls, parsed, text


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--task", required=True)
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--model", default="local/qwen2.5-coder-1.5b")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--speculation", default=None, help="kind[:n_max[:ngram]], e.g. ngram_simple:16:4")
    p.add_argument("--no-hints", action="store_true")
    args = p.parse_args()

    import honing
    from honing.llm import LocalLM

    options = {}
    if args.threads:
        options["n_threads"] = args.threads
    if args.speculation:
        from honing.llm import Speculation
        from honing.llm._model_files import model_path

        kind, *rest = args.speculation.split(":")
        extra = {"n_max": int(rest[0])} if rest else {}
        if len(rest) > 1:
            extra["ngram"] = int(rest[1])
        if kind == "draft":
            extra["draft_path"] = model_path("local/qwen2.5-coder-0.5b")
        options["speculation"] = Speculation(kind, **extra)
    lm = LocalLM(args.model, **options)
    ev, _, score = load_task(args.task)
    prompts = capture_prompts(args.task, args.n, lm)
    seed_score = score(ev.SEED)
    load_s = lm.load()
    print(json.dumps({"kind": "setup", "honing": os.path.dirname(honing.__file__), "load_s": load_s,
                      "seed_score": seed_score, "threads": getattr(lm, "threads_in_use", None),
                      "prompt_chars": [sum(len(m["content"]) for m in msgs) for msgs in prompts]}), flush=True)
    for i, messages in enumerate(prompts):
        started = time.perf_counter()
        # The same sampling seed for proposal i before and after a change: the replies differ only by the code.
        calls, parsed, text = propose(lm.with_options(seed=1000 + i), messages, ev.SEED, not args.no_hints)
        wall = time.perf_counter() - started
        child = score(parsed.text) if parsed.text is not None else None
        print(json.dumps({"kind": "proposal", "i": i, "wall_s": wall, "calls": calls, "mode": parsed.mode,
                          "error": parsed.error, "child_score": child, "seed_score": seed_score,
                          "threads": getattr(lm, "threads_in_use", None), "reply": text}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
