"""Shared pieces of the guard/gateway benchmarks: servers pinned to a core, their CPU and
RSS from /proc, and an asyncio load client that counts SSE events.

Method: each server runs in its own process on core 0; the client runs on core 1. Only
ratios measured within one run are reported, because these machines are shared and noisy.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

from streamwarden.procs import ManagedProcess, free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
APPS = BENCH / "apps"
RESULTS = BENCH / "results"
PY = sys.executable
HOST = "127.0.0.1"
SERVER_CORE = 0
CLIENT_CORE = 1
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")

#: Same uvicorn settings for every app; the gateway's own runner picks the same ones
#: (httptools and uvloop are installed, so its "auto" resolves to them).
UVICORN_FLAGS = [
    "--http", "httptools",
    "--loop", "uvloop",
    "--log-level", "warning",
    "--no-access-log",
]  # fmt: skip


def pin_client() -> None:
    """Run this (client) process on its own core, away from the server's."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > CLIENT_CORE:
        os.sched_setaffinity(0, {CLIENT_CORE})


def raise_nofile(want: int = 65536) -> int:
    """Raise this process's fd limit towards `want`; returns the soft limit it got."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
        return want
    except (ValueError, OSError):
        # No CAP_SYS_RESOURCE: the hard limit is as far as it goes.
        top = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))
        return top


def machine() -> dict[str, Any]:
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "uvicorn": version("uvicorn"),
        "starlette": version("starlette"),
        "fastapi": version("fastapi"),
        "sse-starlette": version("sse-starlette"),
        "kernel": platform.release(),
    }


# -- servers ----------------------------------------------------------------------------
@dataclass
class Server:
    name: str
    proc: ManagedProcess
    port: int

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pids(self) -> list[int]:
        """The server process and its descendants (gunicorn's workers)."""
        found = [self.pid]
        index = 0
        while index < len(found):
            path = Path(f"/proc/{found[index]}/task/{found[index]}/children")
            try:
                found += [int(p) for p in path.read_text().split()]
            except OSError:
                pass
            index += 1
        return found

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids())

    def rss_bytes(self) -> int:
        return sum(rss_bytes(pid) for pid in self.pids())

    def stop(self) -> None:
        self.proc.stop()


