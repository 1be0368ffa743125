"""A real chat-completions server on 127.0.0.1 for the LM client tests.

Tests script its replies (status, JSON body, headers) one request at a time
and read back every request it received, so the clients are exercised over
a real socket and real HTTP rather than a mocked ``urlopen``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


def chat_reply(text: str, prompt_tokens: int = 11, completion_tokens: int = 7, model: str = "test-model",
               **usage_extra: Any) -> dict[str, Any]:
    """A full OpenAI chat.completion object (strict SDKs validate every field)."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens, **usage_extra},
    }


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict/list -> JSON, str/bytes -> sent as is
    headers: dict[str, str] = field(default_factory=dict)


class ChatServer:
    """Serves scripted replies in order; once the script is empty, repeats ``default``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[Reply] = []
        self.default = Reply(body=chat_reply("hello"))
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                reply = server._record(self.path, dict(self.headers), raw)
                body = reply.body
                data = body if isinstance(body, bytes) else (
                    body.encode() if isinstance(body, str) else json.dumps(body).encode())
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def _record(self, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        try:
            payload = json.loads(raw or b"null")
        except ValueError:
            payload = raw
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "json": payload})
            return self.script.pop(0) if self.script else self.default

    # Tests reach the helpers through the fixture, not by importing this conftest.
    chat_reply = staticmethod(chat_reply)

    def push(self, status: int = 200, body: Any = None, headers: dict[str, str] | None = None,
             times: int = 1) -> None:
        """Queue ``times`` copies of one reply (body defaults to a plain "hello" completion)."""
        reply = Reply(status, chat_reply("hello") if body is None else body, dict(headers or {}))
        with self._lock:
            self.script.extend([reply] * times)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def chat_server():
    server = ChatServer()
    try:
        yield server
    finally:
        server.close()
