"""`gunicorn/max-requests`, re-measured on real gunicorn: a worker recycled by max_requests
cuts a gthread worker's stream about graceful_timeout + timeout later, while the uvicorn
worker lets it finish; the linter says "cut" exactly for the worker that cuts."""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

from streamwarden.lab.stacks import HOST, Launcher
from streamwarden.lint import Kind, Limits, lint_text

EVENTS = 24  # recycle_app.EVENTS: 6 s of stream
# graceful_timeout 1 s + timeout 3 s: a gthread stream is cut about 4 s in. (A shorter
# timeout risks the arbiter killing a busy uvicorn worker on a loaded box: workers notify it
# every timeout / 2.)
FLAGS = ["--max-requests", "1", "--graceful-timeout", "1", "--timeout", "3"]


def events(port: int) -> tuple[int, float]:
    """(events read, seconds until the stream ended or was cut)."""
    count = 0
    with socket.create_connection((HOST, port), timeout=20) as sock:
        start = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        while chunk := sock.recv(65536):
            count += chunk.count(b"data: event")
            if chunk.endswith(b"0\r\n\r\n"):
                break  # the last chunk: the stream ended cleanly
        return count, time.monotonic() - start


def gunicorn(lab: Launcher, worker: str, app: str) -> int:
    return lab.python(
        f"gunicorn-{worker.rsplit('.', 1)[-1]}",
        lambda port: [
            *("gunicorn", app, f"--bind={HOST}:{port}", f"--worker-class={worker}"),
            *FLAGS,
            "--log-level=warning",
        ],
    )


def test_a_recycled_gthread_worker_cuts_its_stream_and_uvicorns_does_not(lab: Launcher) -> None:
    threaded = gunicorn(lab, "gthread", "recycle_app:wsgi")
    uvicorn_port = gunicorn(lab, "uvicorn_worker.UvicornWorker", "recycle_app:asgi")
    with ThreadPoolExecutor(2) as pool:
        cut, whole = pool.map(events, (threaded, uvicorn_port))
    assert cut[0] < EVENTS, cut  # killed mid-stream once its one request made it recycle
    assert whole[0] == EVENTS, whole
    # The linter, told the stream lasts 6 s, says exactly that.
    limits = Limits(max_duration=6)
    for worker, measured_cut in (("gthread", True), ("uvicorn_worker.UvicornWorker", False)):
        line = f"gunicorn -k {worker} {' '.join(FLAGS)} app:app\n"
        ids = {f.id for f in lint_text("start.sh", line, Kind.COMMANDS, limits)}
        assert ("gunicorn/max-requests" in ids) == measured_cut, (worker, ids)
