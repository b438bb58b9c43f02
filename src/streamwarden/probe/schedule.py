"""Run the steps of a probe: who starts which request when, and what each step recorded.

Closed-loop steps keep N requests in flight; an open-loop step starts Poisson arrivals. Each
request is one `client.Exchange` on its own connection; this module owns the clock origin,
the records, the progress counts and the probe's own event-loop lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from streamwarden.probe.client import (
    Exchange,
    check_reachable,
    request_bytes,
    request_method,
    sync_counts,
)
from streamwarden.probe.config import ProbeConfig, ProbeError, Target, tls_context, validate
from streamwarden.probe.formats import StreamReader, detect_from_url
from streamwarden.probe.timeline import RequestRecord, Run, Step
from streamwarden.probe.workload import Workload

if TYPE_CHECKING:
    from streamwarden.probe.h2client import H2Client

__all__ = ["EARLY_STOP_AFTER", "Progress", "Stop", "early_stop_reason", "run_probe"]

#: How many requests of a step must all fail alike before the run stops early.
EARLY_STOP_AFTER = 20

# What to do about a step whose first requests all got this status.
_EARLY_STOP_HINTS = {
    401: "send the key with -H 'Authorization: Bearer …' (or the header your API expects)",
    403: "send the key with -H 'Authorization: Bearer …' (or the header your API expects)",
    404: "model or path not found: check the URL's path and the model in --body",
    405: "use --body for POST (or --method)",
}


def early_stop_reason(statuses: Sequence[int | None]) -> str | None:
    """The line to stop on when the first `EARLY_STOP_AFTER` requests of a step all failed
    with the same 4xx; None while that is not (yet) the case."""
    if len(statuses) < EARLY_STOP_AFTER:
        return None
    first = statuses[0]
    if first is None or not 400 <= first < 500 or statuses.count(first) != len(statuses):
        return None
    hint = _EARLY_STOP_HINTS.get(first, "check the request: URL, headers and --body")
    return (
        f"stopped early: the first {len(statuses)} requests of the step all got HTTP {first}"
        f" — {hint} (--no-early-stop runs the whole step anyway)"
    )


@dataclass(slots=True)
class Stop:
    """Asks a running probe to stop: no new requests; streams in flight get the config's
    `stop_grace` seconds to end, then are cut. The first reason asked for is kept."""

    reason: str | None = None
    #: The signal that asked, if one did (the CLI exits with 128 + it).
    signal: int | None = None
    #: Cut the streams in flight now, without the grace (a second Ctrl-C).
    hurry: bool = False
    _event: asyncio.Event = field(default_factory=asyncio.Event)
    _hurry: asyncio.Event = field(default_factory=asyncio.Event)

    def request(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            self._event.set()
        else:
            self.hurry = True
            self._hurry.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    async def wait(self) -> None:
        await self._event.wait()

    async def wait_hurry(self) -> None:
        await self._hurry.wait()


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


class _Session:
    """State of one run: the target, the clock origin, the records and the progress."""

    def __init__(
        self,
        config: ProbeConfig,
        target: Target,
        progress: Callable[[Progress], None] | None,
        stop: Stop,
    ) -> None:
        self.config = config
        self.stop = stop
        #: Per step, the statuses of its first requests (`None`: no response), in order.
        self.first_statuses: dict[int, list[int | None]] = {}
        self.target = target
        first = dataclasses.replace(config, body=config.bodies[0]) if config.bodies else config
        self.request = request_bytes(first, target)
        bodies = config.bodies or ((config.body,) if config.body is not None else ())
        workload = Workload(bodies, config.seed) if bodies else None
        #: Set when requests differ (several bodies, or templates): built per request.
        self.workload = workload if workload is not None and workload.varies else None
        self.head_request = request_method(config) == "HEAD"
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
        self.ssl_context = tls_context(config) if target.tls else None
        self.h2: H2Client | None = None
        if config.http2:
            from streamwarden.probe.h2client import H2Client  # the h2 library: --http2 only

            self.h2 = H2Client(config, target, self.ssl_context)
        self.format = config.format
        # `auto`: the Content-Type decides first (StreamReader.start), then this guess.
        self.url_hint = detect_from_url(target.path) if config.format == "auto" else "auto"

    def now_ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000.0

    async def one_request(self, step: int, scheduled_ms: float | None = None) -> RequestRecord:
        t0 = time.perf_counter()
        record = RequestRecord(step=step, start_ms=(t0 - self.t0) * 1000.0)
        record.scheduled_ms = scheduled_ms
        self.run.requests.append(record)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        reader = StreamReader(self.format, self.url_hint)
        progress = self.progress
        if progress is not None:
            progress.started += 1
            progress.in_flight += 1
        if self.h2 is not None:
            await self._h2_request(record, reader, t0, done)
        else:
            await self._h1_request(record, reader, t0, done)
        self._note_status(step, record)
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

    async def _h1_request(
        self, record: RequestRecord, reader: StreamReader, t0: float, done: asyncio.Future[None]
    ) -> None:
        loop = asyncio.get_running_loop()
        request = self.request
        if self.workload is not None:
            config = dataclasses.replace(self.config, body=self.workload.next())
            request = request_bytes(config, self.target)
        exchange = Exchange(request, record, reader, t0, done, self.head_request)
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
                exchange.abort(*self._cut_reason())

    def _cut_reason(self) -> tuple[str, str]:
        if self.stop.requested:
            return "stopped", f"stopped: {self.stop.reason}"
        return "client_timeout", "cancelled"

    async def _h2_request(
        self, record: RequestRecord, reader: StreamReader, t0: float, done: asyncio.Future[None]
    ) -> None:
        assert self.h2 is not None
        opened = None
        cut: tuple[str, str] | None = None
        try:
            async with asyncio.timeout(self.config.timeout):
                opened = await self.h2.request(record, reader, t0, done)
                await done
        except TimeoutError:
            cut = ("client_timeout", f"no end after {self.config.timeout:g}s")
        except (OSError, ConnectionError) as exc:
            cut = ("connect_error", f"{type(exc).__name__}: {exc}")
        finally:
            if record.end_ms is None:
                outcome, error = cut or self._cut_reason()
                if opened is not None:
                    opened[1].finish(outcome, error)
                else:
                    _cut(record, reader, outcome, error, t0)
            if opened is not None:
                conn, _, stream_id = opened
                conn.cancel(stream_id)
                self.h2.release(conn)

    def _note_status(self, step: int, record: RequestRecord) -> None:
        statuses = self.first_statuses.setdefault(step, [])
        if not self.config.early_stop or len(statuses) >= EARLY_STOP_AFTER:
            return
        statuses.append(record.status if record.outcome == "http_error" else None)
        reason = early_stop_reason(statuses)
        if reason is not None:
            self.stop.request(reason)

    async def run_step(self, step: Step) -> None:
        self.progress = Progress(step=step)
        stop = asyncio.Event()
        cpu0 = time.process_time()
        step.started_ms = self.now_ms()
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._watch_loop(step, stop))
            try:
                await self._load_until_stopped(step)
            finally:
                stop.set()
        step.ended_ms = self.now_ms()
        step.cpu_s = time.process_time() - cpu0
        if self.progress_cb is not None:
            self.progress_cb(self.progress)

    async def _load_until_stopped(self, step: Step) -> None:
        """The step's load; once a stop is asked for, the schedulers start nothing new and
        the streams in flight get `stop_grace` seconds (none on a second ask) to end."""
        load = asyncio.ensure_future(
            self._open_loop(step) if step.rate is not None else self._closed_loop(step)
        )
        asked = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({load, asked}, return_when=asyncio.FIRST_COMPLETED)
            if not load.done():
                hurry = asyncio.ensure_future(self.stop.wait_hurry())
                try:
                    await asyncio.wait(
                        {load, hurry},
                        timeout=self.config.stop_grace,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                finally:
                    hurry.cancel()
        finally:
            asked.cancel()
            if not load.done():
                load.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await load

    async def _closed_loop(self, step: Step) -> None:
        concurrency = step.concurrency or 1
        deadline = time.perf_counter() + step.duration_s
        budget = [self.config.max_requests]

        async def worker(i: int) -> None:
            if self.config.ramp > 0:
                await asyncio.sleep(self.config.ramp * i / concurrency)
            while not self.stop.requested:
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
            while not self.stop.requested:
                at += rng.expovariate(step.rate)
                if at >= step.duration_s:
                    break
                if self.config.max_requests is not None and started >= self.config.max_requests:
                    break
                delay = start + at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                if self.stop.requested:
                    break
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


def _cut(record: RequestRecord, reader: StreamReader, outcome: str, error: str, t0: float) -> None:
    """End a record whose request never got a stream (no connection, no slot in time)."""
    record.end_ms = (time.perf_counter() - t0) * 1000.0
    record.outcome = outcome
    record.error = error
    sync_counts(record, reader)


def raise_fd_limit(wanted: int) -> None:
    """Lift the soft open-files limit toward `wanted` (one socket per stream in flight)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def plan_steps(config: ProbeConfig) -> list[Step]:
    if config.rate is not None:
        return [Step(index=0, rate=config.rate, duration_s=config.step_duration)]
    return [
        Step(index=i, concurrency=c, duration_s=config.step_duration)
        for i, c in enumerate(config.concurrency)
    ]


