"""sse-starlette's `EventSourceResponse` (its own ping and disconnect watcher) on FastAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from shared import chunks, params_from_body
from sse_starlette.sse import EventSourceResponse

app = FastAPI()


@app.post("/v1/chat/completions")
async def chat(request: Request) -> EventSourceResponse:
    params = params_from_body(await request.body())

    async def events() -> AsyncIterator[dict[str, str]]:
        async for data in chunks(params):
            yield {"data": data}

    return EventSourceResponse(events())
