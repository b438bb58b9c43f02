"""uvicorn, taught to drain: SIGTERM stops admitting, finishes streams, then exits 0."""

from __future__ import annotations

import asyncio
import logging
import resource
import shutil
import signal
import socket
import sys
from types import FrameType
from typing import Any

import uvicorn

from streamwarden.gateway.admission import SharedStreams
from streamwarden.gateway.app import create_app, metrics_app
from streamwarden.gateway.connections import Listen, guarded_protocol
from streamwarden.gateway.drain import Drain
from streamwarden.gateway.settings import GatewaySettings
from streamwarden.gctuning import fewer_collections

__all__ = ["GatewayServer", "Listen", "raise_open_file_limit", "run"]

logger = logging.getLogger("streamwarden.gateway")


class GatewayServer(uvicorn.Server):
    """Builds the app inside its own process (so `--workers` can spawn it) and turns the
    first SIGTERM into a drain instead of an immediate stop."""

    def __init__(
        self,
        config: uvicorn.Config,
        settings: GatewaySettings,
        listen: Listen | None = None,
        metrics_sock: socket.socket | None = None,
        shared_streams: SharedStreams | None = None,
    ) -> None:
        super().__init__(config)
        self.settings = settings
        self.listen = listen or Listen()
        self.metrics_sock = metrics_sock
        self.shared_streams = shared_streams
        self._drain: Drain | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def run(self, sockets: list[socket.socket] | None = None) -> None:
        """As uvicorn's, but the exit does not wait forever on a task that ignores
        cancellation (a stream source the guard abandoned): leftovers get a bounded wait."""
        factory = getattr(self.config, "get_loop_factory", lambda: None)()
        loop = factory() if factory is not None else asyncio.new_event_loop()
        try:
            loop.run_until_complete(self.serve(sockets=sockets))
        finally:
            try:
                _cancel_leftovers(loop)
            finally:
                loop.close()

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        if self.settings.access_log:
            _log_access_to_stderr()
        app = create_app(
            self.settings,
            serve_metrics=self.metrics_sock is None,
            shared_streams=self.shared_streams,
        )
        self._drain = app.state.gateway.drain
        self._loop = asyncio.get_running_loop()
        self.config.app = app
        if not self.config.loaded:
            self.config.load()
        self.config.http_protocol_class = guarded_protocol(
            self.config.http_protocol_class, self.listen
        )
        metrics = await self._start_metrics(app.state.gateway)
        try:
            # Everything built so far lives as long as the process: out of the collector's sight.
            with fewer_collections():
                await super().serve(sockets)
        finally:
            if metrics is not None:
                await metrics.shutdown()

    async def _start_metrics(self, gateway: Any) -> uvicorn.Server | None:
        """`/metrics` on its own socket, in this loop, stopped with the main server."""
        if self.metrics_sock is None:
            return None
        config = uvicorn.Config(metrics_app(gateway), log_level="warning", lifespan="off")
        config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[self.metrics_sock])
        return server

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


def _cancel_leftovers(loop: asyncio.AbstractEventLoop, timeout: float = 5.0) -> None:
    tasks = asyncio.all_tasks(loop)
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    loop.run_until_complete(asyncio.wait(tasks, timeout=timeout))
    stuck = [task for task in tasks if not task.done()]
    if stuck:
        logger.warning("%d task(s) ignored cancellation at exit; leaving them", len(stuck))
    else:
        loop.run_until_complete(loop.shutdown_asyncgens())


def raise_open_file_limit() -> int:
    """Raise this process's open-file limit to its hard limit (every connection and every
    upstream request is a file descriptor); returns the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1_048_576)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


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
    settings: GatewaySettings,
    sock: socket.socket,
    workers: int = 1,
    log_level: str = "warning",
    listen: Listen | None = None,
    metrics_sock: socket.socket | None = None,
) -> None:
    listen = (listen or Listen()).sized_for(raise_open_file_limit())
    host, port = sock.getsockname()[:2]
    config = uvicorn.Config(
        "streamwarden.gateway.app:create_app",  # replaced by the built app in serve()
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        lifespan="on",
        # Streams have ended when the drain is over; this bounds the wait for the last
        # answers and idle keep-alive sockets.
        timeout_graceful_shutdown=3,
        timeout_keep_alive=75,  # above ALB's 60 s idle timeout, so the LB closes first
    )
    server = GatewayServer(config, settings, listen, metrics_sock)
    try:
        if workers <= 1:
            server.run(sockets=[sock])
        else:
            _run_workers(config, settings, workers, sock, listen, metrics_sock)
    finally:
        sock.close()
        if metrics_sock is not None:
            metrics_sock.close()


def _worker(
    config: uvicorn.Config,
    settings: GatewaySettings,
    sock: socket.socket,
    listen: Listen,
    metrics_sock: socket.socket | None,
    shared_streams: SharedStreams | None,
) -> None:
    GatewayServer(config, settings, listen, metrics_sock, shared_streams).run(sockets=[sock])


def _run_workers(
    config: uvicorn.Config,
    settings: GatewaySettings,
    workers: int,
    sock: socket.socket,
    listen: Listen,
    metrics_sock: socket.socket | None,
) -> None:
    """A small supervisor: uvicorn's own builds a plain `Server` in each worker, which would
    lose the drain. One socket, N spawned workers, signals forwarded, exit 0 when all do."""
    import multiprocessing
    import multiprocessing.connection
    import os
    import tempfile

    # Each worker writes its metrics here; /metrics in any worker sums them all.
    own_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_dir = tempfile.mkdtemp(prefix="streamwarden-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_dir
    context = multiprocessing.get_context("spawn")
    # --max-streams is one limit for all the workers: each counts in its own cell.
    limit = settings.max_streams
    cells = context.RawArray("i", workers) if limit is not None else None
    cells_lock = context.Lock()
    shares = [
        SharedStreams(cells, cells_lock, index, limit) if limit is not None else None
        for index in range(workers)
    ]
    processes = [
        context.Process(
            target=_worker,
            args=(config, settings, sock, listen, metrics_sock, share),
            daemon=False,
        )
        for share in shares
    ]

    def forward(sig: int, frame: FrameType | None) -> None:
        for process in processes:
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, sig)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        for process in processes:
            process.start()
        running = dict(enumerate(processes))
        while running:
            ended = multiprocessing.connection.wait([p.sentinel for p in running.values()])
            for index, process in list(running.items()):
                if process.sentinel in ended:
                    process.join()
                    del running[index]
                    if cells is not None:
                        # Its streams ended with it: the others may use their slots.
                        SharedStreams.clear(cells, cells_lock, index)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)
    failed = [p.exitcode for p in processes if p.exitcode not in (0, None)]
    if failed:
        logger.error("worker(s) exited with %s", failed)
        sys.exit(1)
