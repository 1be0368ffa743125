"""``honing serve-lm``: the embedded models as an OpenAI-compatible endpoint.

Tools that speak the OpenAI API (the ``openai`` client, LiteLLM, DSPy,
LangChain) use the local model unchanged, with
``base_url="http://127.0.0.1:8000/v1"`` and any API key.

The runtime (llama.cpp through xllamacpp) already runs llama.cpp's own HTTP
server inside this process, on a random loopback port behind a random key.
A local model is served by proxying to it, so streaming (token by token),
stop sequences, JSON mode and JSON schemas, logprobs and ``/v1/completions``
are llama.cpp's, not a reimplementation. This front adds what a shared
endpoint needs: strict request checks (every malformed or unsupported
request gets a 4xx JSON error naming the problem; see ``_server_requests``),
bounded bodies read under a time limit, the served model names, and
cancellation: a client that disconnects, while queued or mid-generation,
stops its generation.

Any other ``LM`` object can be served too (``make_server({"name": lm})``):
it answers chat requests whole (a stream is one chunk), and refuses the
sampling options it cannot honour.

A model with one slot (``max_concurrency == 1``, as the local models have)
answers one request at a time; the others wait their turn here, and a
request whose client gave up while waiting is dropped, not generated.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import select
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .._hosts import LOOPBACK_NAMES, host_name, is_loopback
from ._base import LM, Completion, LMError
from ._local import LocalLM
from ._model_files import DEFAULT_REFLECTION_MODEL, MODELS, ModelFileError
from ._server_requests import IGNORED, RequestError, check_chat, check_completion, content_length, parse_body

__all__ = ["add_serve_lm_arguments", "make_server", "run_serve_lm", "serve", "serve_lm"]

log = logging.getLogger("honing.llm.server")

READ_TIMEOUT_S = 30.0  # a client must send its request within this; a slower one gets a 408
POLL_S = 0.25  # how often a waiting or generating request checks that its client is still there

_T = TypeVar("_T")


class _ClientGone(Exception):
    """The client closed its connection; its request was dropped or its generation stopped."""


def _peer_closed(sock: socket.socket) -> bool:
    """Whether the other end closed the connection (readable with nothing to read is EOF)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


class _Watch:
    """Watches a client connection on a thread while the model works; ``on_gone`` runs if it closes."""

    def __init__(self, sock: socket.socket, on_gone: Callable[[], None]) -> None:
        self.gone = False
        self._sock = sock
        self._on_gone = on_gone
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="honing-serve-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            if _peer_closed(self._sock):
                self.gone = True
                self._on_gone()
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def upstream(self, read: Callable[[], _T], failure: str) -> _T:
        """``read()`` from the runtime; if it fails, that is the client leaving when this watch saw it
        go (``_ClientGone``), else an ``LMError`` that starts with ``failure``."""
        try:
            return read()
        except (OSError, http.client.HTTPException) as exc:
            if self.gone:
                raise _ClientGone from exc
            raise LMError(f"{failure}: {exc}") from exc


