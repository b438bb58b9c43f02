"""uvicorn, taught to drain: SIGTERM stops admitting, finishes streams, then exits 0."""

from __future__ import annotations

import asyncio
import logging
import shutil
import signal
import socket
import sys
from types import FrameType

import uvicorn

from streamwarden.gateway.app import create_app
from streamwarden.gateway.drain import Drain
from streamwarden.gateway.settings import GatewaySettings
from streamwarden.gctuning import fewer_collections

__all__ = ["GatewayServer", "run"]

logger = logging.getLogger("streamwarden.gateway")


class GatewayServer(uvicorn.Server):
    """Builds the app inside its own process (so `--workers` can spawn it) and turns the
    first SIGTERM into a drain instead of an immediate stop."""

    def __init__(self, config: uvicorn.Config, settings: GatewaySettings) -> None:
        super().__init__(config)
        self.settings = settings
        self._drain: Drain | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        if self.settings.access_log:
            _log_access_to_stderr()
        app = create_app(self.settings)
        self._drain = app.state.gateway.drain
        self._loop = asyncio.get_running_loop()
        self.config.app = app
        # Everything built so far lives as long as the process: out of the collector's sight.
        with fewer_collections():
            await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        drain = self._drain
        if sig == signal.SIGTERM and drain is not None and not self.should_exit and self._loop:
            if not drain.draining:
                logger.warning("SIGTERM: draining (up to %gs)", self.settings.drain_timeout)
                self._loop.call_soon_threadsafe(drain.begin, self._drained)
                return
        # A second signal, or SIGINT: stop now, as uvicorn does.
        super().handle_exit(sig, frame)

    def _drained(self) -> None:
        # Not through handle_exit: uvicorn would re-raise SIGTERM at exit and the process
        # would die with status 143 instead of exiting 0 after a clean drain.
        self.should_exit = True


def _log_access_to_stderr() -> None:
    # Configured here, in each worker process: spawned workers start with bare logging.
    log = logging.getLogger("streamwarden.access")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def bind_socket(host: str, port: int) -> socket.socket:
    """The listening socket, bound here so that a busy port is one clear error, not uvicorn's
    log record and exit status 3."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def run(
    settings: GatewaySettings, sock: socket.socket, workers: int = 1, log_level: str = "warning"
) -> None:
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        "streamwarden.gateway.app:create_app",  # replaced by the built app in serve()
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        lifespan="on",
        # Streams end within the drain; this bounds the wait for idle keep-alive sockets.
        timeout_graceful_shutdown=10,
        timeout_keep_alive=75,  # above ALB's 60 s idle timeout, so the LB closes first
    )
    server = GatewayServer(config, settings)
    try:
        if workers <= 1:
            server.run(sockets=[sock])
        else:
            _run_workers(config, settings, workers, sock)
    finally:
        sock.close()


def _worker(config: uvicorn.Config, settings: GatewaySettings, sock: socket.socket) -> None:
    GatewayServer(config, settings).run(sockets=[sock])


def _run_workers(
    config: uvicorn.Config, settings: GatewaySettings, workers: int, sock: socket.socket
) -> None:
    """A small supervisor: uvicorn's own builds a plain `Server` in each worker, which would
    lose the drain. One socket, N spawned workers, signals forwarded, exit 0 when all do."""
    import multiprocessing
    import os
    import tempfile

    # Each worker writes its metrics here; /metrics in any worker sums them all.
    own_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_dir = tempfile.mkdtemp(prefix="streamwarden-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_dir
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_worker, args=(config, settings, sock), daemon=False)
        for _ in range(workers)
    ]

    def forward(sig: int, frame: FrameType | None) -> None:
        for process in processes:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, sig)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for process in processes:
            process.start()
        for process in processes:
            process.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)
    failed = [p.exitcode for p in processes if p.exitcode not in (0, None)]
    if failed:
        logger.error("worker(s) exited with %s", failed)
        sys.exit(1)
