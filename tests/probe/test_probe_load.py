"""The load driver against real sockets: per-read recording, every way a stream can end."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import statistics
import struct
import threading
from collections.abc import Awaitable, Callable, Iterator

import pytest

from streamwarden.probe import ProbeConfig, ProbeError, Run, diagnose, run_probe
from streamwarden.probe.config import parse_target
from streamwarden.probe.target import SSEServer

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def probe(url: str, **kw: object) -> Run:
    return asyncio.run(run_probe(ProbeConfig(url=url, **kw)))  # type: ignore[arg-type]


@contextlib.contextmanager
def raw_server(handler: Handler) -> Iterator[str]:
    """A hand-written HTTP server, for endings no well-behaved framework produces."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> asyncio.Server:
        return await asyncio.start_server(handler, "127.0.0.1", 0)

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(5)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:

        async def stop() -> None:
            server.close()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
CHUNK = b'data: {"choices":[{"delta":{"content":"x"}}]}\n\n'


def chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def test_one_row_per_socket_read(sse_server: SSEServer) -> None:
    run = probe(sse_server.url + "/?n=5&interval=0.05&ttft=0.1", concurrency=(1,), max_requests=1)
    (r,) = run.requests
    assert r.outcome == "ok" and r.terminated and r.content_events == 5
    content = [row for row in r.reads if row[2] and row[1] > 20]
    # One event per read; `[DONE]` may share the last one, written right after it.
    assert [row[2] for row in content] in ([1, 1, 1, 1, 1], [1, 1, 1, 1, 2])
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(content)]
    # The server writes every 50 ms. A read that a loaded machine delivers late makes its
    # gap longer and the next one shorter, so bound each gap loosely and the median tightly.
    assert all(0 < g <= 170 for g in gaps), gaps
    assert 40 <= statistics.median(gaps) <= 90, gaps
    assert r.ttfb_ms is not None and r.ttft_ms is not None
    assert r.ttft_ms - r.ttfb_ms >= 90  # the server's 0.1 s before the first token


def test_missing_terminator_is_not_a_success(sse_server: SSEServer) -> None:
    run = probe(sse_server.url + "/?n=5&terminator=0", concurrency=(1,), max_requests=2)
    assert {r.outcome for r in run.requests} == {"unterminated"}
    assert not any(r.terminated for r in run.requests)
    assert "truncated_stream" in {f.id for f in diagnose(run)}


def test_http_error(sse_server: SSEServer) -> None:
    run = probe(sse_server.url + "/?status=500", concurrency=(1,), max_requests=2)
    assert {(r.outcome, r.status) for r in run.requests} == {("http_error", 500)}
    assert run.requests[0].error and "nope" in run.requests[0].error
    (finding,) = [f for f in diagnose(run) if f.id == "server_errors"]
    assert finding.severity == "error"


def test_client_timeout(sse_server: SSEServer) -> None:
    run = probe(
        sse_server.url + "/?n=50&interval=0.02", concurrency=(1,), timeout=0.3, max_requests=1
    )
    (r,) = run.requests
    assert r.outcome == "client_timeout"
    # The body would take 1 s: anything well under it is the 0.3 s timeout, even on a loaded
    # machine.
    assert r.end_ms is not None and 280 <= r.end_ms <= 750
    assert r.content_events > 3  # what arrived before the timeout is kept


def test_truncated_chunked_body() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(HEAD + chunked(CHUNK) + chunked(CHUNK))
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()  # a clean FIN, but the chunked body never got its last chunk

    with raw_server(handler) as url:
        run = probe(url, concurrency=(1,), max_requests=1)
    (r,) = run.requests
    assert r.outcome == "truncated" and r.content_events == 2
    assert r.error == "the connection closed mid-body"


def test_connection_reset() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(HEAD + chunked(CHUNK))
        await writer.drain()
        await asyncio.sleep(0.05)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # RST

    with raw_server(handler) as url:
        run = probe(url, concurrency=(1,), max_requests=1)
    assert run.requests[0].outcome == "reset"


def test_open_loop_records_schedule_lag(sse_server: SSEServer) -> None:
    run = probe(sse_server.url + "/?n=3&interval=0.01", rate=40.0, step_duration=0.5, seed=7)
    assert 8 <= len(run.requests) <= 40
    assert all(r.scheduled_ms is not None for r in run.requests)
    lag = run.to_json()["steps"][0]["schedule_lag_ms"]
    # Slack for a loaded CI machine; the coordinated-omission case below lags past 300 ms.
    assert lag["max"] < 250
    # One slot for slow streams: arrivals wait, and the wait is reported, not hidden.
    run = probe(
        sse_server.url + "/?n=4&interval=0.05",
        rate=20.0,
        step_duration=0.4,
        seed=7,
        max_inflight=1,
    )
    assert run.to_json()["steps"][0]["schedule_lag_ms"]["max"] > 300


def _answer(content_type: bytes, body: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        head = b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
        writer.write(head % (content_type, len(body)) + body)
        await writer.drain()
        writer.close()

    return handler


def test_auto_format_asks_the_content_type_before_the_url_path() -> None:
    # A non-streaming answer (`"stream": false`) on /chat/completions is complete, not an
    # openai stream that lost its `[DONE]`.
    answer = b'{"id":"x","object":"chat.completion","choices":[{"message":{"content":"hi"}}]}'
    with raw_server(_answer(b"application/json", answer)) as url:
        run = probe(url + "v1/chat/completions", concurrency=(1,), max_requests=1)
    (r,) = run.requests
    assert (r.outcome, r.format, r.terminated) == ("ok", "raw", True), r.error
    assert "truncated_stream" not in {f.id for f in diagnose(run)}
    # An SSE answer there is still openai: the URL path settles it, `[DONE]` is required.
    stream = CHUNK + CHUNK
    with raw_server(_answer(b"text/event-stream", stream)) as url:
        run = probe(url + "v1/chat/completions", concurrency=(1,), max_requests=1)
    (r,) = run.requests
    assert (r.outcome, r.format) == ("unterminated", "openai")
    with raw_server(_answer(b"text/event-stream", stream + b"data: [DONE]\n\n")) as url:
        run = probe(url + "v1/chat/completions", concurrency=(1,), max_requests=1)
    assert (run.requests[0].outcome, run.requests[0].format) == ("ok", "openai")


def test_loopback_only_unless_allowed() -> None:
    with pytest.raises(ProbeError, match="loopback only"):
        parse_target("http://10.1.2.3:8000/")
    assert parse_target("http://10.1.2.3:8000/x", allow_remote=True).port == 8000
    assert parse_target("http://[::1]:9/").host == "::1"
    assert parse_target("http://localhost/").port == 80


def test_unreachable_target() -> None:
    from streamwarden.procs import free_port

    with pytest.raises(ProbeError, match="cannot connect"):
        probe(f"http://127.0.0.1:{free_port()}/", concurrency=(1,))


def test_a_large_run_has_a_short_repr() -> None:
    """asyncio's runner formats its main task's result (Python 3.11, restoring the SIGINT
    handler): a full dataclass repr of a run with 300,000 reads cost 0.6 s of CPU."""
    from streamwarden.probe.timeline import RequestRecord, Step

    record = RequestRecord(step=0, start_ms=0.0, reads=[(1.0, 10, 1, 0)] * 100_000)
    run = Run(target="http://127.0.0.1:1/", steps=[Step(index=0)], requests=[record] * 3)
    assert len(repr(run)) < 200
    assert "reads" not in repr(record)
    assert "requests=3" in repr(run)
