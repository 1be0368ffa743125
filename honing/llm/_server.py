"""An OpenAI-compatible chat endpoint over the embedded local model.

Tools that already speak the OpenAI API (the ``openai`` client, LiteLLM,
LangChain's ChatOpenAI) can then use the local model unchanged, with
``base_url="http://127.0.0.1:8000/v1"`` and any API key. Built on the standard
library's ``http.server`` so it adds no dependency. Requests are answered
whole; ``stream: true`` gets the whole answer as one server-sent-events chunk,
which streaming clients accept.

A model with one slot (``max_concurrency == 1``, as the local models have)
answers one request at a time and the others wait their turn here. A client
that gives up while waiting (its timeout passed) is noticed when its turn
comes, and its request is dropped instead of generated for nobody: otherwise
a client that retries after a timeout piles up work on a busy model.
"""

from __future__ import annotations

import argparse
import json
import logging
import select
import socket
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ._base import LM, Completion, LMError
from ._local import LocalLM
from ._model_files import DEFAULT_REFLECTION_MODEL, MODELS, ModelFileError

__all__ = ["make_server", "serve", "serve_lm", "add_serve_lm_arguments", "run_serve_lm"]

log = logging.getLogger("honing.llm.server")

_MAX_BODY = 32 * 1024 * 1024


class _ClientGone(Exception):
    """The client closed its connection before its request's turn came."""


class _Error(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


def _as_models(models: Mapping[str, LM] | Sequence[str | LocalLM] | str | LocalLM) -> dict[str, LM]:
    if isinstance(models, (str, LocalLM)):
        models = [models]
    if isinstance(models, Mapping):
        return dict(models)
    out: dict[str, LM] = {}
    for model in models:
        lm = LocalLM(model) if isinstance(model, str) else model
        out[lm.name] = lm
    return out


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        log.info("%s %s", self.address_string(), format % args)

    # -- plumbing ---------------------------------------------------------
    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, error: _Error) -> None:
        self.close_connection = True  # the body may be unread: do not reuse the socket
        self._send_json(
            error.status, {"error": {"message": str(error), "type": error.kind, "code": error.status}}
        )

    def _route(self) -> str:
        path = self.path.split("?", 1)[0].rstrip("/")
        return path[3:] if path.startswith("/v1") else path

    # -- endpoints --------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        route = self._route()
        if route == "/models":
            data = [
                {"id": name, "object": "model", "created": self.server.started, "owned_by": "honing"}
                for name in self.server.models
            ]
            self._send_json(200, {"object": "list", "data": data})
        elif route in ("", "/health"):
            self._send_json(200, {"status": "ok"})
        else:
            self._send_error(_Error(404, f"no route {self.path}", "not_found_error"))

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        try:
            if self._route() != "/chat/completions":
                raise _Error(404, f"no route {self.path}", "not_found_error")
            request = self._read_json()
            name, lm = self._pick_model(request)
            messages = request.get("messages")
            if not isinstance(messages, list) or not messages:
                raise _Error(400, "'messages' must be a non-empty list")
            completion, finish = self._run(lm, request, messages)
        except _Error as error:
            self._send_error(error)
            return
        except _ClientGone:
            log.warning("a client left before its request's turn; the request was dropped")
            self.close_connection = True
            return
        except LMError as error:
            log.warning("model call failed: %s", error)
            self._send_error(_Error(500, str(error), "server_error"))
            return
        if request.get("stream"):
            include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
            self._send_stream(name, completion, finish, include_usage)
        else:
            self._send_json(200, _chat_body(name, completion, finish))

    def _read_json(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > _MAX_BODY:
            raise _Error(400, "a JSON body (with Content-Length) of at most 32 MB is required")
        try:
            request = json.loads(self.rfile.read(length))
        except ValueError as exc:
            raise _Error(400, f"body is not valid JSON: {exc}") from exc
        if not isinstance(request, dict):
            raise _Error(400, "body must be a JSON object")
        return request

    def _pick_model(self, request: dict[str, Any]) -> tuple[str, LM]:
        models = self.server.models
        name = request.get("model")
        if name in models:
            return name, models[name]
        if len(models) == 1:  # one model served: any name reaches it
            only = next(iter(models))
            return only, models[only]
        served = ", ".join(models)
        raise _Error(404, f"model {name!r} is not served here; served: {served}", "not_found_error")

    def _client_gone(self) -> bool:
        """Whether the client has closed the connection (readable with nothing to read means EOF)."""
        try:
            readable, _, _ = select.select([self.connection], [], [], 0)
            return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _run(self, lm: LM, request: dict[str, Any], messages: list) -> tuple[Completion, str]:
        turn = self.server.turns.get(id(lm))
        if turn is None:
            return self._generate(lm, request, messages)
        with turn:
            if self._client_gone():
                raise _ClientGone
            return self._generate(lm, request, messages)

    def _generate(self, lm: LM, request: dict[str, Any], messages: list) -> tuple[Completion, str]:
        if isinstance(lm, LocalLM):
            max_tokens = request.get("max_completion_tokens") or request.get("max_tokens")
            temperature, seed = request.get("temperature"), request.get("seed")
            try:
                tuned = lm.with_options(
                    max_tokens=int(max_tokens) if max_tokens else None,
                    temperature=float(temperature) if temperature is not None else None,
                    seed=int(seed) if seed is not None else None,
                )
            except (TypeError, ValueError) as exc:
                raise _Error(400, f"bad sampling parameter: {exc}") from exc
            return tuned.chat(messages)
        return lm.complete(messages), "stop"

    def _send_stream(self, name: str, completion: Completion, finish: str, include_usage: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": name}
        chunks = [
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": completion.text},
                                  "finish_reason": None}]},
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]},
        ]
        if include_usage:
            chunks.append({**base, "choices": [], "usage": _usage(completion)})
        for chunk in chunks:
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


