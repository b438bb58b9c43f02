"""Drive connections and record timelines. All of the probe's network I/O lives here.

The client is a small HTTP/1.1 reader on `asyncio.Protocol`, not httpx or aiohttp: both
libraries re-buffer the body, which loses the one thing the probe exists to record, the
boundary of each socket read, and both cost more CPU per event than this reader with full
recording (bench/probe_bench.py throughput, docs/BENCHMARKS.md). With a protocol, one
`data_received` call is exactly one `recv()` on the socket, stamped on arrival. Chunked
bodies are decoded by llhttp (httptools, which uvicorn uses too); the head is parsed here,
once per response.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import math
import random
import resource
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import cast
from urllib.parse import urlsplit

import httptools

from streamwarden.probe.formats import FORMATS, StreamReader, detect_from_url
from streamwarden.probe.timeline import RequestRecord, Run, Step

__all__ = [
    "ProbeConfig",
    "ProbeError",
    "Progress",
    "Target",
    "check_reachable",
    "parse_target",
    "run_probe",
]

_MAX_HEADER_BYTES = 64 * 1024
_MAX_ERROR_BODY = 512
_perf_counter = time.perf_counter  # one global lookup per read on the hot path, not two


class ProbeError(Exception):
    """A usage error or an unreachable target: the CLI prints it on one line, exit 2."""


@dataclass(frozen=True, slots=True)
class ProbeConfig:
    url: str
    format: str = "auto"
    #: Defaults to POST when there is a body, GET otherwise.
    method: str | None = None
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    #: Closed-loop steps: this many requests in flight, each restarted when it ends.
    concurrency: tuple[int, ...] = (1, 2, 4, 8)
    #: Open loop instead: Poisson arrivals per second, for `step_duration`.
    rate: float | None = None
    step_duration: float = 10.0
    #: Client timeout of one request, from connect to the end of the body.
    timeout: float = 60.0
    #: Requests started per step at most (None: as many as the duration allows).
    max_requests: int | None = None
    #: Open loop: requests in flight at most; arrivals past it wait, and the wait shows up
    #: as schedule lag instead of silently thinning the load (coordinated omission).
    max_inflight: int = 10_000
    #: Closed loop: spread the first wave's starts over this many seconds.
    ramp: float = 0.0
    allow_remote: bool = False
    seed: int | None = None
    loop_lag_interval: float = 0.05

    def describe(self) -> dict[str, object]:
        out = asdict(self)
        out["body"] = None if self.body is None else f"{len(self.body)} bytes"
        out["headers"] = [name for name, _ in self.headers]  # values may hold keys
        out["concurrency"] = list(self.concurrency)
        return out


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    netloc: str

    @property
    def tls(self) -> bool:
        return self.scheme == "https"


@dataclass(slots=True)
class Progress:
    """What the live display shows; handed to the `progress` callback as requests end."""

    step: Step
    started: int = 0
    finished: int = 0
    ok: int = 0
    failed: int = 0
    in_flight: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


def parse_target(url: str, allow_remote: bool = False) -> Target:
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket
        raise ProbeError(f"not a URL: {url!r} ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise ProbeError(f"URL must start with http:// or https://: {url!r}")
    host = parts.hostname
    if not host:
        raise ProbeError(f"URL has no host: {url!r}")
    if not allow_remote and not _is_loopback(host):
        raise ProbeError(
            f"refusing to load {host}: the probe targets loopback only "
            "(127.0.0.0/8, ::1, localhost); pass --allow-remote for a host you own"
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ProbeError(f"bad port in {url!r}: {exc}") from None
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, host, port, path, parts.netloc.rpartition("@")[2])


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_reachable(target: Target, timeout: float = 3.0) -> None:
    """One TCP connect before any load, so that a wrong port is a usage error, not a run."""
    try:
        with socket.create_connection((target.host, target.port), timeout=timeout):
            pass
    except OSError as exc:
        raise ProbeError(f"cannot connect to {target.host}:{target.port}: {exc}") from None


def _request_bytes(config: ProbeConfig, target: Target) -> bytes:
    method = (config.method or ("POST" if config.body is not None else "GET")).upper()
    names = {name.lower() for name, _ in config.headers}
    lines = [f"{method} {target.path} HTTP/1.1", f"Host: {target.netloc}"]
    defaults = {
        "user-agent": "streamwarden-probe",
        "accept": "*/*" if config.format == "raw" else "text/event-stream",
        "accept-encoding": "identity",
    }
    for name, value in defaults.items():
        if name not in names:
            lines.append(f"{name.title()}: {value}")
    if config.body is not None and "content-type" not in names:
        lines.append("Content-Type: application/json")
    lines.extend(f"{name}: {value}" for name, value in config.headers)
    # One connection per stream, closed by us at the end: no idle keep-alive left behind.
    lines.append("Connection: close")
    if config.body is not None:
        lines.append(f"Content-Length: {len(config.body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (config.body or b"")


class _Chunked:
    """Incremental `Transfer-Encoding: chunked` body reader on llhttp (httptools).

    llhttp, because a pure-Python chunk state machine was the probe's largest per-read cost
    (docs/BENCHMARKS.md). The parser is primed with a synthetic head, so that it sees only
    the body from here on.
    """

    __slots__ = ("_parser", "_pieces", "done", "pieces")

    _HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

    def __init__(self) -> None:
        self._pieces: list[bytes] = []
        #: How many chunks the last `feed` joined.
        self.pieces = 0
        self.done = False
        self._parser = httptools.HttpResponseParser(self)
        self._parser.feed_data(self._HEAD)

    # llhttp's callbacks
    def on_body(self, body: bytes) -> None:
        self._pieces.append(body)

    def on_message_complete(self) -> None:
        self.done = True

    def feed(self, data: bytes) -> bytes:
        """The body bytes in `data`, chunks joined; raises `ValueError` on a malformed body."""
        if self.done:
            self.pieces = 0
            return b""  # bytes past the last chunk: nothing more belongs to this body
        pieces = self._pieces = []
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            if not self.done:
                raise ValueError(str(exc) or type(exc).__name__) from None
        self.pieces = len(pieces)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)


class _Exchange(asyncio.Protocol):
    """One request and its response on one connection; fills in a `RequestRecord`."""

    def __init__(
        self,
        request: bytes,
        record: RequestRecord,
        reader: StreamReader,
        t0: float,
        done: asyncio.Future[None],
    ) -> None:
        self.request = request
        self.record = record
        self.reader = reader
        self.t0 = t0
        self.done = done
        self.transport: asyncio.Transport | None = None
        self._head = b""
        self._in_body = False
        self._chunked: _Chunked | None = None
        self._length: int | None = None  # Content-Length left; None: until close
        self._error_body = b""
        self._error_status = False
        self._add_read = record.reads.append
        #: Set once the record holds its outcome. Not `done.done()`: a timeout cancels `done`.
        self.finished = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        sockname = transport.get_extra_info("sockname")
        if isinstance(sockname, tuple) and len(sockname) >= 2:
            self.record.local_port = int(sockname[1])
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        # The hot path of the whole probe: one call per socket read, so it is kept flat.
        t_ms = (_perf_counter() - self.t0) * 1000.0
        if not self._in_body:
            rest = self._head_received(data, t_ms)
            if rest is None:
                return
            data = rest
        chunked = self._chunked
        if chunked is not None:
            try:
                body = chunked.feed(data)
            except ValueError as exc:
                self._finish("truncated", f"bad chunked body: {exc}")
                return
            pieces = chunked.pieces
            complete = chunked.done
        elif self._length is not None:
            body = data[: self._length]
            self._length -= len(body)
            pieces = 1
            complete = self._length == 0
        else:
            body = data
            pieces = 1
            complete = False
        reader = self.reader
        if self._error_status:
            if len(self._error_body) < _MAX_ERROR_BODY:
                self._error_body += body
            self._add_read((t_ms, len(body), 0, 0))
        else:
            had_content = reader.content_events
            events, heartbeats = reader.feed(body, pieces)
            if not had_content and reader.content_events:
                self.record.ttft_ms = t_ms
            self._add_read((t_ms, len(body), events, heartbeats))
        if complete:
            self._finish_body()

    def _head_received(self, data: bytes, t_ms: float) -> bytes | None:
        """Collect the response head; returns the body bytes after it, or None."""
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end == -1:
            if len(self._head) > _MAX_HEADER_BYTES:
                self._finish("http_error", "response headers too large")
            self._add_read((t_ms, 0, 0, 0))
            return None
        try:
            self._headers(self._head[:end], t_ms)
        except ValueError as exc:
            self._finish("http_error", f"bad response: {exc}")
            return None
        rest = self._head[end + 4 :]
        self._head = b""
        self._in_body = True
        return rest

    def _headers(self, head: bytes, t_ms: float) -> None:
        lines = head.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        if not version.startswith("HTTP/"):
            raise ValueError(f"not HTTP: {lines[0][:60]!r}")
        self.record.status = int(rest.split(" ", 1)[0])
        self.record.ttfb_ms = t_ms
        content_type = ""
        for line in lines[1:]:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            if key == "transfer-encoding" and "chunked" in value.lower():
                self._chunked = _Chunked()
            elif key == "content-length":
                self._length = int(value.strip())
            elif key == "content-type":
                content_type = value.strip()
        if self._chunked is not None:
            self._length = None
        if self.record.status in (204, 304) or 100 <= self.record.status < 200:
            self._length = 0
        self._error_status = self.record.status >= 400
        self.reader.start(content_type)
        self.record.format = self.reader.format

    def _finish_body(self) -> None:
        record = self.record
        record.format = self.reader.format
        if record.status is not None and record.status >= 400:
            detail = self._error_body[:200].decode("utf-8", "replace").strip()
            self._finish("http_error", f"HTTP {record.status}: {detail}" if detail else None)
        elif self.reader.terminated or self.reader.body_complete_terminates:
            record.terminated = True
            self._finish("ok")
        else:
            self._finish("unterminated", "the body ended without the protocol's terminator")

    def eof_received(self) -> bool | None:
        if not self.finished:
            if self._in_body and self._chunked is None and self._length is None:
                # A body delimited by the connection's close (HTTP/1.0 style) is complete.
                self._finish_body()
            elif self._in_body:
                self._finish("truncated", "the connection closed mid-body")
            else:
                self._finish("truncated", "the connection closed before the response headers")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.finished:
            return
        if isinstance(exc, ConnectionResetError | BrokenPipeError):
            self._finish("reset", str(exc) or "connection reset")
        elif exc is not None:
            self._finish("truncated", f"{type(exc).__name__}: {exc}")
        else:
            self.eof_received()

    def _finish(self, outcome: str, error: str | None = None) -> None:
        if self.finished:
            return
        self.finished = True
        record = self.record
        record.end_ms = (time.perf_counter() - self.t0) * 1000.0
        record.outcome = outcome
        record.error = error
        self._sync_counts()
        if not self.done.done():
            self.done.set_result(None)
        if self.transport is not None:
            self.transport.close()

    def _sync_counts(self) -> None:
        record = self.record
        reader = self.reader
        record.format = reader.format
        record.events = reader.events
        record.content_events = reader.content_events
        record.error_events = reader.error_events
        record.heartbeats = reader.heartbeats
        if reader.terminated:
            record.terminated = True

    def abort(self, outcome: str, error: str) -> None:
        self._finish(outcome, error)
        if self.transport is not None:
            self.transport.abort()


class _Session:
    """State of one run: the target, the clock origin, the records and the progress."""

    def __init__(
        self,
        config: ProbeConfig,
        target: Target,
        progress: Callable[[Progress], None] | None,
    ) -> None:
        self.config = config
        self.target = target
        self.request = _request_bytes(config, target)
        self.t0 = time.perf_counter()
        self.run = Run(target=config.url, config=config.describe())
        # perf_counter is CLOCK_MONOTONIC on Linux: other processes can line up with it.
        if (
            time.get_clock_info("perf_counter").implementation
            == time.get_clock_info("monotonic").implementation
        ):
            self.run.monotonic_origin_s = self.t0
        self.progress_cb = progress
        self.progress: Progress | None = None
        self.ssl_context = ssl.create_default_context() if target.tls else None
        self.format = config.format
        # `auto`: the Content-Type decides first (StreamReader.start), then this guess.
        self.url_hint = detect_from_url(target.path) if config.format == "auto" else "auto"

    def now_ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000.0

    async def one_request(self, step: int, scheduled_ms: float | None = None) -> RequestRecord:
        loop = asyncio.get_running_loop()
        t0 = time.perf_counter()
        record = RequestRecord(step=step, start_ms=(t0 - self.t0) * 1000.0)
        record.scheduled_ms = scheduled_ms
        self.run.requests.append(record)
        done: asyncio.Future[None] = loop.create_future()
        exchange = _Exchange(
            self.request, record, StreamReader(self.format, self.url_hint), t0, done
        )
        progress = self.progress
        if progress is not None:
            progress.started += 1
            progress.in_flight += 1
        try:
            async with asyncio.timeout(self.config.timeout):
                await loop.create_connection(
                    lambda: exchange,
                    self.target.host,
                    self.target.port,
                    ssl=self.ssl_context,
                    server_hostname=self.target.host if self.ssl_context else None,
                )
                await done
        except TimeoutError:
            exchange.abort("client_timeout", f"no end after {self.config.timeout:g}s")
        except OSError as exc:
            exchange.abort("connect_error", f"{type(exc).__name__}: {exc}")
        finally:
            # Cancelled or failed: the socket goes either way.
            if not exchange.finished:
                exchange.abort("client_timeout", "cancelled")
        if progress is not None:
            progress.in_flight -= 1
            progress.finished += 1
            progress.outcomes[record.outcome] = progress.outcomes.get(record.outcome, 0) + 1
            if record.succeeded:
                progress.ok += 1
            else:
                progress.failed += 1
            if self.progress_cb is not None:
                self.progress_cb(progress)
        return record

    async def run_step(self, step: Step) -> None:
        self.progress = Progress(step=step)
        stop = asyncio.Event()
        cpu0 = time.process_time()
        step.started_ms = self.now_ms()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._watch_loop(step, stop))
            try:
                if step.rate is not None:
                    await self._open_loop(step)
                else:
                    await self._closed_loop(step)
            finally:
                stop.set()
        step.ended_ms = self.now_ms()
        step.cpu_s = time.process_time() - cpu0
        if self.progress_cb is not None:
            self.progress_cb(self.progress)

    async def _closed_loop(self, step: Step) -> None:
        concurrency = step.concurrency or 1
        deadline = time.perf_counter() + step.duration_s
        budget = [self.config.max_requests]

        async def worker(i: int) -> None:
            if self.config.ramp > 0:
                await asyncio.sleep(self.config.ramp * i / concurrency)
            while True:
                if budget[0] is not None:
                    if budget[0] <= 0:
                        return
                    budget[0] -= 1
                await self.one_request(step.index)
                if time.perf_counter() >= deadline:
                    return

        async with asyncio.TaskGroup() as tg:
            for i in range(concurrency):
                tg.create_task(worker(i))

    async def _open_loop(self, step: Step) -> None:
        assert step.rate is not None
        rng = random.Random(self.config.seed)
        slots = asyncio.Semaphore(self.config.max_inflight)
        start = time.perf_counter()
        at = 0.0
        started = 0

        async def one(scheduled_ms: float) -> None:
            try:
                await self.one_request(step.index, scheduled_ms)
            finally:
                slots.release()

        async with asyncio.TaskGroup() as tg:
            while True:
                at += rng.expovariate(step.rate)
                if at >= step.duration_s:
                    break
                if self.config.max_requests is not None and started >= self.config.max_requests:
                    break
                delay = start + at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                # Arrivals are never skipped: a late start is recorded as schedule lag.
                await slots.acquire()
                scheduled_ms = (start + at - self.t0) * 1000.0
                tg.create_task(one(scheduled_ms))
                started += 1

    async def _watch_loop(self, step: Step, stop: asyncio.Event) -> None:
        """Sample the probe's own event-loop lag: late wake-ups mean late timestamps."""
        interval = self.config.loop_lag_interval
        while not stop.is_set():
            before = time.perf_counter()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            if stop.is_set():
                return
            lag = (time.perf_counter() - before - interval) * 1000.0
            step.loop_lag.append((self.now_ms(), max(0.0, lag)))


