"""A tiny real SSE server for the snippet tests: one event every 100 ms, and, like most apps,
no `X-Accel-Buffering` header. Run as `python sse_app.py PORT COUNT`.

It runs uvicorn's h11 protocol on purpose: h11 answers nginx's default HTTP/1.0 request with a
close-delimited body, as HTTP/1.0 requires (httptools answers with chunked encoding anyway),
which is the case where nginx's default buffering holds events back.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import uvicorn

COUNT = 10


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await _stream(send, scope, accel=False)


async def accel_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The same stream from an app that sends `X-Accel-Buffering: no` (as sse-starlette does)."""
    await _stream(send, scope, accel=True)


async def _stream(send: Any, scope: dict[str, Any], accel: bool) -> None:
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
    if accel:
        headers.append((b"x-accel-buffering", b"no"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for i in range(COUNT):
        body = f"data: event {i}\n\n".encode()
        await send({"type": "http.response.body", "body": body, "more_body": True})
        await asyncio.sleep(0.1)
    await send({"type": "http.response.body", "body": b"", "more_body": False})


if __name__ == "__main__":
    COUNT = int(sys.argv[2]) if len(sys.argv) > 2 else COUNT
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        lifespan="off",
        http="h11",
    )
