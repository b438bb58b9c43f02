"""The same middleware around each ASGI framework's own streaming response, under uvicorn.

Each app streams `t0`, stays silent for `pause` seconds, then streams `t1`; its generator
reports where it runs and when its `finally` ran. The middleware is added the way each
framework adds ASGI middleware.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from mwutil import Generators

from rawclient import RawStream
from streamwarden import Comment, Event, Outcome, StreamGuardMiddleware, StreamPolicy
from streamwarden.procs import ServerThread

POLICY = StreamPolicy(heartbeat=0.1, idle_timeout=0.6)


def _events(gens: Generators, key: str, pause: float) -> AsyncIterator[bytes]:
    async def events() -> AsyncIterator[bytes]:
        gens.enter(key)
        try:
            yield b"data: t0\n\n"
            await anyio.sleep(pause)
            yield b"data: t1\n\n"
        finally:
            gens.leave(key)

    return events()


def fastapi_app(gens: Generators) -> Any:
    app = FastAPI()

    @app.get("/stream")
    async def stream(key: str = "x", pause: float = 0.0) -> StreamingResponse:
        return StreamingResponse(_events(gens, key, pause), media_type="text/event-stream")

    app.add_middleware(StreamGuardMiddleware, policy=POLICY, on_close=gens.on_close)
    return app


def sse_starlette_app(gens: Generators) -> Any:
    from sse_starlette import EventSourceResponse

    app = FastAPI()

    @app.get("/stream")
    async def stream(key: str = "x", pause: float = 0.0, ping: float = 15) -> Any:
        async def events() -> AsyncIterator[dict[str, str]]:
            gens.enter(key)
            try:
                yield {"data": "t0"}
                await anyio.sleep(pause)
                yield {"data": "t1"}
            finally:
                gens.leave(key)

        return EventSourceResponse(events(), ping=ping)

    app.add_middleware(StreamGuardMiddleware, policy=POLICY, on_close=gens.on_close)
    return app


def django_app(gens: Generators) -> Any:
    import mw_django_app
    from django.core.asgi import get_asgi_application

    mw_django_app.hooks["gens"] = gens
    return StreamGuardMiddleware(get_asgi_application(), policy=POLICY, on_close=gens.on_close)


def litestar_app(gens: Generators) -> Any:
    from litestar import Litestar, Request, get
    from litestar.middleware import DefineMiddleware
    from litestar.response import ServerSentEvent

    # Litestar reads the annotations at runtime: this module's are strings.
    names = {"ServerSentEvent": ServerSentEvent, "Request": Request}

    @get("/stream", signature_namespace=names)
    async def stream(request: Request[Any, Any, Any]) -> ServerSentEvent:
        key = request.query_params.get("key", "x")
        pause = float(request.query_params.get("pause", "0"))

        async def events() -> AsyncIterator[str]:
            gens.enter(key)
            try:
                yield "t0"
                await anyio.sleep(pause)
                yield "t1"
            finally:
                gens.leave(key)

        return ServerSentEvent(events())

    # Each framework spells the ASGI types its own way; the callables are the same.
    guard = DefineMiddleware(
        StreamGuardMiddleware,  # type: ignore[arg-type]
        policy=POLICY,
        on_close=gens.on_close,
    )
    return Litestar(route_handlers=[stream], middleware=[guard])


def quart_app(gens: Generators) -> Any:
    from quart import Quart, request

    app = Quart(__name__)

    @app.get("/stream")
    async def stream() -> Any:
        key = request.args.get("key", "x")
        pause = float(request.args.get("pause", "0"))
        return _events(gens, key, pause), 200, {"Content-Type": "text/event-stream"}

    # Quart spells the ASGI types its own way; the callables are the same.
    app.asgi_app = StreamGuardMiddleware(  # type: ignore[method-assign,assignment]
        app.asgi_app,  # type: ignore[arg-type]
        policy=POLICY,
        on_close=gens.on_close,
    )
    return app


FRAMEWORKS: dict[str, Callable[[Generators], Any]] = {
    "fastapi": fastapi_app,
    "sse-starlette": sse_starlette_app,
    "django": django_app,
    "litestar": litestar_app,
    "quart": quart_app,
}


@pytest.fixture(scope="module", params=list(FRAMEWORKS))
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, Generators, int]]:
    gens = Generators()
    with ServerThread(FRAMEWORKS[request.param](gens)) as server:
        yield request.param, gens, server.port


def get(port: int, path: str) -> RawStream:
    return RawStream("127.0.0.1", port, path)


def test_heartbeats_fill_the_silence_and_the_events_pass_intact(
    served: tuple[str, Generators, int],
) -> None:
    name, gens, port = served
    response = get(port, f"/stream?key={name}-beat&pause=0.4").read_all()
    assert response.status == 200
    assert response.headers["x-accel-buffering"] == "no"
    assert "connection" not in response.headers
    assert [e.data for e in response.events()] == ["t0", "t1"]
    timed = response.timed_items()
    t0 = next(t for t, i in timed if isinstance(i, Event) and i.data == "t0")
    t1 = next(t for t, i in timed if isinstance(i, Event) and i.data == "t1")
    beats = [t for t, i in timed if isinstance(i, Comment) and i.text == "keepalive"]
    assert len([t for t in beats if t0 < t < t1]) >= 2, (name, response.body)
    stats = gens.next_stats()
    assert stats.outcome is Outcome.COMPLETED and stats.events == 2


def test_client_leaving_runs_the_generators_finally_within_100ms(
    served: tuple[str, Generators, int],
) -> None:
    name, gens, port = served
    key = f"{name}-leave"
    stream = get(port, f"/stream?key={key}&pause=30")
    stream.read_until(lambda r: r.events())
    left_at = time.monotonic()
    stream.close()
    assert gens.wait_finished(key) - left_at < 0.1, name
    assert gens.next_stats().outcome is Outcome.CLIENT_DISCONNECTED


def test_idle_deadline_ends_with_an_error_event(served: tuple[str, Generators, int]) -> None:
    name, gens, port = served
    key = f"{name}-idle"
    started = time.monotonic()
    response = get(port, f"/stream?key={key}&pause=30").read_all()
    assert time.monotonic() - started < 3.0
    events = response.events()
    assert [e.data for e in events[:-1]] == ["t0"]
    assert events[-1].event == "error", (name, response.body)
    assert json.loads(events[-1].data)["error"]["type"] == "idle_timeout"
    assert gens.next_stats().outcome is Outcome.IDLE_TIMEOUT
    assert key in gens.finished or gens.wait_finished(key)


def test_sse_starlette_pings_are_respected() -> None:
    """An app pinging at the middleware's own interval gets no second heartbeat."""
    gens = Generators()
    with ServerThread(sse_starlette_app(gens)) as server:
        response = get(server.port, "/stream?key=pings&pause=0.5&ping=0.1").read_all()
    assert [e.data for e in response.events()] == ["t0", "t1"]
    comments = [(t, i.text) for t, i in response.timed_items() if isinstance(i, Comment)]
    pings = [t for t, text in comments if text.startswith("ping")]
    assert len(pings) >= 3
    assert [text for _, text in comments if text == "keepalive"] == []
    stats = gens.next_stats()
    assert stats.outcome is Outcome.COMPLETED and stats.heartbeats == 0
