"""The same stream as `flask_stream`, on the guard under uvicorn: one event loop holds
every stream, so concurrency is bounded by memory and CPU, not by a worker count."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from streamwarden import Event, StreamPolicy, stream_response
from streamwarden.lab.apps.common import DONE, Pace, chunk

POLICY = StreamPolicy(heartbeat=0.5, first_token_timeout=10.0, idle_timeout=10.0, max_duration=60.0)


async def chat(request: Request) -> Response:
    await request.body()
    pace = Pace.from_query(request.query_params)

    async def generate() -> AsyncIterator[str | Event]:
        await anyio.sleep(pace.ttft)
        for index in range(pace.tokens):
            if index:
                await anyio.sleep(pace.interval)
            yield chunk(index)
        yield Event(DONE)

    return stream_response(request, generate(), policy=POLICY)


app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
