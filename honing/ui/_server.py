"""The live dashboard: a stdlib HTTP server over a ``RunReader``.

Three routes: ``/`` (the page from ``_html``), ``/api/overview`` and
``/api/candidate/<id>`` (the builders from ``_pagedata`` as JSON). The page
polls the overview, and the reader only fetches rows added since its last
look, so watching a long run that another process is writing stays cheap.
Bound to 127.0.0.1 by default: the page shows prompts and evaluation details.
"""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ._html import render_page
from ._pagedata import candidate_detail, overview
from ..store import RunReader


class Dashboard:
    """A running dashboard; ``url`` to open, ``close()`` to stop."""

    def __init__(self, run_dir: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 8765,
                 poll_ms: int = 2000) -> None:
        self.reader = RunReader(run_dir)
        self._lock = threading.Lock()
        self._page = render_page(title=f"honing dashboard - {self.reader.run_dir}", poll_ms=poll_ms).encode()
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> Dashboard:
        """Serve on a background thread (tests, notebooks)."""
        self._thread = threading.Thread(target=self.server.serve_forever, name="honing-dashboard", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def close(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout=5)
        self.server.server_close()
        self.reader.close()

    def _api(self, path: str) -> tuple[int, Any]:
        with self._lock:  # one reader, one connection: serialize the (cheap) reads
            if path == "/api/overview":
                return 200, overview(self.reader)
            if path.startswith("/api/candidate/"):
                try:
                    cid = int(path.rsplit("/", 1)[1])
                except ValueError:
                    return 400, {"error": "candidate id must be an integer"}
                self.reader.refresh()
                detail = candidate_detail(self.reader, cid)
                return (200, detail) if detail is not None else (404, {"error": f"no candidate {cid}"})
        return 404, {"error": f"unknown path {path}"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        dashboard = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                path = self.path.split("?", 1)[0]
                if path in ("/", "/index.html"):
                    self._send(200, "text/html; charset=utf-8", dashboard._page)
                    return
                try:
                    status, payload = dashboard._api(path)
                except Exception as exc:  # shown in the page's error line; the server keeps serving
                    status, payload = 500, {"error": f"{type(exc).__name__}: {exc}"}
                body = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
                self._send(status, "application/json", body)

            def _send(self, status: int, content_type: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # quiet: the terminal shows the URL only
                pass

        return Handler