# -- backends -----------------------------------------------------------------------
class _LocalBackend:
    """A local model: requests are checked here, then proxied to the runtime's own server."""

    def __init__(self, name: str, lm: LocalLM) -> None:
        self.name = name
        self.lm = lm
        self._address: tuple[str, int, str] | None = None

    def load(self) -> None:
        address, key = self.lm.endpoint()
        parts = urlsplit(address)
        self._address = (parts.hostname or "127.0.0.1", parts.port or 80, key)

    def prepare(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        limit = self.lm.n_ctx
        if route == "/chat/completions":
            messages = check_chat(body, local=True, served=self.name, max_tokens_limit=limit)
            request = {**body, "messages": messages}
        elif route == "/completions":
            check_completion(body, served=self.name, max_tokens_limit=limit)
            request = dict(body)
        else:
            raise RequestError(400, f"model {self.name!r} is a chat model and serves no embeddings",
                               param="model")
        for name in ("model", *IGNORED):
            request.pop(name, None)
        if "max_completion_tokens" in request:
            request["max_tokens"] = request.pop("max_completion_tokens")
        request.setdefault("max_tokens", self.lm.max_tokens)
        request.setdefault("temperature", self.lm.temperature)
        request["t_max_predict_ms"] = max(1, int(self.lm.timeout_s * 1000))
        return request

    def answer(self, handler: _Handler, route: str, request: dict[str, Any]) -> None:
        if self._address is None:
            self.load()
        assert self._address is not None
        host, port, key = self._address
        upstream = http.client.HTTPConnection(host, port, timeout=self.lm.timeout_s + 60)
        watch: _Watch | None = None
        try:
            upstream.request("POST", "/v1" + route, body=json.dumps(request).encode(),
                             headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
            watch = _Watch(handler.connection, lambda: _abort(upstream))
            response = watch.upstream(upstream.getresponse, "the local runtime did not answer")
            events = response.getheader("Content-Type", "").startswith("text/event-stream")
            if request.get("stream") and response.status == 200 and events:
                self._relay_stream(handler, response, watch)
            else:
                raw = watch.upstream(response.read, "the local runtime's answer was cut")
                handler.send_json(response.status, self._rename(_json_or_error(raw, response.status)))
        finally:
            if watch is not None:
                watch.stop()
            upstream.close()  # a generation still running sees its connection close, and stops

    def _relay_stream(self, handler: _Handler, response: http.client.HTTPResponse, watch: _Watch) -> None:
        handler.start_stream()
        try:
            while True:
                line = response.readline()
                if not line:
                    break
                if line.startswith(b"data: {"):
                    try:
                        line = b"data: " + json.dumps(self._rename(json.loads(line[6:]))).encode() + b"\n"
                    except ValueError:
                        pass  # not ours to fix: the client sees the runtime's line as it was
                handler.wfile.write(line)
                if line == b"\n":
                    handler.wfile.flush()
            handler.wfile.flush()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise _ClientGone from exc
        except (OSError, http.client.HTTPException) as exc:
            if watch.gone:
                raise _ClientGone from exc
            raise  # the stream has started: nothing to answer with but a closed connection

    def _rename(self, payload: Any) -> Any:
        if isinstance(payload, dict) and "model" in payload:
            payload["model"] = self.name  # the runtime reports its file path
        return payload


def _abort(connection: http.client.HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed: nothing left to stop


def _json_or_error(raw: bytes, status: int) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return {"error": {"message": raw.decode("utf-8", "replace")[:2000] or f"status {status}",
                          "type": "server_error", "code": status}}


class _PlainBackend:
    """Any LM object: chat only, answered whole; it takes no sampling options."""

    def __init__(self, name: str, lm: LM) -> None:
        self.name = name
        self.lm = lm

    def load(self) -> None:
        pass

    def prepare(self, route: str, body: dict[str, Any]) -> dict[str, Any]:
        if route != "/chat/completions":
            raise RequestError(400, f"model {self.name!r} serves chat completions only", param="model")
        messages = check_chat(body, local=False, served=f"model {self.name!r} (an LM object)", max_tokens_limit=1)
        return {**body, "messages": messages}

    def answer(self, handler: _Handler, route: str, request: dict[str, Any]) -> None:
        completion = self.lm.complete(request["messages"])
        if not isinstance(completion, Completion):
            raise LMError(f"{self.name}: complete() returned {type(completion).__name__}, expected Completion")
        if request.get("stream"):
            include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
            handler.start_stream()
            for chunk in _one_chunk_stream(self.name, completion, include_usage):
                handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            handler.wfile.write(b"data: [DONE]\n\n")
            handler.wfile.flush()
        else:
            handler.send_json(200, _chat_body(self.name, completion))


def _usage(completion: Completion) -> dict[str, int]:
    prompt = completion.prompt_tokens or 0
    generated = completion.completion_tokens or 0
    return {"prompt_tokens": prompt, "completion_tokens": generated, "total_tokens": prompt + generated}


def _chat_body(name: str, completion: Completion) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion", "created": int(time.time()),
        "model": name,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": completion.text},
                     "finish_reason": "stop"}],
        "usage": _usage(completion),
    }


