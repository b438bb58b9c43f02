"""Each killer reproduced with a real server on loopback, and diagnosed with the right evidence."""

from __future__ import annotations

import asyncio

import pytest

from streamwarden.probe import ProbeConfig, Run, Thresholds, diagnose, run_probe
from streamwarden.probe.target import SSEServer


def probe(url: str, **kw: object) -> Run:
    return asyncio.run(run_probe(ProbeConfig(url=url, **kw)))  # type: ignore[arg-type]


def by_id(run: Run, th: Thresholds | None = None) -> dict[str, dict[str, object]]:
    return {f.id: f.evidence for f in diagnose(run, th)}


def test_healthy_server_has_no_error_findings(sse_server: SSEServer) -> None:
    run = probe(
        sse_server.url + "/v1/chat/completions?n=25&interval=0.02",
        concurrency=(1, 4, 16),
        step_duration=0.6,
    )
    findings = diagnose(run, Thresholds().scaled(0.1))
    assert [f.id for f in findings if f.severity == "error"] == []
    assert run.requests and all(r.outcome == "ok" and r.terminated for r in run.requests)
    assert all(r.content_events == 25 for r in run.requests)
    assert max(r.ttft_ms or 0 for r in run.requests) < 600  # 3x slack for a loaded machine


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "sse", "raw"])
def test_each_format_is_detected_and_complete(sse_server: SSEServer, fmt: str) -> None:
    run = probe(
        f"{sse_server.url}/?fmt={fmt}&n=8&interval=0.01", concurrency=(2,), step_duration=0.1
    )
    assert {r.format for r in run.requests} == {fmt}
    assert all(r.outcome == "ok" and r.content_events == 8 for r in run.requests)
    assert [f.id for f in diagnose(run)] == []


@pytest.mark.nginx
def test_nginx_default_buffering(nginx_buffering: str) -> None:
    # ~185-byte OpenAI chunks every 20 ms: a default nginx hands them over 4 KB at a time.
    run = probe(
        nginx_buffering + "/v1/chat/completions?n=66&interval=0.02&pad=120",
        concurrency=(1, 2),
        step_duration=0.3,
    )
    found = by_id(run)
    assert "proxy_buffering" in found, found
    ev = found["proxy_buffering"]
    assert 3500 <= int(ev["burst_bytes"]) <= 8400  # type: ignore[call-overload]
    assert float(ev["events_per_burst"]) >= 15  # type: ignore[arg-type]
    assert min(r.ttft_ms or 0 for r in run.requests) > 300  # TTFT jumps...
    assert all(r.outcome == "ok" for r in run.requests)  # ...though every stream completes


@pytest.mark.nginx
def test_nginx_read_timeout_cuts_a_silent_pause(nginx_read_timeout: str) -> None:
    run = probe(
        nginx_read_timeout + "/?n=10&interval=0.02&pause_after=4&pause=2",
        concurrency=(1, 3),
        step_duration=0.3,
    )
    found = by_id(run, Thresholds().scaled(0.1))
    assert "idle_timeout" in found, found
    assert 0.8 <= float(found["idle_timeout"]["cut_after_idle_s"]) <= 1.3  # type: ignore[arg-type]
    assert {"truncated_stream", "missing_heartbeat"} <= set(found)
    assert "total_timeout" not in found
    assert all(r.outcome in ("truncated", "reset") for r in run.requests)


def test_relay_cuts_at_a_fixed_total_time(cutting_relay: str) -> None:
    # Every other stream is short (8 events) and gets through; long ones (1.8 s) are cut at 1 s.
    run = probe(
        cutting_relay + "/?n=60&interval=0.03&short=8",
        concurrency=(2, 4),
        step_duration=0.3,
    )
    found = by_id(run)
    assert "total_timeout" in found, found
    ev = found["total_timeout"]
    assert 0.9 <= float(ev["cut_at_s"]) <= 1.2  # type: ignore[arg-type]
    assert int(ev["short_streams_ok"]) >= 2  # type: ignore[call-overload]
    assert "idle_timeout" not in found
    summary = next(f.summary for f in diagnose(run) if f.id == "total_timeout")
    assert "Heartbeats cannot fix this" in summary


def test_gunicorn_sync_workers_are_exhausted(gunicorn_sync: str) -> None:
    run = probe(gunicorn_sync, concurrency=(1, 2, 4), step_duration=0.4)
    found = by_id(run)
    assert "worker_exhaustion" in found, found
    assert found["worker_exhaustion"]["capacity"] == 2
    assert found["worker_exhaustion"]["knee_concurrency"] == 4


def test_blocked_event_loop_stalls_all_streams(sse_server: SSEServer) -> None:
    run = probe(
        sse_server.url + "/?n=30&interval=0.03&block_after=12&block=0.6",
        concurrency=(4,),
        step_duration=0.3,
        ramp=0.4,
    )
    found = by_id(run)
    assert "blocked_event_loop" in found, found
    assert int(found["blocked_event_loop"]["streams_hit"]) >= 3  # type: ignore[call-overload]
