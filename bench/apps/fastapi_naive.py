"""The naive FastAPI way: `StreamingResponse` over an async generator of SSE strings."""

from __future__ import annotations

from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from shared import chunks, params_from_body

app = FastAPI()


@app.post("/v1/chat/completions")
async def chat(request: Request) -> StreamingResponse:
    params = params_from_body(await request.body())

    async def sse() -> AsyncIterator[str]:
        async for data in chunks(params):
            yield f"data: {data}\n\n"

    return StreamingResponse(sse(), media_type="text/event-stream")