def _one_chunk_stream(name: str, completion: Completion, include_usage: bool) -> list[dict[str, Any]]:
    base = {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": name}
    chunks = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": completion.text},
                              "finish_reason": None}]},
        {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    if include_usage:
        chunks.append({**base, "choices": [], "usage": _usage(completion)})
    return chunks


# -- HTTP -----------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT_S  # bounds reading a request: a half-sent one cannot hold a thread forever

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        log.info("%s %s", self.address_string(), format % args)

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        # Only idle keep-alive connections timing out reach here (send_error is overridden): routine.
        log.debug("%s %s", self.address_string(), format % args)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The standard library's own refusals (bad request line, headers) as JSON too."""
        if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
            self.request_version = "HTTP/1.1"  # an unparsable request line still gets a status line
        self.send_json_error(RequestError(code, message or explain or "bad request"))

    def send_json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def send_json_error(self, error: RequestError) -> None:
        self.close_connection = True  # the body may be unread: do not reuse the connection
        try:
            self.send_json(error.status, error.body())
        except OSError:
            pass  # the client is gone; there is no one left to tell

    def start_stream(self) -> None:
        self.close_connection = True  # the stream ends when the connection closes
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()

    def _route(self) -> str:
        path = self.path.split("?", 1)[0].rstrip("/")
        return path[3:] if path.startswith("/v1") else path

    def _host_refused(self) -> bool:
        """A loopback server answers only loopback host names: a web page cannot reach it by DNS rebinding."""
        allowed = self.server.allowed_hosts
        header = self.headers.get("Host")
        if allowed is None or header is None or host_name(header) in allowed:
            return False
        self.send_json_error(RequestError(403, f"host {header[:100]!r} is not served here; start serve-lm with "
                                          "--allow-host NAME to be reached under another name", "forbidden"))
        return True

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        if self._host_refused():
            return
        route = self._route()
        if route == "/models":
            data = [{"id": name, "object": "model", "created": self.server.started, "owned_by": "honing"}
                    for name in self.server.backends]
            self.send_json(200, {"object": "list", "data": data})
        elif route in ("", "/health"):
            self.send_json(200, {"status": "ok"})
        else:
            self.send_json_error(RequestError(404, f"no route {self.path[:200]}", "not_found_error"))

    def _refuse_method(self) -> None:
        self.send_json_error(RequestError(405, f"{self.command} is not supported here; use GET or POST"))

    do_PUT = do_DELETE = do_PATCH = _refuse_method  # noqa: N815 - stdlib names

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        if self._host_refused():
            return
        route = self._route()
        try:
            if route not in ("/chat/completions", "/completions", "/embeddings"):
                raise RequestError(404, f"no route {self.path[:200]}", "not_found_error")
            body = self._read_body()
            name, backend = self._pick(body)
            request = backend.prepare(route, body)
            with self._turn(name):
                backend.answer(self, route, request)
        except RequestError as error:
            self.send_json_error(error)
        except _ClientGone:
            log.info("%s left before its answer; its request was dropped", self.address_string())
            self.close_connection = True
        except LMError as error:
            log.warning("model call failed: %s", error)
            self.send_json_error(RequestError(500, str(error), "server_error"))

    def _read_body(self) -> dict[str, Any]:
        if self.headers.get("Transfer-Encoding"):
            raise RequestError(411, "send the body with a Content-Length, not Transfer-Encoding")
        length = content_length(self.headers.get("Content-Length"))
        deadline = time.monotonic() + self.timeout  # for the whole body: trickling bytes does not extend it
        chunks: list[bytes] = []
        received = 0
        try:
            while received < length:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                self.connection.settimeout(left)
                chunk = self.rfile.read1(min(length - received, 1 << 16))
                if not chunk:
                    raise RequestError(400, f"the body ended after {received} of {length} bytes (Content-Length)")
                chunks.append(chunk)
                received += len(chunk)
        except TimeoutError as exc:
            raise RequestError(408, f"the body ({received} of {length} bytes received) did not arrive within "
                               f"{self.timeout:g} s", "timeout") from exc
        finally:
            self.connection.settimeout(self.timeout)
        return parse_body(b"".join(chunks))

    def _pick(self, body: dict[str, Any]) -> tuple[str, Any]:
        backends = self.server.backends
        name = body.get("model")
        if isinstance(name, str) and name in backends:
            return name, backends[name]
        if len(backends) == 1:  # one model served: any name reaches it
            only = next(iter(backends))
            return only, backends[only]
        raise RequestError(404, f"model {name!r} is not served here; served: {', '.join(backends)}",
                           "not_found_error", param="model")

    def _turn(self, name: str) -> _Turn:
        return _Turn(self.server.turns.get(name), self.connection)


class _Turn:
    """Holds a one-slot model's turn; gives up (``_ClientGone``) if the client leaves while waiting."""

    def __init__(self, lock: threading.Lock | None, sock: socket.socket) -> None:
        self._lock = lock
        self._sock = sock

    def __enter__(self) -> None:
        if self._lock is None:
            return
        while not self._lock.acquire(timeout=POLL_S):
            if _peer_closed(self._sock):
                raise _ClientGone
        if _peer_closed(self._sock):
            self._lock.release()
            raise _ClientGone

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            self._lock.release()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    backends: dict[str, Any]
    turns: dict[str, threading.Lock]  # one per one-slot model: requests wait here, not inside the runtime
    allowed_hosts: frozenset[str] | None  # None: any Host header (bound to a non-loopback address on purpose)
    started: int


def _as_backends(models: Mapping[str, LM] | Sequence[str | LocalLM] | str | LocalLM) -> dict[str, Any]:
    if isinstance(models, (str, LocalLM)):
        models = [models]
    pairs: list[tuple[str, Any]]
    if isinstance(models, Mapping):
        pairs = list(models.items())
    else:
        built = [LocalLM(m) if isinstance(m, str) else m for m in models]
        pairs = [(lm.name, lm) for lm in built]
    return {name: _LocalBackend(name, lm) if isinstance(lm, LocalLM) else _PlainBackend(name, lm)
            for name, lm in pairs}


def make_server(
    models: Mapping[str, LM] | Sequence[str | LocalLM] | str | LocalLM,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    preload: bool = True,
    allow_hosts: Sequence[str] = (),
) -> _Server:
    """Build (not start) the server; port 0 picks a free one (see ``server_address``).

    ``models`` are registered names, ``LocalLM`` instances, or a mapping from a
    served name to any LM. Local models load up front so a broken install
    fails here, not on the first request. Bound to a loopback address, the
    server answers only requests for loopback host names plus ``allow_hosts``.
    """
    backends = _as_backends(models)
    if not backends:
        raise ValueError("serve at least one model")
    if preload:
        for backend in backends.values():
            backend.load()
    server = _Server((host, port), _Handler)
    server.backends = backends
    server.turns = {name: threading.Lock() for name, backend in backends.items()
                    if getattr(backend.lm, "max_concurrency", None) == 1}
    server.started = int(time.time())
    server.allowed_hosts = (LOOPBACK_NAMES | {host.lower()} | {h.lower() for h in allow_hosts}
                            if is_loopback(host) else None)
    return server


def serve(
    models: Mapping[str, LM] | Sequence[str | LocalLM] | str | LocalLM,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    allow_hosts: Sequence[str] = (),
) -> None:
    """Serve the models until interrupted (Ctrl-C)."""
    from .._logging import install_default_handler

    install_default_handler()
    server = make_server(models, host, port, allow_hosts=allow_hosts)
    bound_host, bound_port = server.server_address[:2]
    log.info("serving %s at http://%s:%s/v1 (Ctrl-C to stop)", ", ".join(server.backends), bound_host, bound_port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopped")
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
    allow_hosts: Sequence[str] = (),
) -> None:
    """Serve one local model (what ``honing serve-lm`` runs)."""
    serve([LocalLM(model, n_ctx=n_ctx, max_tokens=max_tokens, n_threads=n_threads)], host, port,
          allow_hosts=allow_hosts)


def add_serve_lm_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``serve-lm`` options to a (sub)parser."""
    parser.add_argument("--model", default=DEFAULT_REFLECTION_MODEL,
                        help=f"registered local model ({', '.join(sorted(MODELS))}) or a GGUF path")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    parser.add_argument("--n-ctx", type=int, default=4096, help="context window in tokens")
    parser.add_argument("--max-tokens", type=int, default=1024, help="reply limit when a request sets none")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="also answer requests for this host name (on a loopback address only loopback "
                             "names are answered, a guard against DNS rebinding)")


def run_serve_lm(args: argparse.Namespace) -> int:
    """Run ``serve-lm`` from parsed arguments; returns the exit status."""
    try:
        serve_lm(args.model, args.host, args.port, n_ctx=args.n_ctx, max_tokens=args.max_tokens,
                 n_threads=args.threads, allow_hosts=args.allow_host)
    except (LMError, ModelFileError, OSError) as error:
        log.error("serve-lm: %s", error)
        return 1
    return 0
