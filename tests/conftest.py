"""Shared test helpers: scripted LMs stand in for a real model in engine tests."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from honing.llm import Completion
from honing.llm._base import messages_to_text

# Whichever test imports litellm first (directly, or through dspy), it must use the price table it ships:
# tests run offline, and a fetch retries in the background for seconds.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


class ScriptedLM:
    """An LM whose reply is computed from the prompt by a plain function.

    Deterministic under concurrency (the reply depends only on the prompt),
    and it keeps every prompt it was sent so tests can inspect them.
    """

    def __init__(self, reply: Callable[[str], str], cost_usd: float | None = None) -> None:
        self.reply = reply
        self.cost_usd = cost_usd
        self.prompts: list[list[dict]] = []
        self._lock = threading.Lock()

    def complete(self, messages: list[dict]) -> Completion:
        with self._lock:
            self.prompts.append(messages)
        text = self.reply(messages_to_text(messages))
        return Completion(text=text, prompt_tokens=10, completion_tokens=5, cost_usd=self.cost_usd)

    @property
    def prompt_texts(self) -> list[str]:
        with self._lock:
            return [messages_to_text(m) for m in self.prompts]


# A correct O(n log n) ``sort_list`` that sorts by itself: the improvement the sorting tasks hope for.
MERGE_SORT = '''def sort_list(arr):
    if len(arr) <= 1:
        return list(arr)
    middle = len(arr) // 2
    left, right = sort_list(arr[:middle]), sort_list(arr[middle:])
    out, i, j = [], 0, 0
    while i < len(left) and j < len(right):
        if left[i] <= right[j]:
            out.append(left[i])
            i += 1
        else:
            out.append(right[j])
            j += 1
    return out + left[i:] + right[j:]
'''


@contextlib.contextmanager
def wall_clock_limit(seconds: float, error: Callable[[], BaseException]) -> Iterator[None]:
    """Raise ``error()`` once ``seconds`` have passed, so a hung test fails instead of stalling the run.

    The limit is a ``SIGALRM`` in the main thread, which interrupts blocking calls there (socket
    reads, sleeps, waits). Where there is no ``setitimer`` the block runs unbounded.
    """
    if not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise error()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_in_threads(work: Callable[[int], object], count: int) -> None:
    """Run ``work(0)``, ..., ``work(count - 1)`` each in its own thread, all at once; wait for every one.

    The first exception a thread raised is raised here, so a failure in a thread fails the test.
    """
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:  # handed to the test below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


@contextlib.contextmanager
def serving(models: Any) -> Iterator[str]:
    """``models`` behind serve-lm's server (``make_server``) on a free loopback port, served from a thread.

    Yields the base URL, ``http://host:port/v1``; the server is shut down on the way out.
    """
    from honing.llm._server import make_server

    server = make_server(models, port=0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    host, port = server.server_address[:2]
    try:
        yield f"http://{host}:{port}/v1"
    finally:
        server.shutdown()
        server.server_close()


def fenced(text: str) -> str:
    return f"Here is the improved version.\n```\n{text}\n```"


@pytest.fixture
def scripted():
    return ScriptedLM


@pytest.fixture(autouse=True)
def _runs_in_a_temporary_directory(tmp_path, monkeypatch):
    """Runs without a run_dir create ./honing-runs/...; keep them out of the checkout."""
    monkeypatch.chdir(tmp_path)
