"""The experiments: streams of known shape sent through the path, one question each.

Each experiment asks the canary for streams through a `CanaryClient`, hands what arrived to
the pure functions of `analysis.py`, and returns a result from `results.py`. `run_doctor`
runs them: first the concurrency steps alone (they load the path), then all the others at
once, since one stream per question does not disturb another.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio

from streamwarden.doctor import analysis
from streamwarden.doctor.analysis import TrialOutcome
from streamwarden.doctor.canary import Plan
from streamwarden.doctor.results import (
    BufferingResult,
    CompressionResult,
    ConcurrencyResult,
    DisconnectResult,
    HeartbeatResult,
    IdleResult,
    Measurements,
    ProtocolResult,
    TotalResult,
)
from streamwarden.doctor.wire import CanaryClient, Observation

__all__ = [
    "EXPERIMENTS",
    "DoctorConfig",
    "Progress",
    "TotalWatch",
    "caps_problem",
    "plan_budget",
    "run_doctor",
]

#: Every experiment, in the order the card shows them.
EXPERIMENTS = (
    "headers",
    "buffering",
    "compression",
    "idle",
    "heartbeat",
    "total",
    "disconnect",
    "concurrency",
)

#: (experiment, message): a line of progress.
Progress = Callable[[str, str], None]

#: The buffering streams: events far enough apart that no healthy path joins three of them.
_BUFFER_EVENTS = 64
_BUFFER_SIZE = 256
_BUFFER_EVERY = 0.025
#: Concurrency steps double up to the most asked for.
_FIRST_STEP = 1


@dataclass(frozen=True, slots=True)
class DoctorConfig:
    url: str
    token: str
    max_idle: float = 330.0
    max_total: float = 900.0
    quick: bool = False
    expect_duration: float = 120.0
    expect_gap: float = 30.0
    max_concurrency: int = 32
    only: tuple[str, ...] = EXPERIMENTS

    @property
    def tick(self) -> float:
        """The data interval of long streams: well inside any idle timeout worth measuring."""
        return min(max(self.max_idle / 40, 0.05), 1.0)

    @property
    def concurrency_stream_s(self) -> float:
        return min(max(10 * self.tick, 1.0), 4.0)

    @property
    def disconnect_events(self) -> int:
        return max(40, math.ceil(2.0 / self.tick))

    def wants(self, name: str) -> bool:
        if name == "idle" and "heartbeat" in self.only:
            return True  # the heartbeat is tried against the idle timeout it found
        return name in self.only

    def as_json(self) -> dict[str, Any]:
        return {
            "max_idle_s": self.max_idle,
            "max_total_s": self.max_total,
            "quick": self.quick,
            "expect_duration_s": self.expect_duration,
            "expect_gap_s": self.expect_gap,
            "max_concurrency": self.max_concurrency,
            "experiments": list(self.only),
        }


def plan_budget(config: DoctorConfig) -> list[tuple[str, str, float]]:
    """`(experiment, what it sends, most seconds it may take)`, for the plan printed first."""
    steps = _steps(config.max_concurrency)
    idle_rounds = 0 if config.quick else 2
    rows = [
        ("headers", "one stream: protocol, TLS, headers added or stripped", 3.0),
        (
            "buffering",
            f"{_BUFFER_EVENTS} events of {_BUFFER_SIZE} B every "
            f"{_BUFFER_EVERY * 1000:g} ms, with and without X-Accel-Buffering: no, and comments",
            _BUFFER_EVENTS * _BUFFER_EVERY + 2,
        ),
        ("compression", "one stream accepting gzip", 3.0),
        (
            "idle",
            f"silent pauses up to {config.max_idle:g} s at once, then "
            + ("stop at the first cut" if config.quick else "bisection to 5 %"),
            config.max_idle * (1 + idle_rounds),
        ),
        ("heartbeat", "a pause 1.5x the idle timeout filled with comments", 1.5 * config.max_idle),
        (
            "total",
            f"one stream with data every {config.tick:g} s for up to {config.max_total:g} s",
            config.max_total,
        ),
        (
            "disconnect",
            "the client leaves mid-stream; when does the canary see it",
            config.disconnect_events * config.tick,
        ),
        (
            "concurrency",
            f"{', '.join(map(str, steps))} streams at once",
            len(steps) * (config.concurrency_stream_s + 1),
        ),
    ]
    return [row for row in rows if config.wants(row[0])]


def caps_problem(config: DoctorConfig, limits: dict[str, Any]) -> tuple[str, str] | None:
    """`(what, fix)` when the canary's caps refuse a stream this run needs, else None."""
    pause_cap = limits.get("max_pause")
    if config.wants("idle") and isinstance(pause_cap, int | float) and config.max_idle > pause_cap:
        return (
            f"--max-idle {config.max_idle:g} is over the canary's pause cap of {pause_cap:g} s",
            "lower --max-idle, or raise CanaryLimits(max_pause=...) where the canary is mounted",
        )
    total_cap = limits.get("max_duration")
    if (
        config.wants("total")
        and isinstance(total_cap, int | float)
        and config.max_total > total_cap
    ):
        return (
            f"--max-total {config.max_total:g} is over the canary's cap of {total_cap:g} s",
            "lower --max-total, or raise CanaryLimits(max_duration=...) where it is mounted",
        )
    return None


