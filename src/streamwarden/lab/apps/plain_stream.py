"""A plain Starlette `StreamingResponse` endpoint with none of the streaming fixes.

It sends no `X-Accel-Buffering` header (so nginx buffers it by default), and with
`?block_every=K&block=S` it calls `time.sleep(S)` after every K tokens inside the async
generator: the blocking call that stalls the event loop, and every stream on it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from streamwarden.lab.apps.common import DONE, Pace, chunk, sse


async def chat(request: Request) -> StreamingResponse:
    await request.body()
    pace = Pace.from_query(request.query_params)
    block_every = int(request.query_params.get("block_every", 0))
    block = float(request.query_params.get("block", 0))

    async def generate() -> AsyncIterator[bytes]:
        await asyncio.sleep(pace.ttft)
        for index in range(pace.tokens):
            if index:
                await asyncio.sleep(pace.interval)
            if block_every and index and index % block_every == 0:
                time.sleep(block)  # noqa: ASYNC251 (the bug: a sync call in async code)
            yield sse(chunk(index))
        yield sse(DONE)

    return StreamingResponse(generate(), media_type="text/event-stream")


app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
