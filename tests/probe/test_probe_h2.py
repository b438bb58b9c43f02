"""TLS and HTTP/2 against a real h2 server: hypercorn over TLS, a certificate made here by
trustme, a stream cap set on the server. The probe speaks h2 (ALPN), records a row per DATA
frame, and reports the cap as a finding with its fix."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

pytest.importorskip("hypercorn")
trustme = pytest.importorskip("trustme")

from hypercorn.asyncio import serve  # noqa: E402
from hypercorn.config import Config  # noqa: E402

from streamwarden.probe import ProbeConfig, ProbeError, Run, diagnose, run_probe  # noqa: E402
from streamwarden.procs import free_port  # noqa: E402


async def sse_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An OpenAI-style SSE stream: `n` tokens `interval` s apart; `read_after` s before the
    request body is read (the server's flow-control window stays shut meanwhile)."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    q = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
    await asyncio.sleep(float(q.get("read_after", "0")))
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-type", b"text/event-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for i in range(int(q.get("n", "5"))):
        chunk = b'data: {"choices":[{"delta":{"content":"t%d"}}]}\n\n' % i
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await asyncio.sleep(float(q.get("interval", "0.02")))
    await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})


@pytest.fixture(scope="module")
def ca() -> Any:
    return trustme.CA()


@contextlib.contextmanager
def hypercorn_tls(tmp: Path, ca: Any, max_streams: int) -> Iterator[str]:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp / "server.pem"))
    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.certfile = config.keyfile = str(tmp / "server.pem")
    config.h2_max_concurrent_streams = max_streams
    config.accesslog = config.errorlog = None
    loop = asyncio.new_event_loop()
    stopping = asyncio.Event()
    ready = threading.Event()

    async def main() -> None:
        ready.set()
        await serve(sse_app, config, shutdown_trigger=stopping.wait)  # type: ignore[arg-type]

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    ready.wait(10)
    from streamwarden.procs import wait_for_port

    wait_for_port("127.0.0.1", port)
    try:
        yield f"https://127.0.0.1:{port}/v1/chat/completions"
    finally:
        loop.call_soon_threadsafe(stopping.set)
        thread.join(10)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, ca: Any) -> Iterator[tuple[str, str]]:
    tmp = tmp_path_factory.mktemp("h2")
    ca.cert_pem.write_to_path(str(tmp / "ca.pem"))
    with hypercorn_tls(tmp, ca, max_streams=2) as url:
        yield url, str(tmp / "ca.pem")


def probe(url: str, **kw: Any) -> Run:
    return asyncio.run(run_probe(ProbeConfig(url=url, **kw)))


def test_h2_stream_cap_is_reported(server: tuple[str, str]) -> None:
    url, ca_file = server
    run = probe(
        url + "?n=10&interval=0.03", http2=True, ca=ca_file, concurrency=(4,), max_requests=8
    )
    assert run.protocol == "h2"
    assert {r.outcome for r in run.requests} == {"ok"}, [r.error for r in run.requests]
    # A row per DATA frame: each token came as its own frame.
    assert all(r.content_events == 10 and len(r.reads) >= 10 for r in run.requests)
    assert run.h2 is not None and run.h2["max_concurrent_streams"] == 2
    assert run.h2["connections"] == 1 and run.h2["streams_queued"] >= 2
    finding = next(f for f in diagnose(run) if f.id == "h2_stream_cap")
    assert finding.evidence["max_concurrent_streams"] == 2
    assert "http2_max_concurrent_streams" in finding.fix


def test_h2_within_the_cap_is_quiet(server: tuple[str, str]) -> None:
    url, ca_file = server
    run = probe(url + "?n=3", http2=True, ca=ca_file, concurrency=(2,), max_requests=4)
    assert run.protocol == "h2" and run.h2 is not None and run.h2["streams_queued"] == 0
    assert not {f.id for f in diagnose(run)} & {"h2_stream_cap", "h2_flow_control_stall"}


def test_h2_flow_control_waits_are_measured(server: tuple[str, str]) -> None:
    """A body three times the server's initial window (65,535) must wait for its
    WINDOW_UPDATEs: each wait is recorded. How long hypercorn takes to open its window
    varies (it may buffer for the app), so the rule is pinned on facts below."""
    url, ca_file = server
    body = b'{"stream": true, "pad": "' + b"x" * 200_000 + b'"}'
    run = probe(
        url + "?n=2&read_after=0.5",
        http2=True,
        ca=ca_file,
        body=body,
        concurrency=(1,),
        max_requests=1,
    )
    assert {r.outcome for r in run.requests} == {"ok"}, [r.error for r in run.requests]
    assert run.h2 is not None and run.h2["flow_stalls"] >= 1


def h2_run(**facts: Any) -> Run:
    h2: dict[str, Any] = {"connections": 1, "max_concurrent_streams": None, "peak_wanted": 1}
    h2 |= {"streams_queued": 0, "slot_wait_ms": {"p50": None, "max": None}}
    h2 |= {"flow_stalls": 0, "flow_stall_ms": {"total": 0.0, "max": None}, "resets": {}}
    return Run(target="https://127.0.0.1/", protocol="h2", h2=h2 | facts)


def test_the_h2_rules_on_their_facts() -> None:
    stalled = h2_run(flow_stalls=2, flow_stall_ms={"total": 900.0, "max": 700.0})
    finding = next(f for f in diagnose(stalled) if f.id == "h2_flow_control_stall")
    assert finding.evidence["flow_stall_max_ms"] == 700.0
    brief = h2_run(flow_stalls=3, flow_stall_ms={"total": 3.0, "max": 1.1})
    assert "h2_flow_control_stall" not in {f.id for f in diagnose(brief)}
    # A cap that held nothing back is no finding; one that did is.
    capped = {"max_concurrent_streams": 8, "peak_wanted": 4}
    assert "h2_stream_cap" not in {f.id for f in diagnose(h2_run(**capped))}
    queued = h2_run(**capped, streams_queued=3, slot_wait_ms={"p50": 40.0, "max": 90.0})
    assert "h2_stream_cap" in {f.id for f in diagnose(queued)}
    assert not {f.id for f in diagnose(Run(target="x"))} & {"h2_stream_cap"}


def test_tls_certificates_are_checked(server: tuple[str, str]) -> None:
    url, ca_file = server
    with pytest.raises(ProbeError, match=r"certificate.*--ca PATH.*--insecure"):
        probe(url, concurrency=(1,), max_requests=1)
    for kw in ({"insecure": True}, {"ca": ca_file}):
        run = probe(url + "?n=2", concurrency=(1,), max_requests=1, **kw)
        assert run.protocol == "http/1.1" and run.requests[0].outcome == "ok"


def test_http2_needs_https_and_an_h2_server(server: tuple[str, str]) -> None:
    with pytest.raises(ProbeError, match=r"--http2 needs an https:// URL"):
        probe("http://127.0.0.1:9/", http2=True)
    with pytest.raises(ProbeError, match="not a file"):
        probe(server[0], ca="/nonexistent/ca.pem")
