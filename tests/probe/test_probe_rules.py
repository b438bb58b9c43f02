"""Each diagnosis rule on synthetic timelines: the pattern it names, and near misses."""

from __future__ import annotations

import random

from streamwarden.probe import Run, Step, Thresholds, diagnose
from streamwarden.probe.diagnose import (
    blocked_event_loop,
    client_saturated,
    idle_timeout,
    missing_heartbeat,
    proxy_buffering,
    server_errors,
    slow_first_token,
    total_timeout,
    truncated_stream,
    worker_exhaustion,
)
from streamwarden.probe.timeline import RequestRecord

TH = Thresholds()


def stream(
    start: float = 0.0,
    *,
    step: int = 0,
    ttfb: float = 2.0,
    times: list[float] | None = None,
    events: list[int] | None = None,
    end: float | None = None,
    outcome: str = "ok",
    status: int | None = 200,
    heartbeats: list[int] | None = None,
    size: int = 180,
) -> RequestRecord:
    """A stream: headers at `ttfb`, then reads at `times` (ms from its start)."""
    times = times if times is not None else [ttfb + 20.0 * i for i in range(1, 21)]
    events = events if events is not None else [1] * len(times)
    beats = heartbeats if heartbeats is not None else [0] * len(times)
    reads = [(ttfb, 0, 0, 0)] + [
        (t, size * e if e else 3, e, h) for t, e, h in zip(times, events, beats, strict=True)
    ]
    content = sum(events)
    first = next((t for t, e in zip(times, events, strict=True) if e), None)
    return RequestRecord(
        step=step,
        start_ms=start,
        status=status,
        ttfb_ms=ttfb if status else None,
        ttft_ms=first,
        end_ms=end if end is not None else (times[-1] + 1.0 if times else ttfb + 1.0),
        outcome=outcome,
        terminated=outcome == "ok",
        events=content,
        content_events=content,
        heartbeats=sum(beats),
        reads=reads if status else [],
    )


def run_of(requests: list[RequestRecord], concurrency: tuple[int, ...] = (1,)) -> Run:
    steps = [Step(index=i, concurrency=c, duration_s=1.0) for i, c in enumerate(concurrency)]
    return Run(target="http://127.0.0.1:1/", steps=steps, requests=requests)


def ids(run: Run, th: Thresholds = TH) -> set[str]:
    return {f.id for f in diagnose(run, th)}


# -- a healthy run --------------------------------------------------------------------------


