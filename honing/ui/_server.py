"""The live dashboard: the page from ``_html`` and the JSON from ``_pagedata``, over ``_http``.

Three routes: ``/`` (the page), ``/api/overview`` and ``/api/candidate/<id>``.
The page polls the overview. The overview is rebuilt only when the run has
new records (``RunReader.refresh``) and at most every ``MIN_REFRESH_S``; in
between every request gets the same bytes, so a hundred open tabs (or a
hundred concurrent requests) cost one build. Bound to 127.0.0.1 by default:
the page shows prompts and evaluation details.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable
from typing import Any

from ..store import RunReader
from ._html import render_page
from ._http import BoundedHTTPServer, Response
from ._pagedata import candidate_detail, overview

MIN_REFRESH_S = 0.5


class Dashboard:
    """A running dashboard; ``url`` to open, ``close()`` to stop."""

    def __init__(self, run_dir: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 8765,
                 poll_ms: int = 2000, *, allowed_hosts: Iterable[str] | None = None) -> None:
        self.reader = RunReader(run_dir)
        self._lock = threading.Lock()  # one reader, one connection: builds are serialized
        self._overview: bytes | None = None
        self._checked = 0.0
        self._page = render_page(title=f"honing dashboard - {self.reader.run_dir}", poll_ms=poll_ms).encode()
        try:
            self.server = BoundedHTTPServer(self._respond, host, port, allowed_hosts=allowed_hosts)
        except BaseException:
            self.reader.close()
            raise

    @property
    def url(self) -> str:
        host, port = self.server.address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}/"

    def start(self) -> Dashboard:
        """Serve on a background thread (tests, notebooks)."""
        self.server.start()
        return self

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def close(self) -> None:
        self.server.close()
        with self._lock:
            self.reader.close()

    def _respond(self, path: str) -> Response:
        if path in ("/", "/index.html"):
            return Response(200, "text/html; charset=utf-8", self._page)
        if path == "/api/overview":
            return Response(200, "application/json", self._overview_bytes())
        if path.startswith("/api/candidate/"):
            try:
                cid = int(path.rsplit("/", 1)[1])
            except ValueError:
                return _json(400, {"error": "candidate id must be an integer"})
            with self._lock:
                self._refresh()
                detail = candidate_detail(self.reader, cid)
            return _json(200, detail) if detail is not None else _json(404, {"error": f"no candidate {cid}"})
        return _json(404, {"error": f"unknown path {path}"})

    def _refresh(self) -> bool:
        """Read new records, at most every ``MIN_REFRESH_S``; the caller holds the lock."""
        now = time.monotonic()
        if now - self._checked < MIN_REFRESH_S:
            return False
        self._checked = now
        return self.reader.refresh()

    def _overview_bytes(self) -> bytes:
        with self._lock:
            if self._refresh() or self._overview is None:
                self._overview = _dumps(overview(self.reader, refresh=False))
            return self._overview


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()


def _json(status: int, payload: Any) -> Response:
    return Response(status, "application/json", _dumps(payload))
