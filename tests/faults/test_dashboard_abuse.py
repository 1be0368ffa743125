"""The dashboard under load and abuse: many clients, half-sent requests, foreign Host names, odd requests."""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from honing.store import SQLiteStore
from honing.ui import Dashboard
from honing.ui._http import BoundedHTTPServer, Response
from tests.store._helpers import candidate, evaluation, header, proposal


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("dash") / "run"
    store = SQLiteStore.for_run_dir(run_dir)
    store.open(header(), {})
    store.add_candidate(candidate(0, "secret prompt text"))
    store.add_candidate(candidate(1, "secret prompt text, better", parents=(0,), origin="reflection", proposal_id=0))
    store.add_proposal(proposal(0, child=1))
    for cid in (0, 1):
        for k in range(5):
            store.add_evaluation(evaluation(cid, f"k{k}", 0.1 * cid + 0.01 * k))
    store.close()
    return run_dir


@pytest.fixture
def dashboard(run_dir):
    dash = Dashboard(run_dir, port=0).start()
    yield dash
    dash.close()


def _raw(port: int, request: bytes, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)


def test_two_hundred_concurrent_requests_are_all_answered(dashboard):
    def fetch(i: int) -> int:
        path = "api/overview" if i % 2 else "api/candidate/1"
        with urllib.request.urlopen(dashboard.url + path, timeout=20) as response:
            json.load(response)
            return response.status

    with ThreadPoolExecutor(max_workers=200) as clients:
        statuses = list(clients.map(fetch, range(200)))
    assert statuses == [200] * 200


def test_half_sent_requests_neither_pile_up_threads_nor_block_others(run_dir):
    dash = Dashboard(run_dir, port=0)
    dash.server._head_timeout = 1.0  # the default is 10 s; the behaviour is the same, only sooner
    dash.start()
    port = dash.server.address[1]
    threads_before = threading.active_count()
    hanging = []
    try:
        for _ in range(200):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(b"GET /api/overview HTTP/1.1\r\nHost: 127.0.0.1")  # never finished
            hanging.append(sock)
        assert threading.active_count() <= threads_before + 4  # no thread per connection
        with urllib.request.urlopen(dash.url + "api/overview", timeout=10) as response:  # others still served
            assert response.status == 200
        for sock in hanging:  # and the server hangs up on each half-sent request
            sock.settimeout(10)
            assert sock.recv(1024) == b""
    finally:
        for sock in hanging:
            sock.close()
        dash.close()


def test_only_loopback_host_names_are_answered(dashboard):
    port = dashboard.server.address[1]
    foreign = _raw(port, b"GET /api/overview HTTP/1.1\r\nHost: attacker.example\r\nConnection: close\r\n\r\n")
    assert foreign.startswith(b"HTTP/1.1 403") and b"secret prompt text" not in foreign
    rebound = _raw(port, f"GET /api/candidate/0 HTTP/1.1\r\nHost: attacker.example:{port}\r\n\r\n".encode())
    assert rebound.startswith(b"HTTP/1.1 403")
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "LOCALHOST"):
        ok = _raw(port, f"GET /api/candidate/0 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        assert ok.startswith(b"HTTP/1.1 200") and b"secret prompt text" in ok


def test_a_dashboard_bound_elsewhere_on_purpose_answers_other_names(run_dir):
    dash = Dashboard(run_dir, host="127.0.0.1", port=0, allowed_hosts=["dash.internal"]).start()
    try:
        port = dash.server.address[1]
        ok = _raw(port, b"GET /api/overview HTTP/1.1\r\nHost: dash.internal\r\nConnection: close\r\n\r\n")
        assert ok.startswith(b"HTTP/1.1 200")
        refused = _raw(port, b"GET /api/overview HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        assert refused.startswith(b"HTTP/1.1 403")
    finally:
        dash.close()
    public = BoundedHTTPServer(lambda path: Response(200, "text/plain", b"hi"), host="0.0.0.0", port=0).start()
    try:
        answer = _raw(public.address[1], b"GET / HTTP/1.1\r\nHost: any.name\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200")
    finally:
        public.close()


def test_odd_requests_get_an_error_status_not_a_dropped_connection(dashboard):
    port = dashboard.server.address[1]
    assert _raw(port, b"POST /api/overview HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}"
                ).startswith(b"HTTP/1.1 405")
    assert _raw(port, b"NONSENSE\r\n\r\n").startswith(b"HTTP/1.1 400")
    assert _raw(port, b"GET /api/candidate/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                ).startswith(b"HTTP/1.1 400")
    assert _raw(port, b"GET /nowhere HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                ).startswith(b"HTTP/1.1 404")
    huge = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + b"a" * 100_000 + b"\r\n\r\n"
    assert _raw(port, huge).startswith(b"HTTP/1.1 431")


def test_keep_alive_serves_several_requests_on_one_connection(dashboard):
    port = dashboard.server.address[1]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for _ in range(3):
            sock.sendall(b"GET /api/overview HTTP/1.1\r\nHost: localhost\r\n\r\n")
            head = b""
            while b"\r\n\r\n" not in head:
                head += sock.recv(1)
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            body = b""
            while len(body) < length:
                body += sock.recv(length - len(body))
            assert head.startswith(b"HTTP/1.1 200") and json.loads(body)["run"]["metric_calls"] == 10
