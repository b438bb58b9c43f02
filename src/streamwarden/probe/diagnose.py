"""The diagnosis: pure functions over recorded timelines. Nothing here touches the network.

Each rule reads a `Run` and returns zero or more `Finding`s with the numbers that show the
problem (`evidence`) and the setting to change (`fix`). `diagnose(run, thresholds)` runs them
all. `Thresholds` holds every knob; its defaults are real-world values, and
`Thresholds.scaled(k)` shrinks the ones that are real-world durations for time-scaled labs.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from streamwarden.findings import Finding, Severity
from streamwarden.probe.h2rules import h2_flow_control_stall, h2_stream_cap
from streamwarden.probe.timeline import FAILED_OUTCOMES, RequestRecord, Run, percentile

__all__ = ["RULES", "Rule", "Thresholds", "diagnose", "group_causes", "headline", "secs"]


@dataclass(frozen=True, slots=True)
class Thresholds:
    #: missing_heartbeat: a silence this long is cut by common idle timeouts
    #: (nginx `proxy_read_timeout` and ALB: 60 s; Cloudflare: 100 s).
    silence_s: float = 60.0
    #: idle_timeout: a cut counts as idle when it follows at least this much silence and
    #: `idle_ratio` times the longest gap the stream had survived before it.
    min_cut_idle_s: float = 0.5
    idle_ratio: float = 1.1
    #: Cut times agree when their spread is within max(abs, rel * median).
    cut_tolerance_s: float = 0.3
    cut_tolerance_rel: float = 0.15
    #: Cuts needed before calling them consistent.
    min_cuts: int = 2
    #: proxy_buffering: a read carrying this many events is a burst; a stream is buffered when
    #: `burst_fraction` of its events came in bursts; the rule fires when `buffered_share`
    #: of the streams with at least `burst_min_events` events were buffered.
    burst_events: int = 4
    burst_fraction: float = 0.6
    burst_min_events: int = 8
    buffered_share: float = 0.5
    #: ...and only when its first token waited this long: a server that answers at once
    #: (a cache, a fast model) also delivers every event in one read, and that is fine.
    burst_min_wait_s: float = 0.05
    #: blocked_event_loop: a stall is a gap of at least `stall_s` and `stall_ratio` times the
    #: stream's usual gap; it is global when `stall_share` of at least `stall_min_streams`
    #: active streams stall together, at different points of their own streams.
    stall_s: float = 0.5
    stall_ratio: float = 5.0
    stall_min_streams: int = 3
    stall_share: float = 0.8
    stall_desync_s: float = 0.1
    #: slow_first_token: median TTFT of a step at least this.
    slow_ttft_s: float = 5.0
    #: worker_exhaustion: a request queued when its TTFB exceeds the lowest step's by
    #: max(queue_min_s, queue_fraction * stream length); the knee is the first step where
    #: `knee_share` of requests queued or were refused.
    queue_fraction: float = 0.5
    queue_min_s: float = 0.2
    knee_share: float = 0.2
    #: client_saturated: the probe's own event-loop lag (p99) or CPU use of one core.
    loop_lag_ms: float = 50.0
    cpu_percent: float = 90.0
    #: Run time per real second: 1 for a real run, 1/30 for a lab that runs 30 times faster.
    #: Figures in seconds then also say what they stand for in real time.
    time_scale: float = 1.0

    def scaled(self, factor: float) -> Thresholds:
        """Scale the real-world durations (silence, slow first token) for time-scaled runs."""
        return dataclasses.replace(
            self,
            silence_s=self.silence_s * factor,
            slow_ttft_s=self.slow_ttft_s * factor,
            time_scale=self.time_scale * factor,
        )


# -- helpers -------------------------------------------------------------------------------


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def _cluster(values: Sequence[float], th: Thresholds) -> list[float]:
    """The largest group of values that agree (spread within tolerance)."""
    ordered = sorted(values)
    best: list[float] = []
    lo = 0
    for hi in range(len(ordered)):
        while lo < hi and ordered[hi] - ordered[lo] > max(
            th.cut_tolerance_s * 1000, th.cut_tolerance_rel * ordered[hi]
        ):
            lo += 1
        if hi - lo + 1 > len(best):
            best = ordered[lo : hi + 1]
    return best


def _cuts(run: Run) -> list[RequestRecord]:
    """Streams the server started (2xx) that ended without their terminator."""
    return [r for r in run.requests if r.served and r.outcome in FAILED_OUTCOMES and r.end_ms]


def _silence_before_end(r: RequestRecord) -> float:
    last = r.reads[-1][0] if r.reads else (r.ttfb_ms or 0.0)
    return (r.end_ms or 0.0) - last


def _is_idle_cut(r: RequestRecord, th: Thresholds) -> bool:
    """Cut after a silence longer than any the stream had survived before.

    Compared with the longest earlier gap rather than the usual one: behind a buffering
    proxy the usual gap is a burst interval, and an idle cut shows only as the silence that
    outlasted all of them. A total timeout cuts while data flows, inside an ordinary gap.
    """
    silence = _silence_before_end(r)
    earlier = max(r.gaps_ms(), default=0.0)
    return silence >= th.min_cut_idle_s * 1000 and silence >= th.idle_ratio * earlier


def _saturated_steps(run: Run, th: Thresholds) -> set[int]:
    out = set()
    for step in run.steps:
        lag = step.loop_lag_ms(99)
        if (step.loop_lag and lag >= th.loop_lag_ms) or step.cpu_percent >= th.cpu_percent:
            out.add(step.index)
    return out


def _round(value: float, digits: int = 3) -> float:
    """`value` to `digits` significant digits: numbers are read by people."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def _clean(evidence: dict[str, Any]) -> dict[str, Any]:
    """Evidence for people: floats to 3 significant digits, unknown (None) values left out."""

    def tidy(value: Any) -> Any:
        if isinstance(value, float):
            return _round(value)
        if isinstance(value, dict):
            return {k: tidy(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [tidy(v) for v in value]
        return value

    return {k: tidy(v) for k, v in evidence.items() if v is not None}


def secs(value: float, scale: float = 1.0) -> str:
    """A duration for people; in a time-scaled run, also what it stands for in real time."""
    text = f"{_round(value):g}s"
    if scale == 1.0 or scale <= 0:
        return text
    return f"{text} ({_round(value / scale):g}s real)"


# -- rules ---------------------------------------------------------------------------------


def worker_exhaustion(run: Run, th: Thresholds) -> list[Finding]:
    steps = sorted((s for s in run.steps if s.concurrency is not None), key=lambda s: s.index)
    if len(steps) < 2:
        return []
    by_step = {s.index: run.step_requests(s) for s in steps}
    base = by_step[steps[0].index]
    base_ttfb = _median([r.ttfb_ms for r in base if r.served and r.ttfb_ms is not None])
    ok = [r for r in base if r.succeeded and r.ttfb_ms is not None and r.end_ms is not None]
    if not ok:
        ok = [r for r in run.requests if r.succeeded and r.ttfb_ms is not None and r.end_ms]
    stream_ms = _median([(r.end_ms or 0.0) - (r.ttfb_ms or 0.0) for r in ok])
    wait_ms = max(th.queue_min_s * 1000, th.queue_fraction * stream_ms)

    def queued(r: RequestRecord) -> bool:
        return r.ttfb_ms is not None and r.ttfb_ms - base_ttfb >= wait_ms

    def refused(r: RequestRecord) -> bool:
        if r.status in (429, 503):
            return True
        return r.status is None and r.outcome in ("connect_error", "reset", "truncated")

    def bad_share(reqs: list[RequestRecord]) -> float:
        return sum(1 for r in reqs if queued(r) or refused(r)) / len(reqs) if reqs else 0.0

    if not base or bad_share(base) >= th.knee_share:
        return []  # Bad from the first step on: no knee to show.
    knee = next((s for s in steps[1:] if bad_share(by_step[s.index]) >= th.knee_share), None)
    if knee is None:
        return []
    reqs = by_step[knee.index]
    served = [
        (r.start_ms + (r.ttfb_ms or 0.0), r.start_ms + (r.end_ms or 0.0))
        for r in reqs
        if r.served and r.ttfb_ms is not None and r.end_ms is not None
    ]
    # Streams served at once, counted at each stream's midpoint: robust to the instant in
    # which one stream's end and the next one's headers cross on different sockets.
    capacity = max(
        (sum(1 for a, b in served if a < (lo + hi) / 2 < b) for lo, hi in served), default=0
    )
    n_queued = sum(1 for r in reqs if queued(r))
    n_refused = sum(1 for r in reqs if refused(r))
    ttfbs = [r.ttfb_ms for r in reqs if r.ttfb_ms is not None]
    evidence = {
        "capacity": capacity,
        "knee_concurrency": knee.concurrency,
        "queued": n_queued,
        "refused": n_refused,
        "requests": len(reqs),
        "stream_s": _round(stream_ms / 1000),
        "base_ttfb_ms": _round(base_ttfb, 1),
        "knee_ttfb_p90_ms": _round(percentile(ttfbs, 90), 1) if ttfbs else None,
        "ttfb_in_stream_lengths": _round(percentile(ttfbs, 90) / stream_ms, 2)
        if ttfbs and stream_ms
        else None,
    }
    how = []
    if n_queued:
        how.append(f"{n_queued} waited about a stream's length for their headers")
    if n_refused:
        how.append(f"{n_refused} were refused")
    summary = (
        f"The server serves {capacity} streams at once: at concurrency {knee.concurrency}, "
        f"{' and '.join(how)} (of {len(reqs)})."
    )
    fix = (
        "Each stream holds a worker for its whole life. With gunicorn, switch to async "
        "workers (`-k uvicorn_worker.UvicornWorker` for ASGI, or `-k gevent`) or raise "
        f"`--workers`/`--threads` above the peak number of concurrent streams (now {capacity}); "
        "with uvicorn, raise `--limit-concurrency`. Put admission control in front (e.g. "
        "`streamwarden serve --max-streams N --queue M`) so overload gets a fast 503 with "
        "Retry-After instead of a silent wait."
    )
    return [Finding("worker_exhaustion", Severity.ERROR, summary, fix, _clean(evidence))]


def proxy_buffering(run: Run, th: Thresholds) -> list[Finding]:
    skip = _saturated_steps(run, th)
    candidates = [
        r
        for r in run.requests
        if r.served
        and r.step not in skip
        and r.content_events >= th.burst_min_events
        and (r.ttft_ms or 0.0) >= th.burst_min_wait_s * 1000
    ]
    if not candidates:
        return []
    buffered: list[RequestRecord] = []
    burst_reads: list[tuple[int, int]] = []
    bursts_per_stream: list[int] = []
    for r in candidates:
        total = sum(row[2] for row in r.reads)
        bursts = [(row[1], row[2]) for row in r.reads if row[2] >= th.burst_events]
        if total and sum(e for _, e in bursts) / total >= th.burst_fraction:
            buffered.append(r)
            burst_reads.extend(bursts)
            bursts_per_stream.append(len(bursts))
    share = len(buffered) / len(candidates)
    if not buffered or share < th.buffered_share:
        return []
    burst_bytes = int(_median([b for b, _ in burst_reads]))
    events_per_burst = _median([e for _, e in burst_reads])
    all_at_end = _median(bursts_per_stream) <= 1
    ttft = [r.ttft_ms for r in buffered if r.ttft_ms is not None]
    gaps = [_median(r.gaps_ms()) for r in buffered]
    evidence = {
        "burst_bytes": burst_bytes,
        "events_per_burst": events_per_burst,
        "bursts_per_stream": _median(bursts_per_stream),
        "all_at_end": all_at_end,
        "buffered_streams": len(buffered),
        "streams": len(candidates),
        "ttft_p50_ms": _round(_median(ttft), 1) if ttft else None,
        "median_gap_ms": _round(_median(gaps), 1),
    }
    shape = (
        "the whole answer arrives at the end"
        if all_at_end
        else f"events arrive in bursts of about {burst_bytes} bytes ({events_per_burst:g} events)"
    )
    summary = (
        f"Something between the server and the client buffers the stream: {shape} in "
        f"{len(buffered)} of {len(candidates)} streams, so the first token waits for the buffer."
    )
    fix = (
        "nginx: `proxy_buffering off;` in the streaming location, or send "
        "`X-Accel-Buffering: no` from the app (and make sure `proxy_ignore_headers` does not "
        "list it); also `gzip off;` for text/event-stream. Ingress-nginx: annotation "
        '`nginx.ingress.kubernetes.io/proxy-buffering: "off"`. Other proxies and CDNs: '
        "turn off response buffering and compression for text/event-stream."
    )
    return [Finding("proxy_buffering", Severity.ERROR, summary, fix, _clean(evidence))]


def idle_timeout(run: Run, th: Thresholds) -> list[Finding]:
    idle = [r for r in _cuts(run) if _is_idle_cut(r, th)]
    silences = [_silence_before_end(r) for r in idle]
    group = _cluster(silences, th)
    if len(group) < th.min_cuts or len(group) < 0.6 * len(silences):
        return []
    cut_after = _median(group) / 1000
    ok_gaps = [g for r in run.requests if r.succeeded and (g := r.max_gap_ms()) is not None]
    heartbeats = sum(r.keepalives for r in idle)
    evidence = {
        "cut_after_idle_s": _round(cut_after),
        "streams_cut": len(group),
        "streams": len(run.requests),
        "heartbeats_seen": heartbeats,
        "longest_silence_survived_s": _round(max(ok_gaps) / 1000) if ok_gaps else None,
    }
    summary = (
        f"{len(group)} streams were cut after {secs(cut_after, th.time_scale)} of silence: "
        "an idle timeout "
        "in the path (a proxy or load balancer) closes streams that stay quiet that long."
    )
    beat = max(cut_after / 2, 0.001)
    fix = (
        f"Send an SSE heartbeat comment (`: keepalive`) at least every "
        f"{secs(beat, th.time_scale)} "
        "(half the cut), from a timer rather than inside the token loop, and raise the idle "
        "timeout above the longest silence: nginx `proxy_read_timeout`, HAProxy "
        "`timeout server`, AWS ALB `idle_timeout.timeout_seconds` (Cloudflare's 100 s is "
        "fixed: only heartbeats help)."
    )
    return [Finding("idle_timeout", Severity.ERROR, summary, fix, _clean(evidence))]


def total_timeout(run: Run, th: Thresholds) -> list[Finding]:
    flowing = [r for r in _cuts(run) if not _is_idle_cut(r, th)]
    ends = [r.end_ms or 0.0 for r in flowing]
    group = _cluster(ends, th)
    if len(group) < th.min_cuts or len(group) < 0.6 * len(ends):
        return []
    cut_at = _median(group)
    tolerance = max(th.cut_tolerance_s * 1000, th.cut_tolerance_rel * cut_at)
    ok_ends = [r.end_ms for r in run.requests if r.succeeded and r.end_ms is not None]
    if any(end > cut_at + tolerance for end in ok_ends):
        return []  # Longer streams went through: the cut is not a fixed total limit.
    evidence = {
        "cut_at_s": _round(cut_at / 1000),
        "streams_cut": len(group),
        "streams": len(run.requests),
        "short_streams_ok": len(ok_ends),
        "longest_ok_s": _round(max(ok_ends) / 1000) if ok_ends else None,
        "silence_before_cut_ms": _round(_median([_silence_before_end(r) for r in flowing]), 1),
    }
    summary = (
        f"{len(group)} streams were cut {secs(cut_at / 1000, th.time_scale)} after they "
        "started while data "
        "was still flowing, and shorter streams succeeded: a total (route) timeout in the "
        "path. Heartbeats cannot fix this: the limit counts elapsed time, not silence."
    )
    fix = (
        "Raise the total timeout of the component that cuts at "
        f"{secs(cut_at / 1000, th.time_scale)} above "
        "the longest stream: Envoy/Istio route `timeout` (default 15 s; `0s` disables it for "
        "the streaming route), GCP backend service `timeoutSec` (30 s), API Gateway (29 s, "
        "fixed: bypass it for streams), Heroku (55 s rolling window); or keep answers shorter "
        "than the limit and make streams resumable (Last-Event-ID)."
    )
    return [Finding("total_timeout", Severity.ERROR, summary, fix, _clean(evidence))]


def missing_heartbeat(run: Run, th: Thresholds) -> list[Finding]:
    served = [r for r in run.requests if r.served]
    long = [
        (r, g) for r in served if (g := r.max_gap_ms()) is not None and g >= th.silence_s * 1000
    ]
    idle_cut = [r for r in _cuts(run) if _is_idle_cut(r, th)]
    idle_unbeaten = idle_timeout(run, th) and not any(r.keepalives for r in idle_cut)
    if not long and not idle_unbeaten:
        return []
    gaps = [g for r in served if (g := r.max_gap_ms()) is not None]
    heartbeats = sum(r.keepalives for r in served)
    evidence = {
        "max_silence_s": _round(max(gaps) / 1000) if gaps else None,
        "threshold_s": th.silence_s,
        "streams_silent_too_long": len(long),
        "streams": len(served),
        "heartbeats_seen": heartbeats,
    }
    if long:
        summary = (
            f"{len(long)} streams went {secs(max(g for _, g in long) / 1000, th.time_scale)} "
            f"without a byte, longer than common idle timeouts "
            f"({secs(th.silence_s, th.time_scale)}; nginx and ALB cut at 60 s, "
            "Cloudflare at 100 s)."
        )
    else:
        summary = "Streams were cut by an idle timeout and carried no heartbeat comments."
    if heartbeats:
        summary += " Heartbeats were seen, but too far apart."
    fix = (
        "Send an SSE comment (`: keepalive`) whenever nothing was written for 15 s, from a "
        "timer that runs independently of the token loop (a check inside the loop only runs "
        "when a token arrives), and as a comment, never as whitespace in the content. "
        "`streamwarden.stream_response(..., policy=StreamPolicy(heartbeat=15))` does this."
    )
    return [Finding("missing_heartbeat", Severity.WARNING, summary, fix, _clean(evidence))]


def blocked_event_loop(run: Run, th: Thresholds) -> list[Finding]:
    stalls: list[tuple[float, float, RequestRecord, float]] = []  # abs start, abs end, r, offset
    active: list[tuple[float, float, RequestRecord]] = []
    for r in run.requests:
        if not r.served or len(r.reads) < 2 or r.end_ms is None:
            continue
        times = r.read_times()
        active.append((r.start_ms + times[0], r.start_ms + r.end_ms, r))
        usual = _median(r.gaps_ms())
        floor = max(th.stall_s * 1000, th.stall_ratio * usual)
        for a, b in itertools.pairwise(times):
            if b - a >= floor:
                stalls.append((r.start_ms + a, r.start_ms + b, r, a))
    if not stalls:
        return []
    lag_samples = [sample for s in run.steps for sample in s.loop_lag]
    found: list[tuple[float, float, int]] = []
    for start, end, _, _ in stalls:
        mid = (start + end) / 2
        if any(lo <= mid <= hi for lo, hi, _ in found):
            continue
        live = [r for lo, hi, r in active if lo < mid < hi]
        hit = [(s, e, off) for s, e, r, off in stalls if s <= mid <= e]
        if len(live) < th.stall_min_streams or len(hit) < th.stall_share * len(live):
            continue
        offsets = [off for _, _, off in hit]
        if max(offsets) - min(offsets) < th.stall_desync_s * 1000:
            continue  # Every stream paused at the same point of itself: the server's pacing.
        lo = max(s for s, _, _ in hit)
        hi = min(e for _, e, _ in hit)
        own_lag = max((lag for t, lag in lag_samples if lo <= t <= hi + lag), default=0.0)
        if own_lag >= 0.5 * (hi - lo):
            continue  # The probe itself was stuck: client_saturated tells that story.
        found.append((lo, hi, len(hit)))
    if not found:
        return []
    longest = max(hi - lo for lo, hi, _ in found)
    evidence = {
        "stalls": len(found),
        "longest_stall_s": _round(longest / 1000),
        "streams_hit": max(n for _, _, n in found),
        "at_s": [_round(lo / 1000, 2) for lo, _, _ in found[:5]],
    }
    summary = (
        f"{len(found)} times, every active stream stalled at the same moment (up to "
        f"{secs(longest / 1000, th.time_scale)}, {evidence['streams_hit']} streams at once) "
        "at different "
        "points of their answers: the server's event loop was blocked."
    )
    fix = (
        "Move blocking work off the event loop: `await asyncio.to_thread(...)` or "
        "`loop.run_in_executor` for CPU or sync I/O, async clients instead of "
        "`requests`/sync SDKs, no `time.sleep` in `async def`. Find it with "
        "`PYTHONASYNCIODEBUG=1` and `loop.slow_callback_duration`."
    )
    return [Finding("blocked_event_loop", Severity.ERROR, summary, fix, _clean(evidence))]


def truncated_stream(run: Run, th: Thresholds) -> list[Finding]:
    cut = [r for r in run.requests if r.served and r.outcome in FAILED_OUTCOMES]
    if not cut:
        return []
    outcomes = Counter(r.outcome for r in cut)
    evidence = {
        "streams": len(cut),
        "of": len(run.requests),
        "outcomes": dict(outcomes),
        "examples": sorted({r.error for r in cut if r.error})[:3],
    }
    summary = (
        f"{len(cut)} of {len(run.requests)} streams ended without their terminator "
        f"({', '.join(f'{k}: {v}' for k, v in sorted(outcomes.items()))}): the client saw "
        "a partial answer."
    )
    fix = (
        "Find what closed the connection (see idle_timeout / total_timeout if reported; "
        "otherwise proxy and worker timeouts such as gunicorn `timeout`, or a crash). On "
        "errors, the server should still end the stream properly: an error event, then the "
        "terminator (`data: [DONE]`, `event: message_stop`)."
    )
    return [Finding("truncated_stream", Severity.ERROR, summary, fix, _clean(evidence))]


def slow_first_token(run: Run, th: Thresholds) -> list[Finding]:
    worst: tuple[float, float, str] | None = None
    for step in run.steps:
        reqs = [r for r in run.step_requests(step) if r.served and r.ttft_ms is not None]
        if not reqs:
            continue
        ttft = _median([r.ttft_ms or 0.0 for r in reqs])
        ttfb = _median([r.ttfb_ms or 0.0 for r in reqs])
        if ttft >= th.slow_ttft_s * 1000 and (worst is None or ttft > worst[0]):
            worst = (ttft, ttfb, step.label)
    if worst is None:
        return []
    ttft, ttfb, label = worst
    evidence = {
        "ttft_p50_s": _round(ttft / 1000),
        "ttfb_p50_s": _round(ttfb / 1000),
        "step": label,
        "threshold_s": th.slow_ttft_s,
    }
    if ttfb >= 0.8 * ttft:
        where = "before the response headers: queueing or work done before the response starts"
        fix = (
            "Send the headers and a first comment at once, before any model call "
            "(streamwarden's guard does). If worker_exhaustion or proxy_buffering is reported "
            "(a buffering nginx holds the headers too), fix that first."
        )
    else:
        where = "between the headers and the first token: model prefill, or a buffer"
        fix = (
            "If proxy_buffering is reported, fix that first. Otherwise the model is slow to "
            "start: keep `first_token_timeout` above it and send heartbeats while waiting."
        )
    summary = (
        f"Median time to first token is {secs(ttft / 1000, th.time_scale)} at {label}; "
        f"the time goes {where}."
    )
    return [Finding("slow_first_token", Severity.WARNING, summary, fix, _clean(evidence))]


def server_errors(run: Run, th: Thresholds) -> list[Finding]:
    statuses = Counter(r.status for r in run.requests if r.outcome == "http_error" and r.status)
    connect = sum(1 for r in run.requests if r.outcome == "connect_error")
    error_events = sum(r.error_events for r in run.requests)
    if not statuses and not connect and not error_events:
        return []
    overload_only = set(statuses) <= {429, 503} and not error_events
    severity = Severity.WARNING if overload_only else Severity.ERROR
    evidence = {
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "connect_errors": connect,
        "error_events": error_events,
        "requests": len(run.requests),
        "examples": sorted(
            {
                r.error
                for r in run.requests
                if r.error and r.outcome in ("http_error", "connect_error")
            }
        )[:3],
    }
    parts = []
    if statuses:
        parts.append(
            f"{sum(statuses.values())} HTTP errors ("
            + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
            + ")"
        )
    if connect:
        parts.append(f"{connect} connections failed")
    if error_events:
        parts.append(f"{error_events} error events inside streams")
    summary = "; ".join(parts) + f" out of {len(run.requests)} requests."
    if overload_only:
        fix = (
            "The server refuses under load (429/503): see worker_exhaustion for its capacity; "
            "raise it, or make clients honour Retry-After."
        )
    else:
        fix = (
            "4xx: check the URL, method, body (--body) and auth header (-H). 5xx and error "
            "events: see the server's logs for the failing requests; errors mid-stream should "
            "be sent as an error event followed by the terminator."
        )
    return [Finding("server_errors", severity, summary, fix, _clean(evidence))]


def client_saturated(run: Run, th: Thresholds) -> list[Finding]:
    bad = [s for s in run.steps if s.index in _saturated_steps(run, th)]
    if not bad:
        return []
    worst = max(bad, key=lambda s: (s.loop_lag_ms(99) if s.loop_lag else 0.0, s.cpu_percent))
    lag99 = worst.loop_lag_ms(99) if worst.loop_lag else None
    labels = [s.label for s in bad]
    evidence = {
        "steps": labels,
        "loop_lag_p99_ms": _round(lag99, 1) if lag99 is not None else None,
        "loop_lag_max_ms": _round(worst.loop_lag_ms(100), 1) if worst.loop_lag else None,
        "cpu_percent": _round(worst.cpu_percent, 1),
        "thresholds": {"loop_lag_ms": th.loop_lag_ms, "cpu_percent": th.cpu_percent},
    }
    summary = (
        f"The probe itself was the bottleneck at {', '.join(labels)}: its event "
        "loop ran late or its CPU was near a full core, so timings there are not trustworthy."
    )
    fix = (
        "Lower --concurrency or --rate, run the probe on a less busy machine (not on the "
        "server's cores), or split the load across several probe processes."
    )
    return [Finding("client_saturated", Severity.WARNING, summary, fix, _clean(evidence))]


# -- headlines: the one figure that proves each finding, written beside its rule -----------
# Each takes the finding's evidence (which its rule wrote, above) and the run's time scale.


def _n(ev: Mapping[str, Any], key: str) -> str:
    value = ev.get(key)
    return f"{value:g}" if isinstance(value, int | float) else "?"


def _secs_of(ev: Mapping[str, Any], key: str, scale: float) -> str:
    value = ev.get(key)
    return secs(float(value), scale) if isinstance(value, int | float) else "?"


def _worker_exhaustion_headline(ev: Mapping[str, Any], scale: float) -> str:
    how = []
    if ev.get("queued"):
        p90 = ev.get("knee_ttfb_p90_ms")
        wait = f", TTFB p90 {secs(p90 / 1000, scale)}" if isinstance(p90, int | float) else ""
        how.append(f"{_n(ev, 'queued')}/{_n(ev, 'requests')} queued{wait}")
    if ev.get("refused"):
        how.append(f"{_n(ev, 'refused')}/{_n(ev, 'requests')} refused")
    at = f"at {_n(ev, 'knee_concurrency')} streams"
    return f"capacity {_n(ev, 'capacity')} ({', '.join([at, *how])})"


def _proxy_buffering_headline(ev: Mapping[str, Any], scale: float) -> str:
    where = f"in {_n(ev, 'buffered_streams')}/{_n(ev, 'streams')} streams"
    if ev.get("all_at_end"):
        return f"the whole answer arrives at the end {where}"
    return f"bursts of {_n(ev, 'burst_bytes')} B (~{_n(ev, 'events_per_burst')} events) {where}"


def _idle_timeout_headline(ev: Mapping[str, Any], scale: float) -> str:
    return f"cut after {_secs_of(ev, 'cut_after_idle_s', scale)} of silence"


def _total_timeout_headline(ev: Mapping[str, Any], scale: float) -> str:
    return f"cut at {_secs_of(ev, 'cut_at_s', scale)} while bytes flowed"


def _missing_heartbeat_headline(ev: Mapping[str, Any], scale: float) -> str:
    if ev.get("streams_silent_too_long"):
        return (
            f"{_n(ev, 'streams_silent_too_long')}/{_n(ev, 'streams')} streams silent up to "
            f"{_secs_of(ev, 'max_silence_s', scale)}"
        )
    return f"cut by an idle timeout with {_n(ev, 'heartbeats_seen')} heartbeats sent"


def _blocked_event_loop_headline(ev: Mapping[str, Any], scale: float) -> str:
    return (
        f"{_n(ev, 'stalls')} stalls up to {_secs_of(ev, 'longest_stall_s', scale)}, "
        f"{_n(ev, 'streams_hit')} streams at once"
    )


def _truncated_stream_headline(ev: Mapping[str, Any], scale: float) -> str:
    outcomes = ev.get("outcomes")
    kinds = (
        ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
        if isinstance(outcomes, dict)
        else ""
    )
    return f"{_n(ev, 'streams')}/{_n(ev, 'of')} streams cut short" + (
        f" ({kinds})" if kinds else ""
    )


def _slow_first_token_headline(ev: Mapping[str, Any], scale: float) -> str:
    return (
        f"TTFT p50 {_secs_of(ev, 'ttft_p50_s', scale)} at {ev.get('step', '?')} "
        f"(headers after {_secs_of(ev, 'ttfb_p50_s', scale)})"
    )


def _server_errors_headline(ev: Mapping[str, Any], scale: float) -> str:
    statuses = ev.get("statuses")
    parts = [f"{n}× {code}" for code, n in statuses.items()] if isinstance(statuses, dict) else []
    if ev.get("connect_errors"):
        parts.append(f"{_n(ev, 'connect_errors')} connect errors")
    if ev.get("error_events"):
        parts.append(f"{_n(ev, 'error_events')} error events")
    return "HTTP " + ", ".join(parts) if parts else "errors"


def _client_saturated_headline(ev: Mapping[str, Any], scale: float) -> str:
    steps = ev.get("steps")
    where = ", ".join(str(s) for s in steps) if isinstance(steps, list) else "?"
    lag = f"loop lag p99 {_n(ev, 'loop_lag_p99_ms')} ms, " if "loop_lag_p99_ms" in ev else ""
    return f"the probe was the bottleneck at {where} ({lag}CPU {_n(ev, 'cpu_percent')}%)"


# -- the registry ---------------------------------------------------------------------------


def _h2_stream_cap_headline(ev: Mapping[str, Any], scale: float) -> str:
    return (
        f"{_n(ev, 'max_concurrent_streams')} streams per connection; "
        f"{_n(ev, 'streams_queued')} requests waited for a slot"
    )


def _h2_flow_control_stall_headline(ev: Mapping[str, Any], scale: float) -> str:
    return f"{_n(ev, 'flow_stalls')} flow-control stalls, up to {_n(ev, 'flow_stall_max_ms')} ms"


Check = Callable[[Run, Thresholds], list[Finding]]
Headline = Callable[[Mapping[str, Any], float], str]


@dataclass(frozen=True, slots=True)
class Rule:
    """One diagnosis rule: its id, a title, where it is documented, its check, the one-line
    headline of what it found, and the root causes a finding of it is a consequence of
    (the first one diagnosed wins)."""

    id: str
    title: str
    check: Check
    headline: Headline
    caused_by: tuple[str, ...] = ()

    @property
    def docs(self) -> str:
        """Where the rule is documented: the diagnosis table of docs/probe.md lists every id."""
        return "docs/probe.md#diagnosis"

    def __call__(self, run: Run, th: Thresholds) -> list[Finding]:
        return self.check(run, th)


RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        Rule(
            "worker_exhaustion",
            "Workers exhausted: streams queue or are refused",
            worker_exhaustion,
            _worker_exhaustion_headline,
        ),
        Rule(
            "proxy_buffering",
            "A proxy buffers the stream",
            proxy_buffering,
            _proxy_buffering_headline,
        ),
        Rule(
            "idle_timeout",
            "An idle timeout cuts quiet streams",
            idle_timeout,
            _idle_timeout_headline,
        ),
        Rule(
            "total_timeout",
            "A total timeout cuts long streams",
            total_timeout,
            _total_timeout_headline,
        ),
        Rule(
            "missing_heartbeat",
            "No heartbeat during long silences",
            missing_heartbeat,
            _missing_heartbeat_headline,
            caused_by=("idle_timeout",),
        ),
        Rule(
            "blocked_event_loop",
            "The server's event loop was blocked",
            blocked_event_loop,
            _blocked_event_loop_headline,
        ),
        Rule(
            "truncated_stream",
            "Streams ended without their terminator",
            truncated_stream,
            _truncated_stream_headline,
            caused_by=("idle_timeout", "total_timeout", "worker_exhaustion"),
        ),
        Rule(
            "slow_first_token",
            "The first token is slow",
            slow_first_token,
            _slow_first_token_headline,
            caused_by=("proxy_buffering", "worker_exhaustion", "blocked_event_loop"),
        ),
        Rule(
            "server_errors",
            "The server answered with errors",
            server_errors,
            _server_errors_headline,
            caused_by=("worker_exhaustion",),
        ),
        Rule(
            "client_saturated",
            "The probe itself was the bottleneck",
            client_saturated,
            _client_saturated_headline,
        ),
        # HTTP/2 connection rules (probe/h2rules.py).
        Rule(
            "h2_stream_cap",
            "The server's HTTP/2 stream cap held streams back",
            h2_stream_cap,
            _h2_stream_cap_headline,
        ),
        Rule(
            "h2_flow_control_stall",
            "Request bodies stalled on HTTP/2 flow control",
            h2_flow_control_stall,
            _h2_flow_control_stall_headline,
        ),
    )
}


