"""The real server against clients that misbehave slowly or probe it: slow headers and bodies, too many connections,
Gradio's development route, unknown endpoint names, paths in error messages and the embedding cache's timing."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from urllib.parse import urlparse

import httpx
import pytest

from server import ApiSettings
from tests.test_security import fake_service, serve_demo

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

pytestmark = [
    pytest.mark.server,
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


def _connect(url: str, source: str | None = None) -> socket.socket:
    where = urlparse(url)
    sock = socket.create_connection((where.hostname, where.port), timeout=10,
                                    source_address=(source, 0) if source else None)
    return sock


def _closed_after(sock: socket.socket, limit: float) -> float | None:
    """Seconds until the server closes ``sock`` (reading whatever it answers first); None if still open at ``limit``."""
    started = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - started < limit:
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - started
        except socket.timeout:
            continue
        except OSError:  # reset
            return time.monotonic() - started
    return None


# ----------------------------------------------------------------------------- slow clients


def test_slow_headers_and_bodies_are_cut_off_while_others_are_served():
    """Issue 21 (9): a client trickling its headers a byte at a time, or declaring a body it never sends, held its
    connection (and a task) forever; many of them could hold the server."""
    from server.app import start

    running = start(None, fake_service(), host="127.0.0.1", port=0,
                    api_settings=ApiSettings(header_timeout_s=2, body_idle_timeout_s=2))
    stop = threading.Event()
    try:
        trickling = [_connect(running.url) for _ in range(10)]
        waiting = [_connect(running.url) for _ in range(10)]
        for sock in waiting:
            sock.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100\r\n\r\n{\"inp")

        def trickle() -> None:  # one header byte every 0.2 s on each: never complete
            line = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000
            for byte in line:
                if stop.is_set():
                    return
                for sock in trickling:
                    try:
                        sock.sendall(bytes([byte]))
                    except OSError:
                        pass
                time.sleep(0.2)

        feeder = threading.Thread(target=trickle, daemon=True)
        feeder.start()
        time.sleep(0.5)
        # An ordinary request is answered while the slow ones are open.
        assert httpx.get(f"{running.url}/health", timeout=5).status_code == 200
        results = {}

        def watch(name: str, sock: socket.socket) -> None:
            results[name] = _closed_after(sock, 8)

        watchers = [threading.Thread(target=watch, args=(f"trickle{i}", s)) for i, s in enumerate(trickling)]
        watchers += [threading.Thread(target=watch, args=(f"body{i}", s)) for i, s in enumerate(waiting)]
        for t in watchers:
            t.start()
        for t in watchers:
            t.join()
        assert all(v is not None and v < 4 for v in results.values()), results
        # A keep-alive connection used properly is not cut off by the header deadline of its next request.
        with httpx.Client(base_url=running.url, timeout=5) as http:
            for _ in range(3):
                assert http.get("/health").status_code == 200
                time.sleep(1)
    finally:
        stop.set()
        running.stop()


def test_connections_per_address_are_bounded():
    """One address cannot hold more than ``connections_per_address`` connections; others still get in."""
    from server.app import start

    running = start(None, fake_service(), host="127.0.0.1", port=0,
                    api_settings=ApiSettings(connections_per_address=5, header_timeout_s=30))
    held: list[socket.socket] = []
    try:
        try:
            held = [_connect(running.url, source="127.0.0.2") for _ in range(5)]
        except OSError as exc:  # pragma: no cover - a host without 127.0.0.0/8 on loopback
            pytest.skip(f"cannot connect from 127.0.0.2: {exc}")
        extra = _connect(running.url, source="127.0.0.2")
        assert _closed_after(extra, 3) is not None  # the sixth is closed at once
        assert all(_closed_after(sock, 0.3) is None for sock in held)  # the first five stay open
        assert httpx.get(f"{running.url}/health", timeout=5).status_code == 200  # 127.0.0.1 is not held up
        held.pop().close()
        time.sleep(0.3)
        again = _connect(running.url, source="127.0.0.2")
        again.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        again.settimeout(5)
        assert again.recv(100).startswith(b"HTTP/1.1 200")
        again.close()
    finally:
        for sock in held:
            sock.close()
        running.stop()
