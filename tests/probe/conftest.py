"""Real servers on loopback for the probe's tests: an SSE app, nginx in front of it, a relay
that cuts connections at a fixed total time, and Flask on gunicorn `sync`."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamwarden.lab.procs import (
    ManagedProcess,
    find_binary,
    free_port,
    start_nginx,
    wait_for_port,
)
from streamwarden.probe.target import SSEServer


@pytest.fixture(scope="session")
def sse_server() -> Iterator[SSEServer]:
    with SSEServer() as server:
        yield server


def _nginx_or_skip() -> None:
    if find_binary("nginx") is None:
        pytest.skip("nginx is not installed (apt-get install -y nginx-light)")


@contextlib.contextmanager
def nginx_in_front(workdir: Path, upstream_port: int, location: str = "") -> Iterator[str]:
    port = free_port()
    body = f"""
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{upstream_port};
            {location}
        }}
    }}
    """
    proc = start_nginx(workdir, body, port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.stop()


@pytest.fixture()
def nginx_buffering(tmp_path: Path, sse_server: SSEServer) -> Iterator[str]:
    """A default nginx: proxy_buffering on, HTTP/1.0 to the upstream."""
    _nginx_or_skip()
    with nginx_in_front(tmp_path / "nginx", sse_server.port) as url:
        yield url


@pytest.fixture()
def nginx_read_timeout(tmp_path: Path, sse_server: SSEServer) -> Iterator[str]:
    """nginx with buffering off (so the timeout is the only fault) and a 1 s read timeout."""
    _nginx_or_skip()
    extra = "proxy_buffering off; proxy_read_timeout 1s;"
    with nginx_in_front(tmp_path / "nginx", sse_server.port, extra) as url:
        yield url


class CuttingRelay:
    """A TCP relay that closes every connection `cut_after` seconds after it was accepted,
    whatever is flowing, like a total/route timeout (Envoy, GCP backend, API gateways)."""

    def __init__(self, upstream_port: int, cut_after: float) -> None:
        self.upstream_port = upstream_port
        self.cut_after = cut_after
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        try:
            async with asyncio.timeout(self.cut_after):
                await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        except TimeoutError:
            pass
        finally:
            writer.close()
            up_writer.close()

    def __enter__(self) -> str:
        self.thread.start()

        async def start() -> asyncio.Server:
            return await asyncio.start_server(self._handle, "127.0.0.1", self.port)

        self.server = asyncio.run_coroutine_threadsafe(start(), self.loop).result(5)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        server = self.server

        async def stop() -> None:
            server.close()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture()
def cutting_relay(sse_server: SSEServer) -> Iterator[str]:
    with CuttingRelay(sse_server.port, cut_after=1.0) as url:
        yield url


FLASK_APP = textwrap.dedent(
    """
    import json, time
    from flask import Flask, Response

    app = Flask(__name__)

    @app.get("/stream")
    def stream():
        def gen():
            for i in range(10):
                time.sleep(0.08)
                chunk = {"choices": [{"index": 0, "delta": {"content": f"t{i}"}}]}
                yield f"data: {json.dumps(chunk)}\\n\\n"
            yield "data: [DONE]\\n\\n"
        return Response(gen(), mimetype="text/event-stream")
    """
)


@pytest.fixture()
def gunicorn_sync(tmp_path: Path) -> Iterator[str]:
    """Flask on gunicorn `sync` with 2 workers: two streams at a time, the rest wait."""
    gunicorn = Path(sys.executable).parent / "gunicorn"
    if not gunicorn.exists():
        pytest.skip("gunicorn is not installed in the venv")
    (tmp_path / "flaskapp.py").write_text(FLASK_APP)
    port = free_port()
    proc = ManagedProcess(
        [
            str(gunicorn),
            "-k",
            "sync",
            "-w",
            "2",
            "--preload",  # the app is imported once, before the workers fork
            "-b",
            f"127.0.0.1:{port}",
            "flaskapp:app",
        ],
        cwd=tmp_path,
        log_path=tmp_path / "gunicorn.log",
    )
    try:
        wait_for_port("127.0.0.1", port, timeout=15)
        # Both workers must be up, or the first steps measure gunicorn's boot instead.
        deadline = time.monotonic() + 15
        while proc.log_tail(50).count("Booting worker") < 2:
            assert time.monotonic() < deadline, proc.log_tail()
            time.sleep(0.05)
        time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/stream"
    finally:
        proc.stop()