async def run_probe(
    config: ProbeConfig,
    progress: Callable[[Progress], None] | None = None,
    stop: Stop | None = None,
) -> Run:
    """Run every step of `config` against its target and return the recorded timelines.

    `stop.request(reason)` (from a signal handler, say) ends the run early; so does a step
    whose first requests all fail with the same 4xx, unless `config.early_stop` is off.
    Either way the run comes back with what it recorded and `run.incomplete` set to why.
    Raises `ProbeError` for a bad config or an unreachable target. The diagnosis is not run
    here: call `diagnose(run, thresholds)`.
    """
    stop = stop or Stop()
    target = validate(config)
    tls = tls_context(config) if target.tls else None
    protocol = await asyncio.to_thread(check_reachable, target, tls)
    if config.http2 and protocol != "h2":
        raise ProbeError(
            f"{target.host}:{target.port} does not speak HTTP/2 (ALPN gave {protocol}) — "
            "drop --http2"
        )
    peak = int(config.max_inflight if config.rate is not None else max(config.concurrency))
    raise_fd_limit(peak + 256)
    session = _Session(config, target, progress, stop)
    run = session.run
    run.started_at = datetime.now(UTC).isoformat(timespec="seconds")
    run.protocol = protocol
    try:
        for step in plan_steps(config):
            if stop.requested:
                break
            run.steps.append(step)
            await session.run_step(step)
    finally:
        if session.h2 is not None:
            session.h2.close()
            run.h2 = session.h2.facts.to_json()
    run.incomplete = stop.reason
    return run
