"""serve-lm with a one-slot model: requests queue in the server, and one whose client left is dropped."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request

import pytest

from honing.llm import Completion
from honing.llm._server import make_server


class OneSlotLM:
    """Answers after a pause, one request at a time, and remembers what it was asked."""

    max_concurrency = 1

    def __init__(self, pause_s: float) -> None:
        self.pause_s = pause_s
        self.asked: list[str] = []
        self.busy = threading.Event()

    def complete(self, messages):
        self.asked.append(messages[-1]["content"])
        self.busy.set()
        time.sleep(self.pause_s)
        return Completion(text="done: " + messages[-1]["content"])


@pytest.fixture
def served():
    lm = OneSlotLM(pause_s=1.0)
    server = make_server({"slow": lm}, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield lm, server.server_address[:2]
    server.shutdown()
    server.server_close()


def _post(address, content: str, timeout: float) -> dict:
    host, port = address
    request = urllib.request.Request(
        f"http://{host}:{port}/v1/chat/completions", headers={"Content-Type": "application/json"},
        data=json.dumps({"messages": [{"role": "user", "content": content}]}).encode())
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def test_a_request_whose_client_gave_up_is_not_generated(served):
    lm, address = served
    first: dict = {}
    waiter = threading.Thread(target=lambda: first.update(_post(address, "first", timeout=30)))
    waiter.start()
    assert lm.busy.wait(10)
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        _post(address, "impatient", timeout=0.3)  # gives up while "first" holds the model
    waiter.join(30)
    assert first["choices"][0]["message"]["content"] == "done: first"
    assert _post(address, "third", timeout=30)["choices"][0]["message"]["content"] == "done: third"
    assert lm.asked == ["first", "third"]


def test_waiting_requests_are_all_answered_in_turn(served):
    lm, address = served
    lm.pause_s = 0.2
    replies: dict[int, str] = {}

    def ask(i: int) -> None:
        replies[i] = _post(address, f"q{i}", timeout=30)["choices"][0]["message"]["content"]

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert replies == {i: f"done: q{i}" for i in range(3)}
    assert sorted(lm.asked) == ["q0", "q1", "q2"]