def headline(finding: Finding, scale: float = 1.0) -> str:
    """The one figure that proves `finding`, as its rule writes it (`capacity 4 (at 8
    streams, 5/8 queued)`); the summary for an id no rule owns."""
    rule = RULES.get(finding.id)
    return finding.summary if rule is None else rule.headline(finding.evidence, scale)


def _cause(finding: Finding, found: Mapping[str, Finding]) -> str | None:
    rule = RULES.get(finding.id)
    if rule is None:
        return None
    order = rule.caused_by
    if finding.id == "slow_first_token":
        # Time spent before the headers is queueing; after them, a buffer.
        ttfb, ttft = finding.evidence.get("ttfb_p50_s"), finding.evidence.get("ttft_p50_s")
        if isinstance(ttfb, int | float) and isinstance(ttft, int | float) and ttfb >= 0.8 * ttft:
            order = ("worker_exhaustion", "proxy_buffering", "blocked_event_loop")
    if finding.id == "server_errors" and finding.severity is not Severity.WARNING:
        return None  # real errors (5xx, error events) are their own cause, not overload
    return next((cause for cause in order if cause in found), None)


def group_causes(findings: Sequence[Finding]) -> list[Finding]:
    """Findings with `caused_by` set, root causes first (most severe first), each followed by
    the consequences it explains. Pure: a consequence names a root that was diagnosed."""
    found = {f.id: f for f in findings}
    linked = [dataclasses.replace(f, caused_by=_cause(f, found)) for f in findings]
    # A cause is a root: if it has a cause of its own, its consequences hang on that one.
    by_id = {f.id: f for f in linked}
    for i, f in enumerate(linked):
        cause = f.caused_by
        while cause is not None and by_id[cause].caused_by is not None:
            cause = by_id[cause].caused_by
        linked[i] = dataclasses.replace(f, caused_by=cause)
    roots = sorted((f for f in linked if f.caused_by is None), key=lambda f: -f.severity.rank)
    out: list[Finding] = []
    for root in roots:
        out.append(root)
        out.extend(
            sorted((f for f in linked if f.caused_by == root.id), key=lambda f: -f.severity.rank)
        )
    return out


def diagnose(run: Run, thresholds: Thresholds | None = None) -> list[Finding]:
    """Every rule over `run`, grouped: each root cause (most severe first), then the findings
    it explains (`caused_by`). Pure: reads the timelines, nothing else."""
    th = thresholds or Thresholds()
    return group_causes([f for rule in RULES.values() for f in rule(run, th)])
