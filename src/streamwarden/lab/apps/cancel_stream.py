"""The no-cancel scenario's app: one simulated model, streamed two ways, side by side.

The model runs as a task that feeds a queue, as LangChain callback handlers and inference
engine clients do, and counts every token it generates after its client disconnected.

- `/naive/v1/chat/completions`: a generator reads the queue into a Starlette
  `StreamingResponse`. Nothing ever tells the model that the client left, because
  `StreamingResponse` never `aclose()`s its iterator; the model generates (and bills) to the end.
- `/finally/v1/chat/completions`: the same `StreamingResponse`, with the model stopped in the
  generator's `finally`. Under uvicorn (ASGI 2.3) Starlette cancels the iterating task on
  disconnect, so this `finally` runs when the generator is waiting for a token; Starlette
  still never `aclose()`s it, so that is luck of where it is suspended, not a contract.
- `/guarded/v1/chat/completions`: the same task and queue through the guard. The source stops
  the model in `finally`, which the guard runs within 100 ms of a disconnect, always.
- `GET /stats`: per route, streams, disconnects, tokens generated, and tokens generated
  more than `GRACE` seconds after the disconnect.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qsl

from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse

from streamwarden import Event, StreamPolicy, stream_response
from streamwarden.lab.apps.common import (
    DONE,
    GRACE,
    DisconnectWatch,
    Pace,
    Tally,
    chunk,
    sse,
)

Scope = dict[str, Any]

POLICY = StreamPolicy(heartbeat=0.5, first_token_timeout=10.0, idle_timeout=10.0, max_duration=60.0)


async def _model(pace: Pace, queue: asyncio.Queue[str | None], watch: DisconnectWatch) -> None:
    try:
        await asyncio.sleep(pace.ttft)
        for index in range(pace.tokens):
            if index:
                await asyncio.sleep(pace.interval)
            watch.generated()
            queue.put_nowait(chunk(index))
        queue.put_nowait(None)
    finally:
        watch.generating = False


class CancelLab:
    def __init__(self) -> None:
        self.tallies = {"naive": Tally(), "finally": Tally(), "guarded": Tally()}
        self._tasks: set[asyncio.Task[None]] = set()  # strong refs, or the loop may drop them

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path == "/stats":
            body = {name: asdict(t) for name, t in self.tallies.items()}
            await JSONResponse(body)(scope, receive, send)
            return
        route = path.split("/")[1]
        if route not in self.tallies or not path.endswith("/v1/chat/completions"):
            await PlainTextResponse("not found", status_code=404)(scope, receive, send)
            return
        await self._stream(route, scope, receive, send)

    async def _stream(self, route: str, scope: Scope, receive: Any, send: Any) -> None:
        tally = self.tallies[route]
        tally.streams += 1
        watch = DisconnectWatch(tally)
        watched_receive = watch.receive(receive)

        more = True
        while more:  # the request body (ignored)
            message = await watched_receive()
            more = message.get("more_body", False) and message["type"] == "http.request"
        query = dict(parse_qsl(scope.get("query_string", b"").decode()))
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        task = asyncio.create_task(_model(Pace.from_query(query), queue, watch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

        if route == "naive":

            async def naive() -> AsyncIterator[bytes]:
                while (item := await queue.get()) is not None:
                    yield sse(item)
                yield sse(DONE)

            response: Any = StreamingResponse(naive(), media_type="text/event-stream")
        elif route == "finally":

            async def with_finally() -> AsyncIterator[bytes]:
                try:
                    while (item := await queue.get()) is not None:
                        yield sse(item)
                    yield sse(DONE)
                finally:
                    task.cancel()

            response = StreamingResponse(with_finally(), media_type="text/event-stream")
        else:

            async def guarded() -> AsyncIterator[str | Event]:
                try:
                    while (item := await queue.get()) is not None:
                        yield item
                    yield Event(DONE)
                finally:
                    task.cancel()  # the model stops the moment the client is gone

            response = stream_response(None, guarded(), policy=POLICY)
        await response(scope, watched_receive, send)


app = CancelLab()

__all__ = ["GRACE", "CancelLab", "Tally", "app"]
