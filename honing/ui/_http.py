"""A small, bounded HTTP/1.1 server for read-only GET endpoints (the dashboard's), on asyncio.

Why not ``http.server``: its threading server starts one thread per
connection with no limit, keeps a connection's thread for as long as the
client sends nothing, and listens with a backlog of 5 -- 200 concurrent
clients overflowed it, and 200 half-sent requests held 200 threads forever.
Here every connection is a coroutine: a request head must arrive within
``head_timeout_s``, an idle keep-alive connection is closed after
``idle_timeout_s``, at most ``max_connections`` are served at once (more get a
503), and handlers run on a fixed pool of ``workers`` threads. The listen
backlog is 128.

DNS rebinding: a web page on ``attacker.example`` can make the browser resolve
that name to 127.0.0.1 and read a local server as same-origin. The only thing
that tells such a request apart is its ``Host`` header, so a server bound to a
loopback address accepts only loopback host names (``allowed_hosts`` widens
that on purpose).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .._hosts import LOOPBACK_NAMES, host_name, is_loopback

logger = logging.getLogger("honing.ui")

BACKLOG = 128
MAX_HEAD_BYTES = 16 * 1024


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


Handler = Callable[[str], Response]  # path (query string removed) -> response; runs on a worker thread

_REASONS = {200: "OK", 400: "Bad Request", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
431: "Request Header Fields Too Large", 500: "Internal Server Error",
            503: "Service Unavailable"}


class BoundedHTTPServer:
    """Serves ``handler`` on ``host:port`` until ``close``; ``start`` runs it on a background thread."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 0, *,
                 allowed_hosts: Iterable[str] | None = None, max_connections: int = 256, workers: int = 4,
                 head_timeout_s: float = 10.0, idle_timeout_s: float = 15.0, write_timeout_s: float = 30.0) -> None:
        self._handler = handler
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.create_server((host, port), family=family, backlog=BACKLOG)
        self.address = self.socket.getsockname()[:2]
        if allowed_hosts is not None:
            self.allowed_hosts: frozenset[str] | None = frozenset(h.lower() for h in allowed_hosts)
        elif is_loopback(host):
            self.allowed_hosts = LOOPBACK_NAMES | {host.lower()}
        else:
            self.allowed_hosts = None  # bound to a public address on purpose: any name that reaches it
        self._max_connections = max_connections
        self._open = 0
        self._head_timeout = head_timeout_s
        self._idle_timeout = idle_timeout_s
        self._write_timeout = write_timeout_s
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="honing-http")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    # -- running -----------------------------------------------------------------
    def start(self) -> BoundedHTTPServer:
        self._thread = threading.Thread(target=self.serve_forever, name="honing-http", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def serve_forever(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        server = await asyncio.start_server(self._connection, sock=self.socket, backlog=BACKLOG,
                                            limit=MAX_HEAD_BYTES)
        self._ready.set()
        async with server:
            await self._stopped.wait()

    def close(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.socket.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- one connection ------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open += 1
        try:
            if self._open > self._max_connections:
                await self._send(writer, _text(503, "too many connections; try again"), keep_alive=False)
                return
            timeout = self._head_timeout
            while True:
                keep_alive = await self._exchange(reader, writer, timeout)
                if not keep_alive:
                    return
                timeout = self._idle_timeout
        except (ConnectionError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            return
        finally:
            self._open -= 1
            writer.close()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float) -> bool:
        """Read one request, answer it; returns whether the connection stays open."""
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        except asyncio.LimitOverrunError:
            await self._send(writer, _text(431, "request head too large"), keep_alive=False)
            return False
        except asyncio.TimeoutError:  # idle keep-alive, or a request sent too slowly: closed either way
            return False
        request = _parse(head)
        if request is None:
            await self._send(writer, _text(400, "malformed request"), keep_alive=False)
            return False
        method, path, version, headers = request
        keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if "content-length" in headers or "transfer-encoding" in headers:
            keep_alive = False  # a body we will not read: do not parse it as the next request
        if method not in ("GET", "HEAD"):
            response = _text(405, "only GET and HEAD are served")
        elif not self._host_allowed(headers.get("host")):
            response = _text(403, "this dashboard answers only to localhost (a guard against DNS rebinding); "
                                  "start it with --allow-host NAME to be reached under another name")
        else:
            assert self._loop is not None
            try:
                response = await self._loop.run_in_executor(self._pool, self._handler, path.split("?", 1)[0])
            except Exception as exc:  # the page shows the error line; the server keeps serving
                logger.warning("dashboard request %s failed: %s: %s", path, type(exc).__name__, exc)
                response = _text(500, f"{type(exc).__name__}: {exc}")
        keep_alive = keep_alive and response.status < 400  # after an error, start afresh
        await self._send(writer, response, keep_alive=keep_alive, head_only=method == "HEAD")
        return keep_alive

    def _host_allowed(self, header: str | None) -> bool:
        if self.allowed_hosts is None or header is None:  # no Host: not a browser, so not a rebinding attack
            return True
        return host_name(header) in self.allowed_hosts

    async def _send(self, writer: asyncio.StreamWriter, response: Response, *, keep_alive: bool,
                    head_only: bool = False) -> None:
        lines = [f"HTTP/1.1 {response.status} {_REASONS.get(response.status, 'OK')}",
                 f"Content-Type: {response.content_type}", f"Content-Length: {len(response.body)}",
                 "Cache-Control: no-store", "X-Content-Type-Options: nosniff",
                 f"Connection: {'keep-alive' if keep_alive else 'close'}"]
        lines += [f"{name}: {value}" for name, value in response.headers]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head_only else response.body))
        await asyncio.wait_for(writer.drain(), self._write_timeout)


def _text(status: int, message: str) -> Response:
    return Response(status, "text/plain; charset=utf-8", message.encode())


def _parse(head: bytes) -> tuple[str, str, str, dict[str, str]] | None:
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, path, version = lines[0].split(" ")
    except ValueError:
        return None
    if not path.startswith("/") or version not in ("HTTP/1.0", "HTTP/1.1"):
        return None
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            return None
        headers[name.strip().lower()] = value.strip()
    return method, path, version, headers
