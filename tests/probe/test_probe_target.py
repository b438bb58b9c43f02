"""The probe against its demo target on loopback: every stream format detected and read to
its terminator, and a healthy server diagnosed as healthy. The failures themselves (buffering,
idle and total timeouts, worker exhaustion, a blocked loop) are reproduced on real nginx,
gunicorn and HAProxy by the lab, and checked in tests/lab/test_lab.py."""

from __future__ import annotations

import asyncio

import pytest

from streamwarden.probe import ProbeConfig, Run, Thresholds, diagnose, run_probe
from streamwarden.probe.target import SSEServer


def probe(url: str, **options: object) -> Run:
    return asyncio.run(run_probe(ProbeConfig(url=url, **options)))  # type: ignore[arg-type]


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


@pytest.mark.parametrize("fmt", ["openai", "anthropic", "sse", "raw"])
def test_each_format_is_detected_and_complete(sse_server: SSEServer, fmt: str) -> None:
    run = probe(
        f"{sse_server.url}/?fmt={fmt}&n=8&interval=0.01", concurrency=(2,), step_duration=0.1
    )
    assert {r.format for r in run.requests} == {fmt}
    assert all(r.outcome == "ok" and r.content_events == 8 for r in run.requests)
    assert [f.id for f in diagnose(run)] == []


def test_an_http_1_0_request_gets_a_close_delimited_body(sse_server: SSEServer) -> None:
    # What nginx sends upstream by default, and what makes a default nginx buffer.
    async def fetch(version: str) -> bytes:
        reader, writer = await asyncio.open_connection(sse_server.host, sse_server.port)
        writer.write(f"GET /?n=2&interval=0 {version}\r\nHost: x\r\n\r\n".encode())
        body = await reader.read(-1)
        writer.close()
        return body

    old = asyncio.run(fetch("HTTP/1.0"))
    assert b"Transfer-Encoding" not in old and old.endswith(b"data: [DONE]\n\n")
    new = asyncio.run(fetch("HTTP/1.1"))
    assert b"Transfer-Encoding: chunked" in new and new.endswith(b"0\r\n\r\n")