def _usage(completion: Completion) -> dict[str, int]:
    prompt = completion.prompt_tokens or 0
    generated = completion.completion_tokens or 0
    return {"prompt_tokens": prompt, "completion_tokens": generated, "total_tokens": prompt + generated}


def _chat_body(name: str, completion: Completion, finish: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": name,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": completion.text},
             "finish_reason": finish}
        ],
        "usage": _usage(completion),
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    models: dict[str, LM]
    turns: dict[int, threading.Lock]  # one per single-slot model: requests wait here, not inside the model
    started: int


def make_server(
    models: Mapping[str, LM] | Sequence[str | LocalLM] | str | LocalLM,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    preload: bool = True,
) -> ThreadingHTTPServer:
    """Build (not start) the server; port 0 picks a free one (see ``server_address``).

    ``models`` are registered names, ``LocalLM`` instances, or a mapping from a
    served name to any LM. Local models load up front so a broken install
    fails here, not on the first request.
    """
    served = _as_models(models)
    if not served:
        raise ValueError("serve at least one model")
    if preload:
        for lm in served.values():
            if isinstance(lm, LocalLM):
                lm.load()
    server = _Server((host, port), _Handler)
    server.models = served
    server.turns = {id(lm): threading.Lock() for lm in served.values() if getattr(lm, "max_concurrency", None) == 1}
    server.started = int(time.time())
    return server


def serve(
    models: Mapping[str, LM] | Sequence[str | LocalLM] | str | LocalLM,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """Serve the models until interrupted (Ctrl-C)."""
    server = make_server(models, host, port)
    bound_host, bound_port = server.server_address[:2]
    log.warning("serving %s at http://%s:%s/v1", ", ".join(server.models), bound_host, bound_port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def serve_lm(
    model: str = DEFAULT_REFLECTION_MODEL,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    n_ctx: int = 4096,
    max_tokens: int = 1024,
    n_threads: int | None = None,
) -> None:
    """Serve one local model (what ``honing serve-lm`` runs)."""
    serve([LocalLM(model, n_ctx=n_ctx, max_tokens=max_tokens, n_threads=n_threads)], host, port)


def add_serve_lm_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``serve-lm`` options to a (sub)parser."""
    parser.add_argument("--model", default=DEFAULT_REFLECTION_MODEL,
                        help=f"registered local model ({', '.join(sorted(MODELS))}) or a GGUF path")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    parser.add_argument("--n-ctx", type=int, default=4096, help="context window in tokens")
    parser.add_argument("--max-tokens", type=int, default=1024, help="default reply limit in tokens")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")


def run_serve_lm(args: argparse.Namespace) -> int:
    """Run ``serve-lm`` from parsed arguments; returns the exit status."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        serve_lm(args.model, args.host, args.port, n_ctx=args.n_ctx,
                 max_tokens=args.max_tokens, n_threads=args.threads)
    except (LMError, ModelFileError, OSError) as error:
        log.error("serve-lm: %s", error)
        return 1
    return 0
