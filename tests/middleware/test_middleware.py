"""StreamGuardMiddleware around a FastAPI app under a real uvicorn, read through raw sockets.

One app, served twice: bare, and behind middleware instances that differ only in policy
(picked per request by the `x-policy` header), so each test reads the policy it needs.
"""

from __future__ import annotations

import gc
import json
import os
import random
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from mwutil import Generators, raw_exchange
from starlette.types import Receive, Scope, Send

from rawclient import RawStream
from streamwarden import Comment, Event, Outcome, StreamGuardMiddleware, StreamPolicy
from streamwarden.procs import ServerThread

QUIET = StreamPolicy(heartbeat=10.0)
POLICIES = {
    "quiet": QUIET,
    "beat": StreamPolicy(heartbeat=0.1),
    "first": StreamPolicy(heartbeat=10.0, first_token_timeout=0.3),
    "idle": StreamPolicy(heartbeat=10.0, idle_timeout=0.3),
    "total": StreamPolicy(heartbeat=10.0, max_duration=0.5),
    "stuck": StreamPolicy(heartbeat=0.1, send_timeout=0.5),
    "steady": StreamPolicy(heartbeat=1.0, idle_timeout=1.0),
}


def build_app(gens: Generators, download: Path) -> FastAPI:
    app = FastAPI()

    @app.get("/json")
    async def data() -> JSONResponse:
        return JSONResponse({"answer": 42, "text": "héllo ✓", "items": list(range(50))})

    @app.get("/file")
    async def file() -> FileResponse:
        return FileResponse(download, filename="blob.bin")

    @app.get("/text-stream")
    async def text_stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for index in range(3):
                yield f"line {index}\n".encode()
                await anyio.sleep(0.3)

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.get("/sse")
    async def sse(
        key: str = "sse",
        tokens: int = 3,
        interval: float = 0.01,
        pause: float = 0.0,
        pause_after: int = 0,
    ) -> StreamingResponse:
        async def events() -> AsyncIterator[str]:
            gens.enter(key)
            try:
                for index in range(tokens):
                    if index == pause_after and pause:
                        await anyio.sleep(pause)
                    elif index:
                        await anyio.sleep(interval)
                    yield f"data: t{index}\n\n"
            finally:
                gens.leave(key)

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/split")
    async def split(gap: float = 0.5) -> StreamingResponse:
        # One event in three writes, with silences long enough for several heartbeats.
        async def parts() -> AsyncIterator[bytes]:
            await anyio.sleep(gap)
            for part in (b"data: par", b"t one\n", b"\n"):
                yield part
                await anyio.sleep(gap)
            yield b"data: two\n\n"

        return StreamingResponse(parts(), media_type="text/event-stream; charset=utf-8")

    @app.get("/failing")
    async def failing() -> StreamingResponse:
        async def events() -> AsyncIterator[str]:
            yield "data: before\n\n"
            raise RuntimeError("model backend exploded")

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/mid-event")
    async def mid_event() -> StreamingResponse:
        async def events() -> AsyncIterator[str]:
            gens.enter("mid")
            try:
                yield "data: whole\n\n"
                yield "data: half of an ev"
                await anyio.sleep(30)
                yield "ent\n\n"
            finally:
                gens.leave("mid")

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/big")
    async def big() -> StreamingResponse:
        async def events() -> AsyncIterator[bytes]:
            gens.enter("big")
            try:
                while True:
                    yield b"data: " + b"x" * 65536 + b"\n\n"
            finally:
                gens.leave("big")

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/bom")
    async def bom() -> StreamingResponse:
        async def events() -> AsyncIterator[bytes]:
            yield b"\xef\xbb\xbfdata: first\n\n"
            yield b"data: second\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/sse/skip")
    async def skipped() -> StreamingResponse:
        async def events() -> AsyncIterator[str]:
            yield "data: untouched\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def never_reads_receive(scope: Scope, receive: Receive, send: Send) -> None:
        """A raw ASGI app that writes, sleeps and writes, and never looks at `receive`."""
        query = dict(p.split("=") for p in scope["query_string"].decode().split("&") if p)
        key, pause = query.get("key", "raw"), float(query.get("pause", "30"))
        gens.enter(key)
        try:
            headers = [(b"content-type", b"text/event-stream")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            for index in range(3):
                await send(
                    {
                        "type": "http.response.body",
                        "body": b"data: r%d\n\n" % index,
                        "more_body": True,
                    }
                )
                await anyio.sleep(pause)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            gens.leave(key)

    async def body_after_start(scope: Scope, receive: Receive, send: Send) -> None:
        """Starts its event stream first and reads the request body afterwards."""
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        await send({"type": "http.response.body", "body": b"data: " + body + b"\n\n"})

    app.mount("/raw", never_reads_receive)
    app.mount("/echo", body_after_start)
    return app


class PolicySwitch:
    """Routes each request to the middleware instance named by its `x-policy` header."""

    def __init__(self, app: Any, gens: Generators) -> None:
        self.instances = {
            name: StreamGuardMiddleware(app, policy=policy, on_close=gens.on_close)
            for name, policy in POLICIES.items()
        }
        self.instances["shaped"] = StreamGuardMiddleware(
            app,
            policy=POLICIES["first"],
            on_close=gens.on_close,
            format_error=lambda outcome, message: [Event(f"{outcome}: {message}", event="oops")],
        )
        self.instances["select"] = StreamGuardMiddleware(
            app, policy=QUIET, on_close=gens.on_close, paths=["/sse"], exclude=["/sse/skip"]
        )
        self.instances["metrics"] = StreamGuardMiddleware(
            app, policy=QUIET, on_close=gens.on_close, metrics=True
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = dict(scope.get("headers", ())).get(b"x-policy", b"quiet").decode()
        await self.instances[name](scope, receive, send)


@pytest.fixture(scope="module")
def download(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("download") / "blob.bin"
    path.write_bytes(os.urandom(300_000))
    return path


@pytest.fixture(scope="module")
def servers(download: Path) -> Iterator[tuple[Generators, int, int]]:
    gens = Generators()
    app = build_app(gens, download)
    with ServerThread(app) as bare, ServerThread(PolicySwitch(app, gens)) as guarded:
        yield gens, bare.port, guarded.port


@pytest.fixture
def gens(servers: tuple[Generators, int, int]) -> Generators:
    recorder = servers[0]
    while not recorder.closed.empty():
        recorder.closed.get_nowait()
    return recorder


@pytest.fixture
def port(servers: tuple[Generators, int, int]) -> int:
    return servers[2]


def get(port: int, path: str, policy: str = "quiet", **headers: str) -> RawStream:
    return RawStream("127.0.0.1", port, path, headers={"x-policy": policy, **headers})


# -- everything else passes byte for byte -----------------------------------------------------


@pytest.mark.parametrize("path", ["/json", "/file", "/text-stream", "/missing"])
def test_other_responses_are_byte_identical_to_the_bare_app(
    servers: tuple[Generators, int, int], path: str
) -> None:
    _, bare, guarded = servers
    assert raw_exchange(guarded, path) == raw_exchange(bare, path)


def test_plain_text_stream_gets_no_heartbeat(port: int) -> None:
    response = get(port, "/text-stream", policy="beat").read_all()
    assert response.body == b"line 0\nline 1\nline 2\n"
    assert "x-accel-buffering" not in response.headers


# -- event streams --------------------------------------------------------------------------


def test_event_stream_gets_the_guard_headers_and_an_opening_comment(
    gens: Generators, port: int
) -> None:
    response = get(port, "/sse?tokens=3").read_all()
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache, no-transform"
    assert response.headers["x-accel-buffering"] == "no"
    assert "connection" not in response.headers
    assert "content-encoding" not in response.headers
    assert response.body == b": stream open\n\ndata: t0\n\ndata: t1\n\ndata: t2\n\n"
    stats = gens.next_stats()
    assert (stats.outcome, stats.events, stats.heartbeats) == (Outcome.COMPLETED, 3, 0)
    assert stats.ttft is not None


def test_a_leading_bom_survives_the_opening_comment(gens: Generators, port: int) -> None:
    # Clients drop a BOM only at the very start of a stream; after `: stream open` it would
    # turn the first field's name into "\ufeffdata" and lose the event.
    response = get(port, "/bom").read_all()
    assert [e.data for e in response.events()] == ["first", "second"]
    assert gens.next_stats().outcome is Outcome.COMPLETED


def test_a_body_read_after_the_stream_started_reaches_the_app(gens: Generators, port: int) -> None:
    # By then the middleware's watcher reads `receive`; it hands the body on.
    stream = RawStream(
        "127.0.0.1", port, "/echo/", method="POST", body=b"hello", headers={"x-policy": "quiet"}
    )
    response = stream.read_all()
    assert [e.data for e in response.events()] == ["hello"]
    assert gens.next_stats().outcome is Outcome.COMPLETED


def test_heartbeats_fill_silences_between_events(gens: Generators, port: int) -> None:
    response = get(port, "/sse?tokens=2&pause=0.8&pause_after=1", policy="beat").read_all()
    timed = response.timed_items()
    t0 = next(t for t, i in timed if isinstance(i, Event) and i.data == "t0")
    t1 = next(t for t, i in timed if isinstance(i, Event) and i.data == "t1")
    beats = [t for t, i in timed if isinstance(i, Comment) and i.text == "keepalive"]
    assert len([t for t in beats if t0 < t < t1]) >= 3
    assert [e.data for e in response.events()] == ["t0", "t1"]
    stats = gens.next_stats()
    assert stats.outcome is Outcome.COMPLETED and stats.heartbeats == len(beats)


def test_an_event_written_in_three_sends_gets_no_heartbeat_inside(
    gens: Generators, port: int
) -> None:
    response = get(port, "/split?gap=0.4", policy="beat").read_all()
    body = response.body
    # Heartbeats came in the silences around the event (each 0.4 s, beat every 0.1 s)...
    before, event, after = body.partition(b"data: part one\n\n")
    assert event, body
    assert before.count(b": keepalive\n\n") >= 2
    # ...and none between its three writes, which spanned 0.8 s: the event is contiguous.
    assert [e.data for e in response.events()] == ["part one", "two"]
    assert after.endswith(b"data: two\n\n")
    assert gens.next_stats().outcome is Outcome.COMPLETED


def test_client_leaving_cancels_the_generator_within_100ms(gens: Generators, port: int) -> None:
    stream = get(port, "/sse?key=leave&tokens=3&pause=30&pause_after=1")
    stream.read_until(lambda r: any(e.data == "t0" for e in r.events()))
    left_at = time.monotonic()
    stream.close()
    assert gens.wait_finished("leave") - left_at < 0.1
    assert gens.next_stats().outcome is Outcome.CLIENT_DISCONNECTED


def test_an_app_that_never_reads_receive_is_cancelled_too(
    servers: tuple[Generators, int, int],
) -> None:
    gens, bare, guarded = servers
    # Bare: nothing tells the app its client left; it sleeps on.
    stream = get(bare, "/raw/?key=bare&pause=1.0")
    stream.read_until(lambda r: r.events())
    stream.close()
    time.sleep(0.5)
    assert "bare" in gens.running
    gens.wait_finished("bare")
    # Guarded: cancelled where it sleeps, at once.
    stream = get(guarded, "/raw/?key=guarded&pause=30")
    stream.read_until(lambda r: r.events())
    left_at = time.monotonic()
    stream.close()
    assert gens.wait_finished("guarded") - left_at < 0.1
    assert gens.next_stats().outcome is Outcome.CLIENT_DISCONNECTED


def test_100_random_disconnects_leave_no_generator_running(gens: Generators, port: int) -> None:
    rng = random.Random(18)
    plans = [(f"r{i}", rng.choice([0, 1, 2, 5]), rng.uniform(0, 0.2)) for i in range(100)]

    def leave(key: str, events: int, linger: float) -> None:
        stream = get(port, f"/sse?key={key}&tokens=1000&interval=0.01&pause=0.05&pause_after=0")
        stream.read_until(lambda r: len(r.events()) >= events)
        time.sleep(linger)
        stream.close()

    for batch in range(0, 100, 20):
        threads = [threading.Thread(target=leave, args=p) for p in plans[batch : batch + 20]]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    assert gens.wait_idle(5.0) == set()
    assert all(key in gens.finished for key, _, _ in plans)
    outcomes = [gens.next_stats().outcome for _ in plans]
    assert outcomes == [Outcome.CLIENT_DISCONNECTED] * 100


def test_a_client_that_stops_reading_is_dropped_after_send_timeout(
    gens: Generators, port: int
) -> None:
    # It never reads, with a tiny receive buffer: the app's write blocks on the socket.
    stuck = RawStream(
        "127.0.0.1", port, "/big", headers={"x-policy": "stuck"}, rcvbuf=4096, timeout=10
    )
    try:
        assert gens.next_stats(timeout=8).outcome is Outcome.SEND_TIMEOUT
        # The app stopped while its write was blocked, so its generator is suspended at a
        # `yield` that Starlette's StreamingResponse never closes: it is garbage, and its
        # `finally` runs when collected (the server runs in this process).
        gc.collect()
        gens.wait_finished("big")
    finally:
        stuck.close()


# -- deadlines --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "path", "outcome"),
    [
        ("first", "/sse?key=d1&tokens=2&pause=5", Outcome.FIRST_TOKEN_TIMEOUT),
        ("idle", "/sse?key=d2&tokens=3&pause=5&pause_after=1", Outcome.IDLE_TIMEOUT),
        ("total", "/sse?key=d3&tokens=1000&interval=0.05", Outcome.MAX_DURATION),
    ],
)
def test_deadlines_end_with_an_error_event(
    gens: Generators, port: int, policy: str, path: str, outcome: Outcome
) -> None:
    started = time.monotonic()
    response = get(port, path, policy=policy).read_all()
    assert time.monotonic() - started < 3.0
    last = response.events()[-1]
    assert last.event == "error"
    assert json.loads(last.data)["error"]["type"] == outcome.value
    assert gens.next_stats().outcome is outcome
    assert gens.wait_idle() == set()


def test_steady_whole_events_keep_the_idle_deadline_and_heartbeats_away(
    gens: Generators, port: int
) -> None:
    """Whole events take `send`'s shortcut: the timer must still see each of them as
    content and as a write (a tenth of the idle timeout and heartbeat apart here)."""
    response = get(port, "/sse?key=steady&tokens=30&interval=0.1", policy="steady").read_all()
    assert [e.data for e in response.events()] == [f"t{i}" for i in range(30)]
    assert [i for _, i in response.timed_items() if isinstance(i, Comment)] == [
        Comment("stream open")
    ]
    stats = gens.next_stats()
    assert stats.outcome is Outcome.COMPLETED and stats.heartbeats == 0
    assert stats.events == 30


def test_idle_deadline_counts_from_the_last_shortcut_write_never_earlier(
    gens: Generators, port: int
) -> None:
    """The shortcut reads no clock: the timer samples its count. Eleven events 0.05 s apart
    outlast the 0.3 s idle timeout, so a timer blind to them would cut the stream; after
    the last one, the deadline comes late by at most a sample period, never early."""
    response = get(
        port, "/sse?key=flow&tokens=12&interval=0.05&pause=5&pause_after=11", policy="idle"
    ).read_all()
    events = [(t, i) for t, i in response.timed_items() if isinstance(i, Event)]
    assert [i.data for _, i in events[:-1]] == [f"t{i}" for i in range(11)]
    assert events[-1][1].event == "error"
    assert json.loads(events[-1][1].data)["error"]["type"] == "idle_timeout"
    assert events[-1][0] - events[-2][0] >= 0.3
    stats = gens.next_stats()
    assert stats.outcome is Outcome.IDLE_TIMEOUT and stats.events == 11


def test_error_event_shape_is_configurable(gens: Generators, port: int) -> None:
    response = get(port, "/sse?tokens=2&pause=5", policy="shaped").read_all()
    last = response.events()[-1]
    assert last.event == "oops"
    assert last.data.startswith("first_token_timeout: ")
    assert gens.next_stats().outcome is Outcome.FIRST_TOKEN_TIMEOUT


def test_a_deadline_inside_an_event_writes_no_error_event(gens: Generators, port: int) -> None:
    response = get(port, "/mid-event", policy="idle").read_all()
    assert response.body == b": stream open\n\ndata: whole\n\ndata: half of an ev"
    assert [e.data for e in response.events()] == ["whole"]
    assert gens.next_stats().outcome is Outcome.IDLE_TIMEOUT
    assert gens.wait_idle() == set()


def test_app_error_becomes_an_error_event(gens: Generators, port: int) -> None:
    response = get(port, "/failing").read_all()
    events = response.events()
    assert events[0].data == "before"
    assert events[-1].event == "error"
    assert "exploded" in json.loads(events[-1].data)["error"]["message"]
    stats = gens.next_stats()
    assert stats.outcome is Outcome.UPSTREAM_ERROR
    assert stats.error is not None and "exploded" in stats.error


# -- selection and metrics ---------------------------------------------------------------------


def test_paths_and_exclude_select_the_guarded_routes(gens: Generators, port: int) -> None:
    guarded = get(port, "/sse?tokens=1", policy="select").read_all()
    assert guarded.headers.get("x-accel-buffering") == "no"
    skipped = get(port, "/sse/skip", policy="select").read_all()
    assert "x-accel-buffering" not in skipped.headers
    assert skipped.body == b"data: untouched\n\n"
    assert gens.next_stats().outcome is Outcome.COMPLETED
    assert gens.closed.empty()  # the excluded stream had no outcome of ours


def test_opt_out_header_leaves_the_stream_alone(gens: Generators, port: int) -> None:
    response = get(port, "/sse?tokens=2", **{"X-StreamWarden-Guard": "off"}).read_all()
    assert "x-accel-buffering" not in response.headers
    assert response.body == b"data: t0\n\ndata: t1\n\n"
    assert gens.closed.empty()


def test_metrics_count_outcomes_when_enabled(gens: Generators, port: int) -> None:
    get(port, "/sse?tokens=2", policy="metrics").read_all()
    gens.next_stats()
    text = get(port, "/metrics", policy="metrics").read_all().body.decode()
    assert 'streamwarden_streams_total{outcome="completed"} 1.0' in text
    assert "streamwarden_active_streams 0.0" in text
    assert "streamwarden_tokens_total 2.0" in text
    # Without metrics, /metrics is the app's (a 404 here).
    assert get(port, "/metrics").read_all().status == 404


def test_bad_paths_are_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="must start with '/'"):
        StreamGuardMiddleware(FastAPI(), paths=["v1/chat"])
