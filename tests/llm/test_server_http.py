"""serve-lm over real HTTP on loopback: the proxy to the runtime's server, and hostile requests.

The runtime's own llama.cpp server is stood in for by a small fake that
streams slowly and notices when its client leaves, so these tests need no
model; tests/e2e/test_serve_lm.py runs the same paths on the real 0.5B model.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from honing.llm import Completion, LocalLM, _server
from honing.llm._server import make_server


class FakeRuntime(ThreadingHTTPServer):
    """Answers like llama.cpp's server: JSON, or SSE chunks one every ``pause_s``; records what it saw."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RuntimeHandler)
        self.requests: list[dict] = []
        self.cancelled = threading.Event()
        self.pause_s = 0.05
        self.tokens = 5


class _RuntimeHandler(BaseHTTPRequestHandler):
    server: FakeRuntime
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body["_auth"] = self.headers.get("Authorization")
        body["_path"] = self.path
        self.server.requests.append(body)
        if body.get("temperature") == 99:  # the runtime's own refusal, passed through
            data = json.dumps({"error": {"code": 400, "message": "runtime says no", "type": "x"}}).encode()
            self.send_response(400)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        if not body.get("stream"):
            time.sleep(self.server.pause_s * self.server.tokens)
            if body.get("max_tokens") == 777:  # a long generation: the client leaves meanwhile
                self._wait_for_disconnect()
                return
            data = json.dumps({"object": "chat.completion", "model": "/path/model.gguf", "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            for i in range(self.server.tokens if body.get("max_tokens") != 777 else 10_000):
                chunk = {"object": "chat.completion.chunk", "model": "/path/model.gguf",
                         "choices": [{"index": 0, "delta": {"content": f"t{i} "}, "finish_reason": None}],
                         "sent_at": time.monotonic()}
                self._chunk(f"data: {json.dumps(chunk)}\n\n".encode())
                time.sleep(self.server.pause_s)
            self._chunk(b"data: [DONE]\n\n")
            self._chunk(b"")
        except OSError:
            self.server.cancelled.set()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _wait_for_disconnect(self) -> None:
        self.connection.settimeout(30)
        if self.connection.recv(1) == b"":
            self.server.cancelled.set()


class FakeLocalLM(LocalLM):
    """A LocalLM whose runtime is the fake above (nothing is loaded)."""

    def __init__(self, runtime: FakeRuntime) -> None:
        super().__init__("local/fake", n_ctx=2048, max_tokens=64, temperature=0.3, timeout_s=20)
        self.runtime = runtime

    def endpoint(self) -> tuple[str, str]:
        host, port = self.runtime.server_address[:2]
        return f"http://{host}:{port}", "secret-key"


def _start(server) -> tuple[str, int]:
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server.server_address[:2]


@pytest.fixture
def runtime():
    fake = FakeRuntime()
    _start(fake)
    yield fake
    fake.shutdown()
    fake.server_close()


@pytest.fixture
def served(runtime, monkeypatch):
    monkeypatch.setattr(_server._Handler, "timeout", 1.0)  # patient enough for tests, quick to time out
    server = make_server({"local/fake": FakeLocalLM(runtime)}, port=0)
    address = _start(server)
    yield address
    server.shutdown()
    server.server_close()


def post(address, path: str, body: dict | bytes, timeout: float = 20) -> tuple[int, dict]:
    connection = http.client.HTTPConnection(*address, timeout=timeout)
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    connection.request("POST", path, body=data, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    payload = json.loads(response.read())
    connection.close()
    return response.status, payload


def raw(address, data: bytes, timeout: float = 10) -> tuple[int, dict]:
    """Send bytes as they are; returns the status and JSON body of the answer."""
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while True:
            try:
                part = sock.recv(65536)
            except TimeoutError:
                break
            if not part:
                break
            received += part
            head, _, body = received.partition(b"\r\n\r\n")
            if head and b"Content-Length:" in head:
                length = int(head.split(b"Content-Length:")[1].split(b"\r\n")[0])
                if len(body) >= length:
                    break
    head, _, body = received.partition(b"\r\n\r\n")
    assert head, "the server closed the connection without answering"
    return int(head.split()[1]), json.loads(body)


MESSAGES = [{"role": "user", "content": "hi"}]


def test_chat_is_proxied_with_defaults_key_and_the_served_name(served, runtime):
    status, reply = post(served, "/v1/chat/completions", {"model": "anything", "messages": MESSAGES,
                                                          "stop": ["\n"], "response_format": {"type": "json_object"},
                                                          "logprobs": True, "top_logprobs": 2})
    assert status == 200 and reply["model"] == "local/fake"
    sent = runtime.requests[-1]
    assert sent["_auth"] == "Bearer secret-key" and sent["_path"] == "/v1/chat/completions"
    assert sent["max_tokens"] == 64 and sent["temperature"] == 0.3 and sent["t_max_predict_ms"] == 20_000
    assert sent["stop"] == ["\n"] and sent["response_format"] == {"type": "json_object"} and sent["logprobs"]
    assert "model" not in sent


def test_bookkeeping_fields_clients_add_unasked_are_accepted_and_not_forwarded(served, runtime):
    status, _ = post(served, "/v1/chat/completions", {"messages": MESSAGES, "user": "u1", "usage": {"include": True},
                                                      "metadata": {"k": "v"}})
    assert status == 200
    assert not {"user", "usage", "metadata"} & set(runtime.requests[-1])


def test_completions_are_proxied_too(served, runtime):
    status, _ = post(served, "/v1/completions", {"prompt": "def f(", "max_tokens": 5, "logprobs": 2})
    assert status == 200
    assert runtime.requests[-1]["_path"] == "/v1/completions" and runtime.requests[-1]["prompt"] == "def f("


def test_a_stream_is_relayed_chunk_by_chunk(served, runtime):
    runtime.pause_s, runtime.tokens = 0.2, 5
    connection = http.client.HTTPConnection(*served, timeout=20)
    connection.request("POST", "/v1/chat/completions", body=json.dumps({"messages": MESSAGES, "stream": True}),
                       headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    assert response.getheader("Content-Type") == "text/event-stream"
    arrivals = []
    for line in iter(response.readline, b""):
        if line.startswith(b"data: {"):
            chunk = json.loads(line[6:])
            assert chunk["model"] == "local/fake"
            arrivals.append(time.monotonic() - chunk["sent_at"])
        elif line.startswith(b"data: [DONE]"):
            break
    assert len(arrivals) == 5
    assert max(arrivals) < 0.15, "each chunk is passed on as it comes, not held until the end"


def test_a_runtime_refusal_keeps_its_status_and_message(served):
    status, reply = post(served, "/v1/chat/completions", {"messages": MESSAGES, "temperature": 99})
    assert status == 400 and reply["error"]["message"] == "runtime says no"


def test_a_client_leaving_mid_stream_stops_the_generation(served, runtime):
    sock = socket.create_connection(served)
    body = json.dumps({"messages": MESSAGES, "stream": True, "max_tokens": 777}).encode()
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    seen = b""
    while b"data: " not in seen:
        seen += sock.recv(4096)
    sock.close()
    assert runtime.cancelled.wait(10), "the runtime saw its connection close"


def test_a_client_leaving_before_a_whole_answer_stops_the_generation(served, runtime):
    runtime.pause_s = 0.01
    sock = socket.create_connection(served)
    body = json.dumps({"messages": MESSAGES, "max_tokens": 777}).encode()
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                 + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    time.sleep(0.3)
    sock.close()
    assert runtime.cancelled.wait(10)
    started = time.monotonic()
    assert post(served, "/v1/chat/completions", {"messages": MESSAGES})[0] == 200  # the slot is free again
    assert time.monotonic() - started < 5


def _request(body: bytes, length: str | None = None, extra: str = "") -> bytes:
    header = f"Content-Length: {len(body) if length is None else length}\r\n" if length != "omit" else ""
    return (b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            + header.encode() + extra.encode() + b"\r\n" + body)


def _chat(**fields) -> bytes:
    return json.dumps({"messages": MESSAGES, **fields}).encode()


HOSTILE = [
    ("content-length abc", _request(b"{}", length="abc"), 400, "Content-Length"),
    ("no content-length", _request(b"", length="omit"), 411, "Content-Length"),
    ("chunked body", _request(b"", length="omit", extra="Transfer-Encoding: chunked\r\n"), 411, "Content-Length"),
    ("too large", _request(b"{}", length=str(10**9)), 413, "at most"),
    ("max_tokens Infinity", _request(b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": Infinity}'),
     400, "Infinity"),
    ("temperature NaN", _request(b'{"messages": [{"role": "user", "content": "x"}], "temperature": NaN}'), 400, "NaN"),
    ("seed 1e400", _request(b'{"messages": [{"role": "user", "content": "x"}], "seed": 1e400}'), 400, "1e400"),
    ("numeric content", _request(json.dumps({"messages": [{"role": "user", "content": 5}]}).encode()), 400,
     "messages[0].content"),
    ("messages [1, 2]", _request(json.dumps({"messages": [1, 2]}).encode()), 400, "messages[0]"),
    ("no messages", _request(b"{}"), 400, "'messages'"),
    ("array body", _request(b"[1]"), 400, "JSON object"),
    ("not json", _request(b"{nope"), 400, "not valid JSON"),
    ("not utf-8", _request(b'{"a": "\xff"}'), 400, "UTF-8"),
    ("deep nesting", _request(b"[" * 100_000 + b"]" * 100_000), 400, "nested"),
    ("huge max_tokens", _request(_chat(max_tokens=10**30)), 400, "'max_tokens' must be between 1 and 2048"),
    ("bool max_tokens", _request(_chat(max_tokens=True)), 400, "must be an integer"),
    ("n 2", _request(_chat(n=2)), 400, "'n' must be 1"),
    ("tools", _request(_chat(tools=[{"type": "function"}])), 400, "tool calling"),
    ("unknown parameter", _request(_chat(frobnicate=1)), 400, "unsupported parameter 'frobnicate'"),
    ("image part", _request(json.dumps({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": "x"}}]}]}).encode()), 400, "only text parts"),
    ("bad role", _request(json.dumps({"messages": [{"role": "wizard", "content": "x"}]}).encode()), 400, "role"),
    ("bad stop", _request(_chat(stop=[1])), 400, "'stop'"),
    ("bad response_format", _request(_chat(response_format={"type": "xml"})), 400, "response_format"),
    ("stream not bool", _request(_chat(stream="yes")), 400, "'stream' must be true or false"),
    ("garbage request line", b"BLAH\r\n\r\n", 400, ""),
    ("unknown route", b"POST /v1/nothing HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}", 404, "no route"),
    ("PUT", b"PUT /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n", 405, "PUT"),
    ("embeddings", b"POST /v1/embeddings HTTP/1.1\r\nHost: localhost\r\nContent-Length: 15\r\n\r\n{\"input\": \"hi\"}",
     400, "serves no embeddings"),
]


@pytest.mark.parametrize("case, data, status, message", HOSTILE, ids=[c[0] for c in HOSTILE])
def test_every_malformed_request_gets_a_4xx_json_error(served, runtime, case, data, status, message):
    got, body = raw(served, data)
    assert got == status, body
    assert message in body["error"]["message"]
    assert runtime.requests == []  # nothing malformed reaches the model


def test_a_body_shorter_than_its_content_length_times_out_with_408(served):
    started = time.monotonic()
    got, body = raw(served, _request(b'{"messages": ', length="500"))
    assert got == 408 and "did not arrive within 1 s" in body["error"]["message"]
    assert time.monotonic() - started < 5


def test_a_trickled_body_cannot_extend_its_time_limit(served):
    sock = socket.create_connection(served, timeout=10)
    sock.sendall(_request(b"", length="100"))
    started = time.monotonic()
    answer = b""
    for _ in range(20):  # one byte every 0.2 s, each within the socket timeout, for up to 4 s
        try:
            sock.sendall(b" ")
        except OSError:
            break
        time.sleep(0.2)
        sock.setblocking(False)
        try:
            answer += sock.recv(4096)
        except BlockingIOError:
            pass
        sock.setblocking(True)
        if answer:
            break
    sock.close()
    assert b" 408 " in answer.split(b"\r\n")[0] and time.monotonic() - started < 3


class PlainLM:
    def complete(self, messages):
        return Completion(text="plain: " + messages[-1]["content"], prompt_tokens=1, completion_tokens=2)


def test_an_lm_object_refuses_options_it_cannot_honour():
    server = make_server({"plain": PlainLM()}, port=0)
    address = _start(server)
    try:
        assert post(address, "/v1/chat/completions", {"messages": MESSAGES})[1]["choices"][0]["message"][
            "content"] == "plain: hi"
        for field, value in (("temperature", 0.5), ("max_tokens", 5), ("stop", ["x"]), ("logprobs", True)):
            status, body = post(address, "/v1/chat/completions", {"messages": MESSAGES, field: value})
            assert status == 400 and f"unsupported parameter '{field}'" in body["error"]["message"]
        status, body = post(address, "/v1/completions", {"prompt": "x"})
        assert status == 400 and "chat completions only" in body["error"]["message"]
    finally:
        server.shutdown()
        server.server_close()


def test_a_loopback_server_answers_only_loopback_host_names(runtime):
    server = make_server({"local/fake": FakeLocalLM(runtime)}, port=0, allow_hosts=["my-box"])
    address = _start(server)
    try:
        for host, status in (("attacker.example", 403), ("attacker.example:80", 403), ("localhost:8000", 200),
                             ("127.0.0.1", 200), ("[::1]:8000", 200), ("MY-BOX:1", 200)):
            got, body = raw(address, b"GET /v1/models HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n")
            assert got == status, (host, body)
        got, body = raw(address, _request(_chat()).replace(b"Host: localhost", b"Host: evil.test"))
        assert got == 403 and "--allow-host" in body["error"]["message"] and runtime.requests == []
    finally:
        server.shutdown()
        server.server_close()
