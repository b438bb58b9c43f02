"""The passthrough a user would write by hand: FastAPI, one shared httpx client with its
default limits, the upstream's raw bytes handed to `StreamingResponse`. No guard: no
heartbeats, deadlines, admission or disconnect handling beyond what Starlette does.

    UPSTREAM_URL=http://127.0.0.1:9000 uvicorn naive_passthrough:app
"""

from __future__ import annotations

import os

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

UPSTREAM = os.environ.get("UPSTREAM_URL", "http://127.0.0.1:9000").rstrip("/")
client = httpx.AsyncClient(timeout=httpx.Timeout(30.0, read=None))
app = FastAPI()


@app.post("/v1/chat/completions")
async def chat(request: Request) -> StreamingResponse:
    upstream = client.build_request(
        "POST",
        UPSTREAM + "/v1/chat/completions",
        content=await request.body(),
        headers={"content-type": "application/json", "accept": "text/event-stream"},
    )
    response = await client.send(upstream, stream=True)
    return StreamingResponse(
        response.aiter_raw(),
        status_code=response.status_code,
        media_type="text/event-stream",
        background=BackgroundTask(response.aclose),
    )