def _raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def validate(config: ProbeConfig) -> Target:
    """Check a config without touching the network; returns the parsed target."""
    if config.format not in FORMATS:
        raise ProbeError(f"unknown format {config.format!r}; choose from {', '.join(FORMATS)}")
    # `not (x > 0)` also rejects NaN; an infinite value would never end a step or a request.
    if config.rate is not None and not (0 < config.rate < math.inf):
        raise ProbeError("--rate must be a positive number")
    if config.rate is None and (not config.concurrency or min(config.concurrency) < 1):
        raise ProbeError("--concurrency needs positive integers, e.g. 1,2,4,8")
    if not (0 < config.step_duration < math.inf):
        raise ProbeError("--step-duration must be a positive number of seconds")
    if not (0 < config.timeout < math.inf):
        raise ProbeError("--timeout must be a positive number of seconds")
    if config.max_requests is not None and config.max_requests < 1:
        raise ProbeError("--max-requests must be at least 1")
    # A semaphore of 0 never lets an arrival start: the open loop would wait forever.
    if config.max_inflight < 1:
        raise ProbeError("--max-inflight must be at least 1")
    if not (0 <= config.ramp < math.inf):
        raise ProbeError("--ramp must be zero or a positive number of seconds")
    if not (0 < config.loop_lag_interval < math.inf):
        raise ProbeError("loop_lag_interval must be a positive number of seconds")
    return parse_target(config.url, config.allow_remote)


async def run_probe(
    config: ProbeConfig,
    progress: Callable[[Progress], None] | None = None,
) -> Run:
    """Run every step of `config` against its target and return the recorded timelines.

    Raises `ProbeError` for a bad config or an unreachable target. The diagnosis is not run
    here: call `diagnose(run, thresholds)`.
    """
    target = validate(config)
    await asyncio.to_thread(check_reachable, target)
    peak = int(config.max_inflight if config.rate is not None else max(config.concurrency))
    _raise_fd_limit(peak + 256)
    session = _Session(config, target, progress)
    run = session.run
    run.started_at = datetime.now(UTC).isoformat(timespec="seconds")
    if config.rate is not None:
        plans = [Step(index=0, rate=config.rate, duration_s=config.step_duration)]
    else:
        plans = [
            Step(index=i, concurrency=c, duration_s=config.step_duration)
            for i, c in enumerate(config.concurrency)
        ]
    for step in plans:
        run.steps.append(step)
        await session.run_step(step)
    return run
