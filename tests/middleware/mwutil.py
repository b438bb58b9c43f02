"""Shared pieces of the middleware tests: a registry of running generators, raw exchanges."""

from __future__ import annotations

import queue
import socket
import threading
import time

from streamwarden import StreamStats


class Generators:
    """Which app generators are running, and when each one's `finally` ran (server thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.running: set[str] = set()
        self.finished: dict[str, float] = {}
        self.closed: queue.Queue[StreamStats] = queue.Queue()

    def enter(self, key: str) -> None:
        with self._lock:
            self.running.add(key)

    def leave(self, key: str) -> None:
        with self._lock:
            self.running.discard(key)
            self.finished[key] = time.monotonic()

    def on_close(self, stats: StreamStats) -> None:
        self.closed.put(stats)

    def next_stats(self, timeout: float = 5.0) -> StreamStats:
        return self.closed.get(timeout=timeout)

    def wait_finished(self, key: str, timeout: float = 5.0) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if key in self.finished:
                    return self.finished[key]
            time.sleep(0.002)
        raise AssertionError(f"generator {key!r} never ran its finally")

    def wait_idle(self, timeout: float = 5.0) -> set[str]:
        """Wait until no generator runs; returns those still running at the deadline."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self.running:
                    return set()
            time.sleep(0.01)
        with self._lock:
            return set(self.running)


def raw_exchange(port: int, path: str, headers: dict[str, str] | None = None) -> bytes:
    """The whole response to one GET, as bytes off the socket, minus its Date header."""
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    raw = b"".join(chunks)
    head, sep, body = raw.partition(b"\r\n\r\n")
    kept = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"date:")]
    return b"\r\n".join(kept) + sep + body