def healthy_run() -> Run:
    rng = random.Random(1)
    reqs = []
    for step, c in enumerate((1, 2, 4, 8)):
        for k in range(c * 3):
            start = step * 1000.0 + (k // c) * 420.0 + rng.random()
            times = [2.0 + 20.0 * i + rng.random() * 3 for i in range(1, 21)]
            reqs.append(stream(start, step=step, ttfb=1.0 + rng.random(), times=times))
    return run_of(reqs, (1, 2, 4, 8))


def test_healthy_run_has_no_findings() -> None:
    assert diagnose(healthy_run(), TH) == []


# -- worker_exhaustion ----------------------------------------------------------------------


def exhaustion_run(workers: int = 2) -> Run:
    reqs = []
    length = 800.0
    for step, c in enumerate((1, 2, 4)):
        base = step * 3000.0
        for k in range(c):
            wave = k // workers
            ttfb = 5.0 + wave * length
            times = [ttfb + 40.0 * i for i in range(1, 21)]
            reqs.append(stream(base, step=step, ttfb=ttfb, times=times))
    return run_of(reqs, (1, 2, 4))


def test_worker_exhaustion_finds_the_knee_and_capacity() -> None:
    findings = worker_exhaustion(exhaustion_run(2), TH)
    assert [f.id for f in findings] == ["worker_exhaustion"]
    ev = findings[0].evidence
    assert ev["capacity"] == 2
    assert ev["knee_concurrency"] == 4
    assert ev["queued"] == 2


def test_worker_exhaustion_counts_refusals() -> None:
    run = exhaustion_run(8)  # nobody queues...
    for r in run.requests[3:5]:  # ...but two at concurrency 4 are refused with 503
        r.status, r.outcome, r.reads, r.ttft_ms = 503, "http_error", [(1.0, 30, 0, 0)], None
        r.end_ms = 2.0
    findings = worker_exhaustion(run, TH)
    assert findings and findings[0].evidence["refused"] == 2
    assert findings[0].evidence["capacity"] == 2


def test_worker_exhaustion_near_miss_ttfb_creeps_up() -> None:
    run = exhaustion_run(8)
    for r in run.requests:
        r.ttfb_ms = (r.ttfb_ms or 0) + 30.0 * r.step  # 90 ms more at c=4: load, not queueing
    assert worker_exhaustion(run, TH) == []


# -- proxy_buffering ------------------------------------------------------------------------


def test_proxy_buffering_bursts_of_4kb() -> None:
    reqs = []
    for k in range(4):
        # 66 events of ~186 bytes over 1.3 s arrive in three 22-event reads of 4 KB.
        times = [450.0, 890.0, 1330.0]
        reqs.append(stream(k * 10.0, times=times, events=[22, 22, 22], size=186))
    findings = proxy_buffering(run_of(reqs), TH)
    assert findings, "bursts of 22 events must be diagnosed"
    ev = findings[0].evidence
    assert 4000 <= ev["burst_bytes"] <= 4200
    assert ev["events_per_burst"] == 22
    assert ev["all_at_end"] is False


def test_proxy_buffering_all_at_the_end() -> None:
    reqs = [stream(k * 5.0, times=[600.0], events=[20]) for k in range(3)]
    findings = proxy_buffering(run_of(reqs), TH)
    assert findings and findings[0].evidence["all_at_end"] is True


def test_proxy_buffering_near_miss_occasional_coalescing() -> None:
    reqs = []
    for k in range(4):
        # 30 events, mostly one per read, a few pairs and one triple: a busy but direct path.
        events = [1] * 20 + [2, 2, 3, 1, 1]
        times = [5.0 + 20.0 * i for i in range(len(events))]
        reqs.append(stream(k * 3.0, times=times, events=events))
    assert proxy_buffering(run_of(reqs), TH) == []


def test_proxy_buffering_near_miss_instant_answer() -> None:
    # A cached answer: all 20 events in one read 2 ms after the request. Nothing waited.
    reqs = [stream(k * 5.0, ttfb=1.0, times=[2.0], events=[20]) for k in range(3)]
    assert proxy_buffering(run_of(reqs), TH) == []


def test_proxy_buffering_ignores_a_saturated_client() -> None:
    reqs = [stream(k * 5.0, times=[600.0], events=[20]) for k in range(3)]
    run = run_of(reqs)
    run.steps[0].loop_lag = [(float(t), 300.0) for t in range(0, 1000, 50)]
    assert proxy_buffering(run, TH) == []
    assert "client_saturated" in ids(run)


# -- idle_timeout and total_timeout ---------------------------------------------------------


def cut_after_silence(start: float, silence: float, events_before: int = 5) -> RequestRecord:
    times = [2.0 + 20.0 * i for i in range(1, events_before + 1)]
    return stream(start, times=times, end=times[-1] + silence, outcome="truncated")


def test_idle_timeout_consistent_silence() -> None:
    reqs = [cut_after_silence(k * 50.0, 1000.0 + k * 7) for k in range(4)]
    findings = idle_timeout(run_of(reqs), TH)
    assert findings
    assert abs(findings[0].evidence["cut_after_idle_s"] - 1.01) < 0.05
    assert "total_timeout" not in ids(run_of(reqs))
    assert {"idle_timeout", "truncated_stream", "missing_heartbeat"} <= ids(run_of(reqs))


def test_opening_comment_is_not_a_heartbeat() -> None:
    """The guard sends `: stream open` with the headers. A stream cut by an idle timeout with
    only that comment carried no heartbeat, and missing_heartbeat must still fire."""

    def cut(start: float, beats: list[int]) -> RequestRecord:
        times = [2.0 + 20.0 * i for i in range(1, 6)]
        return stream(
            start, times=times, heartbeats=beats, end=times[-1] + 1000.0, outcome="truncated"
        )

    opening_only = [cut(k * 50.0, [1, 0, 0, 0, 0]) for k in range(4)]
    assert "missing_heartbeat" in ids(run_of(opening_only))
    with_beats = [cut(k * 50.0, [1, 0, 1, 0, 0]) for k in range(4)]
    assert "missing_heartbeat" not in ids(run_of(with_beats))


def test_idle_timeout_near_miss_inconsistent_silences() -> None:
    reqs = [cut_after_silence(k * 50.0, s) for k, s in enumerate((600.0, 1700.0, 3100.0, 4600.0))]
    assert idle_timeout(run_of(reqs), TH) == []


def test_idle_timeout_near_miss_single_cut() -> None:
    assert idle_timeout(run_of([cut_after_silence(0.0, 1000.0)]), TH) == []


def cut_while_flowing(start: float, cut_at: float) -> RequestRecord:
    times = [2.0 + 25.0 * i for i in range(1, 200) if 2.0 + 25.0 * i < cut_at]
    return stream(start, times=times, end=cut_at, outcome="truncated")


def test_total_timeout_cut_at_consistent_elapsed_time() -> None:
    reqs = [cut_while_flowing(k * 40.0, 1500.0 + k * 5) for k in range(4)]
    reqs += [stream(k * 30.0) for k in range(3)]  # short streams (0.4 s) succeed
    findings = total_timeout(run_of(reqs), TH)
    assert findings
    assert abs(findings[0].evidence["cut_at_s"] - 1.5) < 0.05
    assert "heartbeats cannot fix" in findings[0].summary.lower()
    assert "idle_timeout" not in ids(run_of(reqs))


def test_total_timeout_near_miss_longer_streams_succeed() -> None:
    reqs = [cut_while_flowing(k * 40.0, 1500.0) for k in range(3)]
    long_ok = [2.0 + 25.0 * i for i in range(1, 120)]  # a 3 s stream that went through
    reqs.append(stream(0.0, times=long_ok))
    assert total_timeout(run_of(reqs), TH) == []


def test_total_timeout_near_miss_random_cut_times() -> None:
    reqs = [cut_while_flowing(k * 40.0, at) for k, at in enumerate((700.0, 1500.0, 2600.0))]
    assert total_timeout(run_of(reqs), TH) == []


# -- missing_heartbeat ----------------------------------------------------------------------


def test_missing_heartbeat_long_silence_scaled() -> None:
    times = [20.0, 40.0, 6040.0, 6060.0]  # a 6 s silence in a stream that completed
    run = run_of([stream(times=times)])
    assert missing_heartbeat(run, TH) == []  # real-world default: 60 s
    findings = missing_heartbeat(run, Thresholds(silence_s=5.0))
    assert findings and findings[0].evidence["max_silence_s"] == 6.0


def test_missing_heartbeat_near_miss_heartbeats_fill_the_silence() -> None:
    times = [20.0, 40.0] + [40.0 + 1500.0 * i for i in range(1, 5)] + [6060.0]
    events = [1, 1, 0, 0, 0, 0, 1]
    beats = [0, 0, 1, 1, 1, 1, 0]
    run = run_of([stream(times=times, events=events, heartbeats=beats)])
    assert missing_heartbeat(run, Thresholds(silence_s=5.0)) == []


# -- blocked_event_loop ---------------------------------------------------------------------


def test_blocked_event_loop_stalls_every_stream_at_once() -> None:
    reqs = []
    for k in range(4):
        start = k * 130.0  # streams at different points of their answers
        times = []
        t = 2.0
        while start + t < 2500.0:
            t += 20.0
            if 1000.0 <= start + t < 1800.0:
                t = 1800.0 - start  # nothing from 1.0 s to 1.8 s, for everyone
            times.append(t)
        reqs.append(stream(start, times=times))
    findings = blocked_event_loop(run_of(reqs, (4,)), TH)
    assert findings
    assert findings[0].evidence["streams_hit"] == 4
    assert 0.7 <= findings[0].evidence["longest_stall_s"] <= 0.85


def test_blocked_event_loop_near_miss_synchronised_pacing() -> None:
    # Four streams started together all pause after their 5th token: the server's pacing.
    times = [2.0 + 20.0 * i for i in range(1, 6)] + [1102.0 + 20.0 * i for i in range(10)]
    reqs = [stream(k * 0.5, times=list(times)) for k in range(4)]
    assert blocked_event_loop(run_of(reqs, (4,)), TH) == []


def test_blocked_event_loop_near_miss_one_stream_stalls() -> None:
    reqs = [stream(k * 130.0, times=[2.0 + 20.0 * i for i in range(1, 100)]) for k in range(3)]
    lonely = [2.0 + 20.0 * i for i in range(1, 30)] + [1500.0 + 20.0 * i for i in range(40)]
    reqs.append(stream(50.0, times=lonely))
    assert blocked_event_loop(run_of(reqs, (4,)), TH) == []


# -- the rest -------------------------------------------------------------------------------


def test_truncated_stream_and_near_miss() -> None:
    cut = stream(0.0, outcome="unterminated")
    assert truncated_stream(run_of([cut, stream(5.0)]), TH)
    assert truncated_stream(run_of([stream(0.0), stream(5.0)]), TH) == []


def test_slow_first_token_and_near_miss() -> None:
    slow = stream(0.0, times=[6000.0, 6020.0])
    assert slow_first_token(run_of([slow]), TH)
    assert slow_first_token(run_of([stream(0.0, times=[4000.0])]), TH) == []
    assert slow_first_token(run_of([slow]), TH.scaled(2.0)) == []


def test_server_errors_severity() -> None:
    err = stream(0.0, status=500, outcome="http_error", times=[1.0], events=[0])
    findings = server_errors(run_of([err, stream(5.0)]), TH)
    assert findings and findings[0].severity == "error"
    assert findings[0].evidence["statuses"] == {"500": 1}
    busy = stream(0.0, status=503, outcome="http_error", times=[1.0], events=[0])
    assert server_errors(run_of([busy]), TH)[0].severity == "warning"
    assert server_errors(run_of([stream(0.0)]), TH) == []


def test_client_saturated_and_near_miss() -> None:
    run = run_of([stream(0.0)])
    run.steps[0].loop_lag = [(float(t), 2.0) for t in range(0, 1000, 50)]
    assert client_saturated(run, TH) == []
    run.steps[0].loop_lag[-3:] = [(900.0, 120.0), (950.0, 150.0), (990.0, 200.0)]
    findings = client_saturated(run, TH)
    assert findings and findings[0].evidence["loop_lag_p99_ms"] >= 50


def test_run_round_trips_through_json() -> None:
    run = healthy_run()
    run.diagnosis = diagnose(exhaustion_run(), TH)
    saved = run.to_json()
    again = Run.from_json(saved)
    assert again.to_json()["requests"] == saved["requests"]
    assert again.to_json()["diagnosis"] == saved["diagnosis"]
    assert [s["requests"] for s in again.to_json()["steps"]] == [
        s["requests"] for s in saved["steps"]
    ]
    assert diagnose(Run.from_json(exhaustion_run().to_json()), TH) == diagnose(exhaustion_run(), TH)


def test_dump_writes_what_to_json_holds() -> None:
    """`Run.dump` writes the rows as text itself (for speed): same document as `to_json`."""
    import io
    import json

    run = healthy_run()
    run.requests[0].reads.append((1234.56789, 7, 1, 0))
    run.diagnosis = diagnose(exhaustion_run(), TH)
    out = io.StringIO()
    run.dump(out)
    assert out.getvalue().endswith("}\n")
    doc = json.loads(out.getvalue())
    assert doc == run.to_json()
    assert Run.from_json(doc).to_json()["requests"] == doc["requests"]