def cpu_seconds(pid: int) -> float:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name may hold spaces; the fields after it are fixed.
    fields = raw.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def busy_seconds() -> float:
    """CPU seconds all processes on this machine spent busy, from /proc/stat. Minus the
    server's and the client's, it shows how much foreign load shared the run."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICK


def rss_bytes(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def start_server(
    name: str,
    argv: Sequence[str],
    *,
    port: int,
    nofile: int | None = None,
    extra_env: dict[str, str] | None = None,
) -> Server:
    """Start `argv` pinned to the server core (and with a raised fd limit if asked)."""
    prefix = ["taskset", "-c", str(SERVER_CORE)]
    if nofile:
        # Without CAP_SYS_RESOURCE (containers) the hard limit is a ceiling: go up to it.
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = nofile if hard == resource.RLIM_INFINITY else min(nofile, hard)
        if want > soft:
            prefix = ["prlimit", f"--nofile={want}:{hard if hard > 0 else want}", *prefix]
    # Server logs go to /tmp: they are for debugging a failed start, not results.
    log = Path(tempfile.gettempdir()) / f"streamwarden-bench-{name}.log"
    log.write_text("")
    # BENCH_EXTRA_PATH lets a profiling run inject a sitecustomize (GC probes) into servers.
    paths = [str(APPS), os.environ.get("BENCH_EXTRA_PATH", "")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p), **(extra_env or {}))
    proc = ManagedProcess([*prefix, *argv], cwd=str(ROOT), env=env, log_path=log)
    try:
        wait_for_port(HOST, port, timeout=30)
    except TimeoutError:
        proc.stop()
        raise RuntimeError(f"{name} did not start:\n{log.read_text()[-2000:]}") from None
    return Server(name, proc, port)


def uvicorn_app(
    name: str,
    module: str,
    *,
    nofile: int | None = None,
    extra_env: dict[str, str] | None = None,
) -> Server:
    """`module` is `file` (its `app`) or `file:attribute`, in bench/apps."""
    port = free_port()
    target = module if ":" in module else f"{module}:app"
    argv = [PY, "-m", "uvicorn", target, "--host", HOST, "--port", str(port)]
    return start_server(
        name, [*argv, *UVICORN_FLAGS], port=port, nofile=nofile, extra_env=extra_env
    )


def gateway(name: str, flags: Sequence[str], *, nofile: int | None = None) -> Server:
    port = free_port()
    argv = [str(Path(PY).parent / "streamwarden"), "serve", "--host", HOST, "--port", str(port)]
    return start_server(name, [*argv, "--no-access-log", *flags], port=port, nofile=nofile)


def chat_body(tokens: int, tps: float, ttft: float) -> bytes:
    body = {
        "model": "sim-1",
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
        "sim": {"tokens": tokens, "tps": tps, "ttft": ttft},
    }
    return json.dumps(body).encode()


def http_request(port: int, body: bytes, path: str = "/v1/chat/completions") -> bytes:
    # Connection: close, so the end of a stream is the end of the connection.
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


# -- the load client --------------------------------------------------------------------
@dataclass
class Counters:
    events: int = 0
    streams_done: int = 0
    errors: int = 0
    open: int = 0
    #: (time request was sent, seconds to the first `data:` event), per stream.
    ttft: list[tuple[float, float]] = field(default_factory=list)


_MARK = b"data:"


class StreamProtocol(asyncio.Protocol):
    """One HTTP request; counts `data:` fields (one per event here) as the bytes arrive.

    Counting in the raw bytes keeps the client cheap enough to out-run one server core.
    A field split across two reads is caught by looking at the seam once."""

    def __init__(self, request: bytes, counters: Counters) -> None:
        self.request = request
        self.counters = counters
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.tail = b""
        self.sent = 0.0
        self.first = True
        self.status_checked = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, so no isinstance here.
        self.transport = transport  # type: ignore[assignment]
        self.counters.open += 1
        self.sent = time.perf_counter()
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        if not self.status_checked:
            self.status_checked = True
            if not data.startswith(b"HTTP/1.1 200"):
                self.counters.errors += 1
        n = data.count(_MARK)
        if self.tail:
            n += (self.tail + data[:4]).count(_MARK)
        self.tail = data[-4:] if len(data) >= 4 else (self.tail + data)[-4:]
        if n:
            if self.first:
                self.first = False
                self.counters.ttft.append((self.sent, time.perf_counter() - self.sent))
            self.counters.events += n

    def connection_lost(self, exc: Exception | None) -> None:
        self.counters.open -= 1
        self.counters.streams_done += 1
        if not self.done.done():
            self.done.set_result(None)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


class Load:
    """`concurrency` workers, each running streams back to back until `stop()`."""

    def __init__(
        self, port: int, body: bytes, concurrency: int, *, start_spread: float = 0.0
    ) -> None:
        self.port = port
        self.request = http_request(port, body)
        self.concurrency = concurrency
        self.start_spread = start_spread
        self.counters = Counters()
        self.running = True
        self.live: set[StreamProtocol] = set()
        self.tasks: list[asyncio.Task[None]] = []

    async def _worker(self, index: int) -> None:
        loop = asyncio.get_running_loop()
        if self.start_spread:
            await asyncio.sleep(self.start_spread * index / self.concurrency)
        while self.running:
            proto = StreamProtocol(self.request, self.counters)
            try:
                await loop.create_connection(lambda p=proto: p, HOST, self.port)
            except OSError:
                self.counters.errors += 1
                await asyncio.sleep(0.05)
                continue
            self.live.add(proto)
            try:
                await proto.done
            finally:
                self.live.discard(proto)

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._worker(i)) for i in range(self.concurrency)]

    async def stop(self) -> None:
        self.running = False
        for proto in list(self.live):
            proto.abort()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@dataclass
class Window:
    seconds: float
    events: int
    server_cpu: float
    client_cpu: float = 0.0
    #: CPU seconds used by everything else on the machine (other people's jobs).
    foreign_cpu: float = 0.0

    @property
    def events_per_cpu_second(self) -> float:
        return self.events / self.server_cpu if self.server_cpu else 0.0

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds

    @property
    def cpu_share(self) -> float:
        return self.server_cpu / self.seconds

    def row(self, **extra: Any) -> dict[str, Any]:
        """One result row: the raw window, its rates and shares, and `extra` (round, errors)."""
        return asdict(self) | {
            "events_per_cpu_second": self.events_per_cpu_second,
            "events_per_second": self.events_per_second,
            "cpu_share": self.cpu_share,
            "client_cpu_share": self.client_cpu / self.seconds,
            "foreign_cpu_share": self.foreign_cpu / self.seconds,
            **extra,
        }


async def measure(
    counters: Counters, cpu: Callable[[], float], warmup: float, duration: float
) -> Window:
    await asyncio.sleep(warmup)
    # The client's own CPU too: a client near 100 % would cap the server, not measure it.
    b0 = busy_seconds()
    e0, c0, t0, p0 = counters.events, cpu(), time.perf_counter(), time.process_time()
    await asyncio.sleep(duration)
    e1, c1, t1, p1 = counters.events, cpu(), time.perf_counter(), time.process_time()
    b1 = busy_seconds()
    return Window(t1 - t0, e1 - e0, c1 - c0, p1 - p0, (b1 - b0) - (c1 - c0) - (p1 - p0))


async def measure_relay(
    server: Server, tokens: int, concurrency: int, warmup: float, duration: float
) -> tuple[Window, int]:
    """`concurrency` streams of `tokens` tokens at full speed against `server`, kept going;
    one measured window after `warmup`, and the errors the load saw."""
    load = Load(server.port, chat_body(tokens, 0, 0), concurrency)
    load.start()
    try:
        window = await measure(load.counters, server.cpu_seconds, warmup, duration)
    finally:
        await load.stop()
    return window, load.counters.errors


def relay_round(
    server: Server, tokens: int, concurrency: int, warmup: float, duration: float
) -> tuple[Window, int]:
    """`measure_relay` on `server` in an event loop of its own, then the server stopped."""
    try:
        window, errors = run_async(
            lambda: measure_relay(server, tokens, concurrency, warmup, duration)
        )
        return window, errors
    finally:
        server.stop()


def run_async(main: Callable[[], Any]) -> Any:
    try:
        import uvloop

        return uvloop.run(main())
    except ImportError:
        return asyncio.run(main())


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def write_json(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def git_rev() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        )
        return out.stdout.strip()
    except OSError:
        return "?"