def _steps(most: int) -> list[int]:
    steps = [_FIRST_STEP]
    while steps[-1] * 2 <= most:
        steps.append(steps[-1] * 2)
    if steps[-1] != most and most > 0:
        steps.append(most)
    return steps


class TotalWatch:
    """The total-time stream's fate, for the idle experiment to tell its cuts apart."""

    def __init__(self) -> None:
        self.cut_s: float | None = None
        self._done = anyio.Event()

    def finish(self, cut_s: float | None) -> None:
        self.cut_s = cut_s
        self._done.set()

    async def limit_by(self, when: float) -> float | None:
        """The total limit if the total stream was cut by `when` (monotonic time)."""
        with anyio.move_on_after(max(when - time.monotonic(), 0.0)):
            await self._done.wait()
        return self.cut_s


# -- one experiment each -----------------------------------------------------------------------


async def headers(client: CanaryClient, config: DoctorConfig) -> ProtocolResult:
    seen = await client.stream(Plan(events=3, every=0.05), deadline=30.0)
    _check_served(seen)
    return ProtocolResult(
        http_version=seen.http_version,
        tls=seen.tls,
        headers=analysis.header_changes(seen.headers, accel=True, request_id=seen.id),
    )


async def buffering(client: CanaryClient, config: DoctorConfig) -> BufferingResult:
    plan = Plan(events=_BUFFER_EVENTS, size=_BUFFER_SIZE, every=_BUFFER_EVERY)
    seen: dict[str, Observation] = {}

    async def one(name: str, p: Plan) -> None:
        seen[name] = await client.stream(p, deadline=p.duration + 30)

    async with anyio.create_task_group() as group:
        group.start_soon(one, "plain", Plan(**{**_fields(plan), "accel": False}))
        group.start_soon(one, "guarded", plan)
        group.start_soon(one, "comments", Plan(**{**_fields(plan), "comments": True}))
    _check_served(seen["guarded"])
    return BufferingResult(
        plain=analysis.buffering(seen["plain"]),
        guarded=analysis.buffering(seen["guarded"]),
        comments=analysis.buffering(seen["comments"]),
    )


async def compression(client: CanaryClient, config: DoctorConfig) -> CompressionResult:
    plan = Plan(events=24, size=_BUFFER_SIZE, every=_BUFFER_EVERY * 2)
    seen = await client.stream(plan, accept_encoding="gzip, deflate", deadline=plan.duration + 30)
    _check_served(seen)
    encoding = seen.headers.get("content-encoding")
    if not encoding or encoding.lower() == "identity":
        return CompressionResult(encoding=None, held=False)
    result = analysis.buffering(seen)
    return CompressionResult(encoding=encoding, held=result.held, burst_bytes=result.burst_bytes)


