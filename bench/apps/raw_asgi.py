"""The floor: a bare ASGI app, one `send` per SSE event, no framework, no guard."""

from __future__ import annotations

from typing import Any

from shared import chunks, params_from_body

_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache"),
]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    params = params_from_body(body)
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    async for data in chunks(params):
        await send(
            {
                "type": "http.response.body",
                "body": b"data: " + data.encode() + b"\n\n",
                "more_body": True,
            }
        )
    await send({"type": "http.response.body", "body": b"", "more_body": False})
