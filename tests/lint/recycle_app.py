"""A 24-event stream (one event every 0.25 s, 6 s in all) as WSGI and ASGI apps, for gunicorn's
worker recycling (tests/lint/test_gunicorn_recycling.py)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

EVENTS = 24
GAP = 0.25


def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
    start_response("200 OK", [("Content-Type", "text/event-stream")])
    for i in range(EVENTS):
        yield f"data: event {i}\n\n".encode()
        time.sleep(GAP)


async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    headers = [(b"content-type", b"text/event-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for i in range(EVENTS):
        body = f"data: event {i}\n\n".encode()
        await send({"type": "http.response.body", "body": body, "more_body": True})
        await asyncio.sleep(GAP)
    await send({"type": "http.response.body", "body": b""})