async def idle(
    client: CanaryClient,
    config: DoctorConfig,
    progress: Progress,
    watch: TotalWatch | None,
) -> IdleResult:
    """Silent pauses of growing length all at once, then bisection of the bracket."""
    trials: list[tuple[float, str, float | None]] = []
    total_limit: float | None = None

    async def trial(pause: float, out: list[tuple[float, TrialOutcome, float | None]]) -> None:
        nonlocal total_limit
        started = time.monotonic()
        seen = await client.stream(analysis.idle_plan(pause), deadline=pause + 30)
        outcome = analysis.trial_outcome(seen)
        silence = analysis.cut_silence(seen) if outcome == "cut" else None
        if outcome == "cut" and watch is not None and seen.end is not None:
            lifetime = seen.end
            limit = await watch.limit_by(started + lifetime + max(0.5, 0.1 * lifetime))
            if limit is not None and lifetime >= analysis.TOTAL_MARGIN * limit:
                total_limit = limit
                outcome = "failed"  # the total limit cut it: says nothing of silence
        out.append((pause, outcome, silence))
        trials.append((pause, outcome, silence))

    async def round_of(pauses: list[float]) -> list[tuple[float, TrialOutcome, float | None]]:
        out: list[tuple[float, TrialOutcome, float | None]] = []
        async with anyio.create_task_group() as group:
            for pause in pauses:
                group.start_soon(trial, pause, out)
        return out

    first = await round_of(analysis.growth_pauses(config.max_idle))
    if all(o == "failed" for _, o, _ in first) and total_limit is None:
        raise RuntimeError("no idle trial was served: " + _failed_hint(trials))
    lo, hi = analysis.narrow(0.0, None, [(p, o) for p, o, _ in first])
    hint = analysis.median_or_none([s for _, o, s in first if o == "cut" and s is not None])
    if hi is not None:
        progress("idle", f"cut between {lo:g} and {hi:g} s of silence")
    if hi is not None and not config.quick:
        pauses = analysis.hinted_pauses(lo, hi, hint) if hint else analysis.bisect_pauses(lo, hi)
        for _ in range(4):
            if analysis.precise_enough(lo, hi):
                break
            results = await round_of(pauses)
            lo, hi = analysis.narrow(lo, hi, [(p, o) for p, o, _ in results])
            assert hi is not None
            progress("idle", f"cut between {lo:g} and {hi:g} s")
            pauses = analysis.bisect_pauses(lo, hi)
    cut: float | None = None
    if hi is not None:
        cut = hint if config.quick and hint and lo <= hint <= hi else (lo + hi) / 2
    up_to = config.max_idle if total_limit is None else min(config.max_idle, total_limit)
    return IdleResult(
        cut_s=None if cut is None else round(cut, 3),
        lo=lo,
        hi=hi,
        up_to=up_to,
        total_limit_s=total_limit,
        quick=config.quick,
        trials=trials,
    )


async def heartbeat(
    client: CanaryClient, config: DoctorConfig, found: IdleResult | None
) -> HeartbeatResult:
    if found is None or found.cut_s is None:
        return HeartbeatResult(None, None, None, note="no idle timeout: nothing to keep open")
    interval = round(found.cut_s / 3, 3)
    pause = round(min(found.cut_s * 1.5, max(config.max_idle, found.cut_s * 1.1)), 3)
    seen = await client.stream(analysis.idle_plan(pause, heartbeat=interval), deadline=pause + 30)
    outcome = analysis.trial_outcome(seen)
    if outcome == "failed":
        return HeartbeatResult(interval, pause, None, note="the trial was not served")
    if outcome == "cut" and found.total_limit_s and (seen.end or 0) >= 0.9 * found.total_limit_s:
        return HeartbeatResult(interval, pause, None, note="the total-time limit cut it first")
    return HeartbeatResult(interval, pause, outcome == "survived")


async def total(client: CanaryClient, config: DoctorConfig, watch: TotalWatch) -> TotalResult:
    tick = config.tick
    plan = Plan(events=math.ceil(config.max_total / tick) + 1, size=64, every=tick)
    try:
        seen = await client.stream(plan, deadline=config.max_total + 30)
    except BaseException:
        watch.finish(None)
        raise
    outcome = analysis.trial_outcome(seen)
    cut = round(seen.end, 3) if outcome == "cut" and seen.end is not None else None
    watch.finish(cut)
    if outcome == "failed":
        raise RuntimeError("the long stream was not served: " + _failed_hint([], seen))
    return TotalResult(cut_s=cut, up_to=config.max_total, heartbeat_s=tick)


async def disconnect(client: CanaryClient, config: DoctorConfig) -> DisconnectResult:
    plan = Plan(events=config.disconnect_events, size=64, every=config.tick)
    seen = await client.stream(plan, leave_after_events=3, deadline=plan.duration + 30)
    _check_served(seen)
    if seen.left is None:
        raise RuntimeError("the stream ended before the client could leave it")
    remaining = plan.duration - seen.left
    report: dict[str, Any] | None = None
    # The canary's report says when it saw the client go; wait for it up to the stream's end.
    with anyio.move_on_after(max(remaining, 0.0) + 5.0):
        while True:
            report = await client.report(seen.id)
            if report and (report.get("disconnected_s") is not None or report.get("finished_s")):
                break
            await anyio.sleep(0.05)
    delay, never = analysis.disconnect_delay(seen, report)
    if delay is None and not never:
        raise RuntimeError("the canary's report never said how the stream ended")
    return DisconnectResult(
        delay_s=None if delay is None else round(delay, 4),
        never=never,
        remaining_s=round(remaining, 3),
    )


