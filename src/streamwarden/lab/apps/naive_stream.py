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
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from streamwarden import StreamGuardMiddleware, StreamPolicy
from streamwarden.lab.apps.common import (
    DONE,
    GRACE,
    DisconnectWatch,
    Pace,
    Tally,
    chunk,
    sse,
)

POLICY = StreamPolicy(heartbeat=0.5, first_token_timeout=10.0, idle_timeout=10.0, max_duration=60.0)
_WATCH = "streamwarden.lab.watch"


def build(tally: Tally) -> Starlette:
    async def chat(request: Request) -> StreamingResponse:
        await request.body()
        pace = Pace.from_query(request.query_params)
        pause_after = int(request.query_params.get("pause_after", -1))
        pause = float(request.query_params.get("pause", 0))
        watch: DisconnectWatch = request.scope[_WATCH]
        tally.streams += 1

        async def generate() -> AsyncIterator[bytes]:
            try:
                await asyncio.sleep(pace.ttft)
                for index in range(pace.tokens):
                    if index == pause_after:
                        await asyncio.sleep(pause)
                    elif index:
                        await asyncio.sleep(pace.interval)
                    watch.generated()
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
        watch = scope[_WATCH] = DisconnectWatch(self.tally)
        await self.app(scope, watch.receive(receive), send)


naive_tally = Tally()
naive_app = Counted(build(naive_tally), naive_tally)

hardened_tally = Tally()
hardened = build(hardened_tally)
hardened.add_middleware(StreamGuardMiddleware, policy=POLICY)  # the one line
app = Counted(hardened, hardened_tally)

__all__ = ["GRACE", "POLICY", "Tally", "app", "build", "naive_app"]
