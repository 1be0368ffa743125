"""What LocalLM asks of the runtime and how it follows a call, against a scripted stand-in for the loaded model.

The stand-in plays chunks the way the runtime streams them (prompt progress,
one chunk per token, a final usage chunk) and stops as soon as the callback
returns True, as the runtime does; no model file is needed.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from honing.llm import LMError, LocalLM, _local, _local_runtime
from honing.llm._hints import ReplyHints, reply_hints
from honing.llm._local_runtime import CallCancelled, Runtime, RuntimeOptions


def progress(done: int, total: int, cached: int = 0, ms: float = 100.0) -> dict:
    return {"choices": [{"delta": {"content": None}, "finish_reason": None}],
            "prompt_progress": {"total": total, "cache": cached, "processed": done, "time_ms": ms}}


def token(text: str) -> dict:
    return {"choices": [{"delta": {"content": text}, "finish_reason": None}]}


def final(finish: str = "stop", prompt_tokens: int = 30, completion_tokens: int = 2) -> list[dict]:
    return [{"choices": [{"delta": {}, "finish_reason": finish}]},
            {"choices": [], "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
             "timings": {"prompt_per_second": 50.0, "predicted_per_second": 10.0}}]


class FakeServer:
    """Plays scripted chunks; a callable in the script runs at that point (to look at activity, cancel...)."""

    def __init__(self, *scripts: list) -> None:
        self.scripts = list(scripts)
        self.bodies: list[dict] = []
        self.played = 0

    def handle_chat_completions(self, body: dict, callback) -> None:
        self.bodies.append(body)
        script = self.scripts.pop(0) if len(self.scripts) > 1 else self.scripts[0]
        for item in script:
            if callable(item):
                item()
                continue
            self.played += 1
            if callback(item):
                return


@pytest.fixture
def fake(monkeypatch):
    """Route model loading to FakeServers; yields a function that installs the next one."""
    loads: list[RuntimeOptions] = []
    servers: list[FakeServer] = []
    monkeypatch.setattr(_local, "model_path", lambda name: Path("/fake/model.gguf"))
    monkeypatch.setattr(_local, "other_load", lambda: 0.0)
    monkeypatch.setattr(_local, "recent_other_load", lambda: 0.0)

    def load(path: Path, options: RuntimeOptions) -> Runtime:
        loads.append(options)
        return Runtime(servers[-1], path, options)

    monkeypatch.setattr(_local, "_load_runtime", load)
    _local.unload_models()

    def install(*scripts: list) -> FakeServer:
        servers.append(FakeServer(*scripts))
        return servers[-1]

    install.loads = loads
    yield install
    _local.unload_models()


def test_greedy_calls_skip_the_prompt_cache(fake):
    # A reused KV prefix changes the numerics: a temperature-0 reply would depend on the previous request.
    server = fake([token("ok"), *final()])
    assert LocalLM("local/smollm2-135m", temperature=0.0)("hello") == "ok"
    assert LocalLM("local/smollm2-135m").with_options(temperature=0.0)("hello") == "ok"
    assert [b["cache_prompt"] for b in server.bodies] == [False, False]


def test_sampled_calls_reuse_the_prompt_cache_and_stream_progress(fake):
    server = fake([token("ok"), *final()])
    LocalLM("local/smollm2-135m", temperature=0.7, max_tokens=32, seed=5)("hello")
    body = server.bodies[-1]
    assert body["cache_prompt"] is True
    assert body["max_tokens"] == 32 and body["seed"] == 5 and body["temperature"] == 0.7
    assert body["stream"] is True and body["return_progress"] is True


def test_completion_carries_text_and_usage(fake):
    fake([progress(0, 30), progress(30, 30), token("Hel"), token("lo"), *final("stop", 30, 2)])
    completion, finish = LocalLM("local/smollm2-135m").chat([{"role": "user", "content": "hi"}])
    assert (completion.text, completion.prompt_tokens, completion.completion_tokens, finish) == ("Hello", 30, 2, "stop")
    assert completion.cost_usd == 0.0 and completion.duration_s >= 0


def test_activity_follows_the_call_and_is_none_when_idle(fake):
    lm = LocalLM("local/smollm2-135m")
    seen: list[str | None] = []
    look = lambda: seen.append(lm.activity())  # noqa: E731
    fake([look, progress(0, 300), progress(128, 300, ms=2000.0), look, progress(300, 300), token("a"), token("b"),
          token("c"), look, *final()])
    assert lm.activity() is None
    lm("hello")
    assert seen[0] == "reading prompt"
    assert seen[1] == "reading prompt 128/300 tok, 64 tok/s"
    assert seen[2].startswith("writing 3 tok")
    assert lm.activity() is None


def test_activity_reports_queued_calls(fake):
    fake([token("x"), *final()])
    lm = LocalLM("local/smollm2-135m")
    lm.load()
    runtime = _local._runtimes[str(Path("/fake/model.gguf").resolve())]
    runtime.lock.acquire()  # another call holds the model
    worker = threading.Thread(target=lm, args=("hello",))
    worker.start()
    try:
        for _ in range(200):
            if lm.activity() == "queued":
                break
            threading.Event().wait(0.01)
        assert lm.activity() == "queued"
    finally:
        runtime.lock.release()
    worker.join(5)
    assert lm.activity() is None


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float):
        def step() -> None:
            self.now += seconds
        return step


def test_time_limit_covers_reading_the_prompt(fake, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(_local_runtime, "_clock", clock)
    script = [progress(0, 1280)]
    for done in range(128, 1281, 128):
        script += [clock.advance(3.0), progress(done, 1280)]
    server = fake(script + [token("late"), *final()])
    completion, reply = LocalLM("local/smollm2-135m", timeout_s=10.0).chat_reply([{"role": "user", "content": "x"}])
    assert reply.finish == "timeout"
    assert completion.text == ""
    assert server.played == 5  # stopped at the first report past the limit, not after the whole prompt
    assert server.bodies[-1]["t_max_predict_ms"] == 10_000  # the runtime's own limit backs it up


def test_time_limit_ends_writing_with_the_text_so_far(fake, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(_local_runtime, "_clock", clock)
    fake([progress(10, 10), token("one "), clock.advance(6.0), token("two "), token("three"), *final()])
    completion, finish = LocalLM("local/smollm2-135m", timeout_s=5.0).chat([{"role": "user", "content": "x"}])
    assert completion.text == "one two "
    assert finish == "length"


def test_cancel_ends_a_running_call(fake):
    lm = LocalLM("local/smollm2-135m")
    server = fake([progress(0, 500), progress(128, 500), lambda: lm.cancel(), progress(256, 500), token("x"),
                   *final()])
    with pytest.raises(CallCancelled):
        lm("hello")
    assert server.played == 3
    assert lm.activity() is None


def test_cancel_ends_a_queued_call(fake):
    fake([token("x"), *final()])
    lm = LocalLM("local/smollm2-135m")
    lm.load()
    runtime = _local._runtimes[str(Path("/fake/model.gguf").resolve())]
    errors: list[BaseException] = []

    def ask() -> None:
        try:
            lm("hello")
        except BaseException as exc:  # noqa: BLE001 - checked below
            errors.append(exc)

    runtime.lock.acquire()
    try:
        worker = threading.Thread(target=ask)
        worker.start()
        for _ in range(200):
            if lm.activity() == "queued":
                break
            threading.Event().wait(0.01)
        assert lm.cancel() == 1
        worker.join(5)
    finally:
        runtime.lock.release()
    assert not worker.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], CallCancelled)


def test_reply_hints_cap_the_reply_and_stop_at_a_complete_answer(fake):
    lines = ["Use a faster loop.\n", "```python\n", "def f(x):\n", "    return x + 1\n", "```\n", "\n",
             "This version adds one.\n", "It is better because...\n"]
    server = fake([progress(20, 20), *[token(line) for line in lines], *final()])

    def stop_at(text: str) -> str | None:
        return "complete" if text.endswith("adds one.\n") else None

    lm = LocalLM("local/smollm2-135m", max_tokens=900)
    with reply_hints(ReplyHints(max_tokens=300, stop_at=stop_at)):
        completion, reply = lm.chat_reply([{"role": "user", "content": "improve"}])
    assert server.bodies[-1]["max_tokens"] == 300
    assert reply.finish == "complete"
    assert completion.text.endswith("This version adds one.\n")
    assert "better because" not in completion.text
    lm("again")  # outside the block the hints are gone
    assert server.bodies[-1]["max_tokens"] == 900


def test_an_over_long_prompt_is_trimmed_again_with_the_runtime_count(fake):
    refused = [{"error": {"code": 400, "type": "exceed_context_size_error", "n_prompt_tokens": 5000, "n_ctx": 512,
                          "message": "too long"}}]
    server = fake(refused, [token("ok"), *final()])
    lm = LocalLM("local/smollm2-135m", n_ctx=512, max_tokens=64)
    assert lm("word " * 700) == "ok"  # the estimate let 700 words through; the runtime counted more
    first, second = (len(b["messages"][0]["content"]) for b in server.bodies)
    assert second < first


def test_runtime_errors_are_raised_not_swallowed(fake):
    fake([{"error": {"code": 500, "type": "server_error", "message": "boom"}}])
    with pytest.raises(LMError, match="boom"):
        LocalLM("local/smollm2-135m")("hello")
    _local.unload_models()
    fake(["{not json"])
    with pytest.raises(LMError, match="local model call failed"):
        LocalLM("local/smollm2-135m")("hello")


def test_threads_follow_the_free_cores_and_reload_when_they_change(fake, monkeypatch):
    monkeypatch.setattr(_local, "usable_cores", lambda: 2)
    monkeypatch.setattr(_local, "_MIN_RUNTIME_AGE_S", 0.0)
    load = {"steady": 1.9, "recent": 0.1}  # a test run just ended: the load average has not caught up yet
    monkeypatch.setattr(_local, "other_load", lambda: load["steady"])
    monkeypatch.setattr(_local, "recent_other_load", lambda: load["recent"])
    fake([token("ok"), *final()])
    lm = LocalLM("local/smollm2-135m")
    lm("hello")
    assert lm.threads_in_use == 2  # the first count follows what is free now
    load["recent"] = 1.5  # a burst (one evaluation): the steady load disagrees, so no reload
    load["steady"] = 0.2
    lm("hello")
    assert lm.threads_in_use == 2
    load["steady"] = 3.0  # other work took the cores, and both measures say so
    lm("hello")
    assert lm.threads_in_use == 1
    assert [o.n_threads for o in fake.loads] == [2, 1]
    fixed = LocalLM("local/smollm2-135m", n_threads=2)
    fixed("hello")
    assert fixed.threads_in_use == 2  # an explicit count is kept whatever the load


def test_thread_count_from_the_environment(monkeypatch):
    monkeypatch.setenv("HONING_LOCAL_THREADS", "3")
    assert LocalLM("local/smollm2-135m").n_threads == 3
    assert LocalLM("local/smollm2-135m", n_threads=1).n_threads == 1
    monkeypatch.setenv("HONING_LOCAL_THREADS", "many")
    with pytest.raises(ValueError, match="HONING_LOCAL_THREADS"):
        LocalLM("local/smollm2-135m")


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(ValueError, match="n_threads"):
        LocalLM("local/smollm2-135m", n_threads=bad)
