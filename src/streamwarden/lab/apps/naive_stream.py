"""A streaming endpoint as tutorials write it, and the same app hardened by one line.

`naive_app` is a Starlette `StreamingResponse` over a generator that runs the model: no
heartbeat, no anti-buffering header, no deadline. `app` is the very same app after
`app.add_middleware(StreamGuardMiddleware, policy=POLICY)`, and nothing else.

The model pauses silently after `pause_after` tokens for `pause` seconds (a reasoning model
thinking), and counts every token it generates more than `GRACE` seconds after its client
disconnected; `GET /stats` returns the counts.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from streamwarden import StreamGuardMiddleware, StreamPolicy
from streamwarden.lab.apps.common import DONE, Pace, chunk, sse

#: The guard's contract: the app's handling is cancelled within 100 ms of a disconnect.
GRACE = 0.1
POLICY = StreamPolicy(heartbeat=0.5, first_token_timeout=10.0, idle_timeout=10.0, max_duration=60.0)
_WATCH = "streamwarden.lab.watch"


@dataclass(slots=True)
class Tally:
    streams: int = 0
    disconnects: int = 0
    generated: int = 0
    after_disconnect: int = 0


class _Watch:
    """When this request's client went away, as seen on the ASGI `receive` channel."""

    __slots__ = ("disconnected_at", "generating")

    def __init__(self) -> None:
        self.disconnected_at: float | None = None
        self.generating = True


def build(tally: Tally) -> Starlette:
    async def chat(request: Request) -> StreamingResponse:
        await request.body()
        pace = Pace.from_query(request.query_params)
        pause_after = int(request.query_params.get("pause_after", -1))
        pause = float(request.query_params.get("pause", 0))
        watch: _Watch = request.scope[_WATCH]
        tally.streams += 1

        async def generate() -> AsyncIterator[bytes]:
            try:
                await asyncio.sleep(pace.ttft)
                for index in range(pace.tokens):
                    if index == pause_after:
                        await asyncio.sleep(pause)
                    elif index:
                        await asyncio.sleep(pace.interval)
                    tally.generated += 1
                    gone = watch.disconnected_at
                    if gone is not None and time.monotonic() - gone > GRACE:
                        tally.after_disconnect += 1
                    yield sse(chunk(index))
                yield sse(DONE)
            finally:
                watch.generating = False

        return StreamingResponse(generate(), media_type="text/event-stream")

    async def stats(request: Request) -> JSONResponse:
        return JSONResponse(asdict(tally))

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/stats", stats),
        ]
    )


class Counted:
    """The lab's instrument, outside everything: notes each request's disconnect."""

    def __init__(self, app: Any, tally: Tally) -> None:
        self.app = app
        self.tally = tally

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        watch = scope[_WATCH] = _Watch()

        async def watched_receive() -> dict[str, Any]:
            message: dict[str, Any] = await receive()
            gone = message["type"] == "http.disconnect"
            if gone and watch.generating and watch.disconnected_at is None:
                watch.disconnected_at = time.monotonic()
                self.tally.disconnects += 1
            return message

        await self.app(scope, watched_receive, send)


naive_tally = Tally()
naive_app = Counted(build(naive_tally), naive_tally)

hardened_tally = Tally()
hardened = build(hardened_tally)
hardened.add_middleware(StreamGuardMiddleware, policy=POLICY)  # the one line
app = Counted(hardened, hardened_tally)

__all__ = ["GRACE", "POLICY", "Tally", "app", "build", "naive_app"]