async def concurrency(
    client: CanaryClient, config: DoctorConfig, progress: Progress
) -> ConcurrencyResult:
    length = config.concurrency_stream_s
    plan = Plan(events=5, size=64, every=length / 4)
    baseline = await client.stream(plan, deadline=length + 30)
    _check_served(baseline)
    base_ttfb = baseline.ttfb or 0.0
    steps: list[tuple[int, int, int, int]] = []
    admitted = 0
    for n in _steps(config.max_concurrency):
        seen: list[Observation] = []

        async def one(seen: list[Observation]) -> None:
            seen.append(await client.stream(plan, deadline=length * 4 + 30))

        async with anyio.create_task_group() as group:
            for _ in range(n):
                group.start_soon(one, seen)
        kinds = [analysis.admission(s, base_ttfb, length) for s in seen]
        row = (n, kinds.count("admitted"), kinds.count("queued"), kinds.count("refused"))
        steps.append(row)
        progress("concurrency", f"{n} at once: {row[1]} served, {row[2]} queued, {row[3]} refused")
        if row[1] < n:
            how = "queued" if row[2] >= row[3] else "refused"
            return ConcurrencyResult(admitted, n, how, steps)
        admitted = n
    return ConcurrencyResult(admitted, None, None, steps)


# -- the run -----------------------------------------------------------------------------------


async def run_doctor(
    client: CanaryClient, config: DoctorConfig, progress: Progress | None = None
) -> Measurements:
    """Every selected experiment against the canary behind `client`; errors become notes."""
    say: Progress = progress or (lambda name, message: None)
    started = time.monotonic()
    m = Measurements(
        target=config.url,
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        settings=config.as_json(),
    )

    async def guarded(name: str, work: Callable[[], Awaitable[Any]], store: str) -> None:
        say(name, "started")
        t0 = time.monotonic()
        try:
            setattr(m, store, await work())
        except Exception as exc:  # one experiment failing must not lose the others
            m.errors[name] = str(exc) or type(exc).__name__
            say(name, f"could not measure: {m.errors[name]}")
        else:
            say(name, f"done in {time.monotonic() - t0:.1f} s")

    if config.wants("concurrency"):
        await guarded("concurrency", lambda: concurrency(client, config, say), "concurrency")
        if m.concurrency is not None and m.concurrency.limited_at is not None:
            # The experiments below run at once: no more of them than the path admits.
            client.limit_streams(max(m.concurrency.admitted, 1))
            say("concurrency", f"the experiments below share {m.concurrency.admitted} stream(s)")

    watch = TotalWatch() if config.wants("total") else None

    async def idle_then_heartbeat() -> None:
        await guarded("idle", lambda: idle(client, config, say, watch), "idle")
        if config.wants("heartbeat"):
            await guarded("heartbeat", lambda: heartbeat(client, config, m.idle), "heartbeat")

    async with anyio.create_task_group() as group:
        if config.wants("headers"):
            group.start_soon(guarded, "headers", lambda: headers(client, config), "protocol")
        if config.wants("buffering"):
            group.start_soon(guarded, "buffering", lambda: buffering(client, config), "buffering")
        if config.wants("compression"):
            group.start_soon(
                guarded, "compression", lambda: compression(client, config), "compression"
            )
        if config.wants("disconnect"):
            group.start_soon(
                guarded, "disconnect", lambda: disconnect(client, config), "disconnect"
            )
        if watch is not None:
            group.start_soon(guarded, "total", lambda: total(client, config, watch), "total")
        if config.wants("idle"):
            group.start_soon(idle_then_heartbeat)
    m.elapsed_s = round(time.monotonic() - started, 2)
    return m


def _fields(plan: Plan) -> dict[str, Any]:
    return {name: getattr(plan, name) for name in plan.__dataclass_fields__}


def _check_served(seen: Observation) -> None:
    if seen.status != 200 or (seen.error and not seen.completed and seen.left is None):
        raise RuntimeError(_failed_hint([], seen))


def _failed_hint(trials: list[Any], seen: Observation | None = None) -> str:
    if seen is None:
        return f"{len(trials)} trials failed"
    if seen.status is None:
        return f"no response ({seen.error})"
    if seen.status != 200:
        return f"HTTP {seen.status} from the path"
    return f"the stream broke ({seen.error})"
