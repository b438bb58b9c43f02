"""The guard under a real uvicorn on 127.0.0.1, read byte by byte through a socket."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import queue
import time
from collections.abc import AsyncIterator, Iterator, MutableMapping
from typing import Any

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rawclient import RawStream
from streamwarden import Comment, Event, Outcome, StreamPolicy, StreamStats, encode, stream_response
from streamwarden.gateway.drain import Shutdown
from streamwarden.procs import ServerThread, find_binary, free_port, start_nginx

CONTENT: list[Event | str] = [
    "hello",
    "two\nlines",
    "",
    "  leading spaces and unicode: héllo ✓",
    Event('{"a": 1}', event="delta", id="7"),
    Event("with retry", retry=1500),
    "trailing newline\n",
]


class Recorder:
    """Collects on_close stats and source lifecycle marks from the server thread."""

    def __init__(self) -> None:
        self.closed: queue.Queue[StreamStats] = queue.Queue()
        self.marks: dict[str, float] = {}
        self.errors: list[str] = []
        self.stoppers: queue.Queue[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = queue.Queue()

    def on_close(self, stats: StreamStats) -> None:
        self.closed.put(stats)

    def next_stats(self, timeout: float = 5.0) -> StreamStats:
        return self.closed.get(timeout=timeout)


def build_app(rec: Recorder) -> Starlette:
    def policy(request: Request, **defaults: float | None) -> StreamPolicy:
        values: dict[str, float | None] = dict(defaults)
        for key in (
            "heartbeat",
            "first_token_timeout",
            "idle_timeout",
            "max_duration",
            "send_timeout",
            "close_timeout",
        ):
            if key in request.query_params:
                values[key] = float(request.query_params[key])
        return StreamPolicy(**values)  # type: ignore[arg-type]

    async def content(request: Request) -> Response:
        async def source() -> AsyncIterator[Event | str]:
            for item in CONTENT:
                yield item
                await anyio.sleep(0.01)

        return stream_response(request, source(), policy=policy(request), on_close=rec.on_close)

    async def silent(request: Request) -> Response:
        pause = float(request.query_params.get("pause", "1"))
        tokens = int(request.query_params.get("tokens", "2"))
        pause_after = int(request.query_params.get("pause_after", "0"))

        async def source() -> AsyncIterator[str]:
            try:
                for index in range(tokens):
                    if index == pause_after:
                        await anyio.sleep(pause)
                    yield f"t{index}"
            finally:
                rec.marks["silent_finally"] = time.monotonic()

        return stream_response(request, source(), policy=policy(request), on_close=rec.on_close)

    async def ticker(request: Request) -> Response:
        interval = float(request.query_params.get("interval", "0.05"))
        size = int(request.query_params.get("size", "8"))

        async def source() -> AsyncIterator[str]:
            index = 0
            try:
                while True:
                    yield f"{index}:" + "x" * size
                    index += 1
                    await anyio.sleep(interval)
            finally:
                rec.marks[f"ticker_finally_{size}"] = time.monotonic()

        return stream_response(request, source(), policy=policy(request), on_close=rec.on_close)

    async def failing(request: Request) -> Response:
        async def source() -> AsyncIterator[str]:
            yield "before"
            raise RuntimeError("model backend exploded")

        return stream_response(request, source(), policy=policy(request), on_close=rec.on_close)

    async def class_source(request: Request) -> Response:
        # A hand-written async iterator: proves aclose() comes only after the pending
        # __anext__ was cancelled and awaited (else: "already running").
        class Source:
            def __init__(self) -> None:
                self.running = False

            def __aiter__(self) -> Source:
                return self

            async def __anext__(self) -> str:
                self.running = True
                try:
                    await anyio.sleep(30)
                    return "never"
                finally:
                    self.running = False

            async def aclose(self) -> None:
                if self.running:
                    rec.errors.append("aclose() while __anext__ was pending")
                rec.marks["class_aclose"] = time.monotonic()

        return stream_response(request, Source(), policy=policy(request), on_close=rec.on_close)

    async def big_then_silent(request: Request) -> Response:
        # One event larger than every buffer, then silence: the next write is a heartbeat,
        # and it blocks on a client that does not read.
        async def source() -> AsyncIterator[str]:
            try:
                yield "x" * 8_000_000
                await anyio.sleep(30)
                yield "never"
            finally:
                rec.marks["big_finally"] = time.monotonic()

        return stream_response(request, source(), policy=policy(request), on_close=rec.on_close)

    async def swallowing(request: Request) -> Response:
        # Ignores cancellation until the test releases it (so the server can stop).
        async def source() -> AsyncIterator[str]:
            yield "first"
            while "release" not in rec.marks:
                try:
                    await anyio.sleep(0.05)
                except anyio.get_cancelled_exc_class():
                    rec.marks["swallowed"] = time.monotonic()

        return stream_response(request, source(), policy=policy(request), on_close=rec.on_close)

    async def wrong_type(request: Request) -> Response:
        async def source() -> AsyncIterator[Any]:
            yield "fine"
            yield 5

        return stream_response(request, source(), policy=policy(request), on_close=rec.on_close)

    async def failing_close(request: Request) -> Response:
        def on_close(stats: StreamStats) -> None:
            rec.on_close(stats)
            raise RuntimeError("on_close exploded")

        async def source() -> AsyncIterator[str]:
            yield "a"
            yield "b"

        return stream_response(request, source(), policy=policy(request), on_close=on_close)

    async def stoppable(request: Request) -> Response:
        # `?signal=subscribe`: the gateway's drain signal, watched without a task.
        shutdown = (
            Shutdown() if request.query_params.get("signal") == "subscribe" else asyncio.Event()
        )
        if request.query_params.get("preset"):
            shutdown.set()
        rec.stoppers.put((asyncio.get_running_loop(), shutdown))

        async def source() -> AsyncIterator[str]:
            yield "a"
            await anyio.sleep(30)
            yield "never"

        return stream_response(
            request, source(), policy=policy(request), on_close=rec.on_close, shutdown=shutdown
        )

    return Starlette(
        routes=[
            Route("/swallow", swallowing),
            Route("/wrong-type", wrong_type),
            Route("/failing-close", failing_close),
            Route("/stoppable", stoppable),
            Route("/big", big_then_silent),
            Route("/content", content),
            Route("/silent", silent),
            Route("/ticker", ticker),
            Route("/failing", failing),
            Route("/class", class_source),
        ]
    )


@pytest.fixture(scope="module")
def rec_server() -> Iterator[tuple[Recorder, ServerThread]]:
    rec = Recorder()
    with ServerThread(build_app(rec)) as server:
        yield rec, server


@pytest.fixture
def rec(rec_server: tuple[Recorder, ServerThread]) -> Recorder:
    recorder = rec_server[0]
    while not recorder.closed.empty():
        recorder.closed.get_nowait()
    recorder.marks.clear()
    recorder.errors.clear()
    return recorder


@pytest.fixture
def port(rec_server: tuple[Recorder, ServerThread]) -> int:
    return rec_server[1].port


def get(port: int, path: str, **kwargs: object) -> RawStream:
    return RawStream("127.0.0.1", port, path, **kwargs)


def test_headers_and_first_comment_arrive_before_the_first_token(rec: Recorder, port: int) -> None:
    with get(port, "/silent?pause=1.0&heartbeat=5") as stream:
        head_at = time.monotonic() - stream.started
        first = stream.read_some()
        first_at = time.monotonic() - stream.started
        response = stream.response
        assert response.status == 200
        assert response.headers["content-type"] == "text/event-stream"
        assert response.headers["cache-control"] == "no-cache, no-transform"
        assert response.headers["x-accel-buffering"] == "no"
        assert "connection" not in response.headers
        assert "content-encoding" not in response.headers
        assert head_at < 0.5 and first_at < 0.5
        assert first is not None and first.startswith(b":")
        stream.read_all()
    assert rec.next_stats().outcome is Outcome.COMPLETED


def test_content_is_byte_for_byte_the_source_plus_comments(rec: Recorder, port: int) -> None:
    response = get(port, "/content?heartbeat=0.005").read_all()
    items = response.items()
    events = [i for i in items if isinstance(i, Event)]
    expected = [Event(i) if isinstance(i, str) else i for i in CONTENT]
    # A str with a trailing newline round-trips as two data lines: the last one empty.
    assert [e.data for e in events] == [e.data for e in expected]
    assert [(e.event, e.id, e.retry) for e in events] == [
        (e.event, e.id, e.retry) for e in expected
    ]
    # Strip comment blocks: what is left is exactly the encoded source.
    blocks = response.body.split(b"\n\n")
    content = b"".join(b + b"\n\n" for b in blocks if b and not b.startswith(b":"))
    assert content == b"".join(encode(i) for i in CONTENT)
    assert all(
        isinstance(i, Comment) and i.text in ("stream open", "keepalive")
        for i in items
        if i not in events
    )
    assert rec.next_stats().events == len(CONTENT)


def test_heartbeats_during_silence_including_before_first_token(rec: Recorder, port: int) -> None:
    # 1.0 s of silence before the first token, heartbeat every 0.2 s.
    response = get(port, "/silent?pause=1.0&heartbeat=0.2").read_all()
    timed = response.timed_items()
    first_event_at = next(t for t, item in timed if isinstance(item, Event))
    beats = [t for t, item in timed if isinstance(item, Comment) and item.text == "keepalive"]
    assert first_event_at >= 0.95
    early = [t for t in beats if t < first_event_at]
    assert 2 <= len(early) <= 6, early
    stats = rec.next_stats()
    assert stats.heartbeats == len(beats)
    assert stats.ttft is not None and stats.ttft >= 0.95
    # Heartbeats never appear in the content.
    assert [e.data for e in response.events()] == ["t0", "t1"]


def test_heartbeat_during_silence_between_tokens(rec: Recorder, port: int) -> None:
    response = get(port, "/silent?pause=0.9&pause_after=1&tokens=3&heartbeat=0.25").read_all()
    timed = response.timed_items()
    t0 = next(t for t, i in timed if isinstance(i, Event) and i.data == "t0")
    t1 = next(t for t, i in timed if isinstance(i, Event) and i.data == "t1")
    between = [t for t, i in timed if isinstance(i, Comment) and t0 < t < t1]
    assert len(between) >= 2
    assert rec.next_stats().outcome is Outcome.COMPLETED


@pytest.mark.parametrize(
    ("path", "outcome"),
    [
        ("/silent?pause=5&first_token_timeout=0.3", Outcome.FIRST_TOKEN_TIMEOUT),
        ("/silent?pause=5&pause_after=1&idle_timeout=0.3", Outcome.IDLE_TIMEOUT),
        ("/ticker?interval=0.05&max_duration=0.5", Outcome.MAX_DURATION),
    ],
)
def test_deadlines_end_with_an_error_event_and_close_the_source(
    rec: Recorder, port: int, path: str, outcome: Outcome
) -> None:
    response = get(port, path).read_all()
    last = response.events()[-1]
    assert last.event == "error"
    assert json.loads(last.data)["error"]["type"] == outcome.value
    stats = rec.next_stats()
    assert stats.outcome is outcome
    # Ordering, not a time bound: the stream ended before its source's 5 s silence did.
    assert stats.duration < 5
    assert any("finally" in key for key in rec.marks), "source was not closed"


def test_upstream_error_becomes_an_error_event(rec: Recorder, port: int) -> None:
    response = get(port, "/failing").read_all()
    events = response.events()
    assert events[0].data == "before"
    assert events[-1].event == "error"
    assert "exploded" in json.loads(events[-1].data)["error"]["message"]
    assert rec.next_stats().outcome is Outcome.UPSTREAM_ERROR


def test_client_leaving_mid_stream_closes_the_source_within_100ms(rec: Recorder, port: int) -> None:
    stream = get(port, "/silent?pause=30&pause_after=1&tokens=3&heartbeat=10")
    stream.read_until(lambda r: any(e.data == "t0" for e in r.events()))
    left_at = time.monotonic()
    stream.close()
    stats = rec.next_stats()
    assert stats.outcome is Outcome.CLIENT_DISCONNECTED
    assert rec.marks["silent_finally"] - left_at < 0.1


def test_pending_anext_is_cancelled_before_aclose(rec: Recorder, port: int) -> None:
    stream = get(port, "/class?heartbeat=10&first_token_timeout=60")
    stream.read_some()  # the opening comment: __anext__ is now pending
    time.sleep(0.05)
    left_at = time.monotonic()
    stream.close()
    stats = rec.next_stats()
    assert stats.outcome is Outcome.CLIENT_DISCONNECTED
    assert rec.errors == []
    assert rec.marks["class_aclose"] - left_at < 0.1


def test_client_that_stops_reading_is_dropped_while_others_flow(rec: Recorder, port: int) -> None:
    # The stuck client never reads and has a tiny receive buffer; it gets 64 KB events.
    stuck = get(port, "/ticker?interval=0&size=65536&send_timeout=0.5&heartbeat=0.1", rcvbuf=4096)
    healthy = get(port, "/ticker?interval=0.05&size=8&max_duration=2&heartbeat=10")
    arrivals: list[float] = []
    while healthy.read_some() is not None:
        arrivals.append(time.monotonic())
    healthy.close()
    outcomes = {rec.next_stats().outcome, rec.next_stats().outcome}
    assert outcomes == {Outcome.SEND_TIMEOUT, Outcome.MAX_DURATION}
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(arrivals) > 20 and max(gaps) < 0.5, max(gaps)
    assert "ticker_finally_65536" in rec.marks
    stuck.close()


def test_fastapi_route_uses_the_guard() -> None:
    from fastapi import FastAPI

    app = FastAPI()
    closed: list[StreamStats] = []

    @app.post("/chat")
    async def chat(request: Request) -> Response:
        body = await request.json()

        async def tokens() -> AsyncIterator[str]:
            for word in body["words"]:
                await anyio.sleep(0.01)
                yield word

        return stream_response(
            request, tokens(), policy=StreamPolicy(heartbeat=1), on_close=closed.append
        )

    with ServerThread(app) as server:
        response = RawStream(
            "127.0.0.1", server.port, "/chat", method="POST", body={"words": ["a", "b", "c"]}
        ).read_all()
    assert response.status == 200
    assert [e.data for e in response.events()] == ["a", "b", "c"]
    assert closed and closed[0].outcome is Outcome.COMPLETED and closed[0].events == 3


@pytest.mark.skipif(
    find_binary("nginx") is None, reason="nginx not installed (apt-get install nginx-light)"
)
@pytest.mark.parametrize("accel", ["no", "yes"])
def test_events_arrive_one_by_one_through_default_nginx(tmp_path: object, accel: str) -> None:
    """nginx's defaults: proxy_buffering on and HTTP/1.0 to the app. With uvicorn's h11
    protocol the app then ends the body by closing, so nginx can only pass what its buffers
    hold: only `X-Accel-Buffering: no` keeps events flowing one by one (the control case sets
    it to "yes" and must see one burst)."""
    from pathlib import Path

    async def ticker(request: Request) -> Response:
        async def source() -> AsyncIterator[str]:
            for index in range(6):
                yield f"tick {index}"
                await anyio.sleep(0.2)

        return stream_response(
            request,
            source(),
            policy=StreamPolicy(heartbeat=10),
            headers={"X-Accel-Buffering": accel},
        )

    listen = free_port()
    with ServerThread(Starlette(routes=[Route("/ticker", ticker)]), http="h11") as app:
        body = f"server {{ listen 127.0.0.1:{listen}; location / {{ proxy_pass http://127.0.0.1:{app.port}; }} }}"
        with start_nginx(Path(str(tmp_path)), body, listen):
            response = get(listen, "/ticker").read_all()
    timed = [t for t, i in response.timed_items() if isinstance(i, Event)]
    assert len(timed) == 6
    gaps = [b - a for a, b in itertools.pairwise(timed)]
    if accel == "no":
        # Each event lands on its own, about 0.2 s after the previous one.
        assert all(0.1 < gap < 0.6 for gap in gaps), gaps
    else:
        assert max(gaps) < 0.1, gaps  # held back, then delivered at once


def test_finished_streams_leave_no_cancelled_error_cycles(rec: Recorder, port: int) -> None:
    """A watcher task that ends in CancelledError leaves a reference cycle in anyio's task
    bookkeeping; thousands of them made full GC passes pause every stream for 0.1-1 s."""
    import asyncio
    import gc

    gc.collect()
    gc.disable()
    try:
        for _ in range(10):
            get(port, "/content?heartbeat=5").read_all()
            rec.next_stats()
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        leaked = sum(isinstance(o, asyncio.CancelledError) for o in gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert leaked == 0, f"{leaked} CancelledError objects in reference cycles"


def test_heartbeat_blocked_on_a_client_that_stopped_reading_still_times_out(
    rec: Recorder, port: int
) -> None:
    """The heartbeat write blocks on the full socket; the send timeout must still fire."""
    stuck = get(port, "/big?heartbeat=0.1&send_timeout=0.5&idle_timeout=60", rcvbuf=4096)
    try:
        stats = rec.next_stats(timeout=5)
        assert stats.outcome is Outcome.SEND_TIMEOUT
        assert stats.duration < 30  # ended before the source's own silence did
        assert "big_finally" in rec.marks
    finally:
        stuck.close()


def test_a_source_that_swallows_cancellation_is_abandoned_after_the_close_timeout(
    rec: Recorder, port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="streamwarden.guard")
    stream = get(port, "/swallow?close_timeout=0.3&heartbeat=10")
    try:
        stream.read_until(lambda r: any(e.data == "first" for e in r.events()))
        stream.close()
        # Without the bound, on_close never ran and the request never ended.
        stats = rec.next_stats(timeout=10)
        assert stats.outcome is Outcome.CLIENT_DISCONNECTED
        assert stats.extra.get("abandoned_source") is True
        assert "swallowed" in rec.marks
        warnings = [r.getMessage() for r in caplog.records if "abandoned" in r.getMessage()]
        assert warnings and "swallowing" in warnings[0]
    finally:
        rec.marks["release"] = time.monotonic()


def test_a_source_yielding_the_wrong_type_gets_a_clear_error(rec: Recorder, port: int) -> None:
    response = get(port, "/wrong-type").read_all()
    assert response.events()[0].data == "fine"
    last = json.loads(response.events()[-1].data)
    assert "stream source yielded int; yield str, Event" in last["error"]["message"]
    assert rec.next_stats().outcome is Outcome.UPSTREAM_ERROR


def test_a_failing_on_close_is_logged_and_the_response_still_completes(
    rec: Recorder, port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="streamwarden.guard")
    response = get(port, "/failing-close").read_all()
    assert [e.data for e in response.events()] == ["a", "b"]
    assert rec.next_stats().outcome is Outcome.COMPLETED
    deadline = time.monotonic() + 5
    while not any("on_close" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, "the on_close failure was not logged"
        time.sleep(0.01)


@pytest.mark.parametrize("signal", ["event", "subscribe"])
def test_shutdown_ends_a_running_stream_with_an_error_event(
    rec: Recorder, port: int, signal: str
) -> None:
    stream = get(port, f"/stoppable?heartbeat=10&signal={signal}")
    stream.read_until(lambda r: any(e.data == "a" for e in r.events()))
    loop, shutdown = rec.stoppers.get(timeout=5)
    loop.call_soon_threadsafe(shutdown.set)
    response = stream.read_all()
    last = response.events()[-1]
    assert last.event == "error" and json.loads(last.data)["error"]["type"] == "shutdown"
    assert rec.next_stats().outcome is Outcome.SHUTDOWN


@pytest.mark.parametrize("signal", ["event", "subscribe"])
def test_a_shutdown_signalled_before_the_stream_ends_it_before_its_first_token(
    rec: Recorder, port: int, signal: str
) -> None:
    started = time.monotonic()
    response = get(port, f"/stoppable?heartbeat=10&signal={signal}&preset=1").read_all()
    assert time.monotonic() - started < 5.0
    events = response.events()
    assert [e.data for e in events[:-1]] in ([], ["a"])
    assert events[-1].event == "error"
    assert json.loads(events[-1].data)["error"]["type"] == "shutdown"
    assert rec.next_stats().outcome is Outcome.SHUTDOWN


def test_a_failing_watcher_ends_the_stream_and_its_error_comes_out() -> None:
    """The watchers run as plain tasks on asyncio, with a task group's rules: one that fails
    stops the stream, the source is closed, `on_close` reports, the error propagates, and
    no task is left behind."""
    closed: list[StreamStats] = []
    source_closed = asyncio.Event()

    async def source() -> AsyncIterator[str]:
        try:
            yield "one"
            await asyncio.Event().wait()
        finally:
            source_closed.set()

    async def main() -> None:
        async def receive() -> dict[str, Any]:
            await asyncio.sleep(0.05)
            raise RuntimeError("receive broke")

        async def send(message: MutableMapping[str, Any]) -> None:
            pass

        before = len(asyncio.all_tasks())
        response = stream_response(None, source(), on_close=closed.append)
        with pytest.raises(RuntimeError, match="receive broke"):
            await asyncio.wait_for(response({"type": "http"}, receive, send), 5)
        await asyncio.sleep(0)
        assert len(asyncio.all_tasks()) == before

    asyncio.run(main())
    assert source_closed.is_set()
    assert len(closed) == 1 and closed[0].outcome is Outcome.SHUTDOWN
