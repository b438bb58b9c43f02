"""Run the steps of a probe: who starts which request when, and what each step recorded.

Closed-loop steps keep N requests in flight; an open-loop step starts Poisson arrivals. Each
request is one `client.Exchange` on its own connection; this module owns the clock origin,
the records, the progress counts and the probe's own event-loop lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import resource
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from streamwarden.probe.client import Exchange, check_reachable, request_bytes, request_method
from streamwarden.probe.config import ProbeConfig, Target, validate
from streamwarden.probe.formats import StreamReader, detect_from_url
from streamwarden.probe.timeline import RequestRecord, Run, Step

__all__ = ["Progress", "run_probe"]


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
    ) -> None:
        self.config = config
        self.target = target
        self.request = request_bytes(config, target)
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
        reader = StreamReader(self.format, self.url_hint)
        exchange = Exchange(self.request, record, reader, t0, done, self.head_request)
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
) -> Run:
    """Run every step of `config` against its target and return the recorded timelines.

    Raises `ProbeError` for a bad config or an unreachable target. The diagnosis is not run
    here: call `diagnose(run, thresholds)`.
    """
    target = validate(config)
    await asyncio.to_thread(check_reachable, target)
    peak = int(config.max_inflight if config.rate is not None else max(config.concurrency))
    raise_fd_limit(peak + 256)
    session = _Session(config, target, progress)
    run = session.run
    run.started_at = datetime.now(UTC).isoformat(timespec="seconds")
    for step in plan_steps(config):
        run.steps.append(step)
        await session.run_step(step)
    return run
