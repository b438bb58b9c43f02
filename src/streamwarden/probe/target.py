"""A small SSE target for demos, tests and benchmarks: `python -m streamwarden.probe.target`.

Query parameters shape each stream, so one server plays every scenario:
`n` (events), `interval` (s between events), `ttft` (s before the first), `pause_after` and
`pause` (a silent gap after event k), `fmt` (openai | anthropic | sse | raw), `pad` (extra
bytes per event), `short` (every other request sends only this many events), `block_after` and
`block` (a `time.sleep` on the event loop, to show a blocked loop), `status`, `terminator`
(0 leaves it out). It never sends `X-Accel-Buffering`, so a default nginx buffers it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from typing import Any

from aiohttp import web

from streamwarden.lab.procs import free_port

__all__ = ["SSEServer", "main"]


def _chunk(fmt: str, i: int, pad: int) -> bytes:
    text = f"t{i}" + "x" * pad
    if fmt == "anthropic":
        body = {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": text},
        }
        return f"event: content_block_delta\ndata: {json.dumps(body)}\n\n".encode()
    if fmt == "raw":
        return text.encode()
    if fmt == "sse":
        return f"data: {text}\n\n".encode()
    body = {"choices": [{"index": 0, "delta": {"content": text}}]}
    return f"data: {json.dumps(body)}\n\n".encode()


def _terminator(fmt: str) -> bytes:
    if fmt == "anthropic":
        return b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    if fmt == "openai":
        return b"data: [DONE]\n\n"
    return b""


class SSEServer:
    """An aiohttp SSE server on loopback, in a thread (a context manager). aiohttp answers an
    HTTP/1.0 request (nginx's default upstream protocol) with a close-delimited body, as a
    real server does; uvicorn answers it chunked, which lets nginx pass chunks through.
    """

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.count = 0
        self.host = host
        self.port = port or free_port(host)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        q = request.query
        self.count += 1
        nth = self.count
        fmt = q.get("fmt", "openai")
        n = int(q.get("n", "20"))
        if "short" in q and nth % 2 == 0:
            n = int(q["short"])
        status = int(q.get("status", "200"))
        if status >= 400:
            return web.json_response({"error": "nope"}, status=status)
        ctype = "text/plain" if fmt == "raw" else "text/event-stream"
        resp = web.StreamResponse(headers={"Content-Type": ctype, "Cache-Control": "no-cache"})
        await resp.prepare(request)
        try:
            await self._stream(resp, q, n, fmt)
        except ConnectionResetError:
            pass  # The client or a proxy in front went away: that is what some tests do.
        return resp

    async def _stream(self, resp: web.StreamResponse, q: Any, n: int, fmt: str) -> None:
        interval = float(q.get("interval", "0.02"))
        pause_after = int(q.get("pause_after", "-1"))
        pause = float(q.get("pause", "0"))
        block_after = int(q.get("block_after", "-1"))
        block = float(q.get("block", "0"))
        pad = int(q.get("pad", "0"))
        await asyncio.sleep(float(q.get("ttft", "0")))
        for i in range(n):
            if i:
                await asyncio.sleep(interval)
            await resp.write(_chunk(fmt, i, pad))
            if i == pause_after:
                await asyncio.sleep(pause)
            if i == block_after:
                time.sleep(block)  # noqa: ASYNC251 - deliberately blocks the event loop
        if q.get("terminator", "1") == "1":
            await resp.write(_terminator(fmt))
        await resp.write_eof()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    def __enter__(self) -> SSEServer:
        self.runner = web.AppRunner(self.app(), access_log=None)
        self.thread.start()

        async def start(runner: web.AppRunner) -> None:
            await runner.setup()
            await web.TCPSite(runner, self.host, self.port, backlog=4096).start()

        asyncio.run_coroutine_threadsafe(start(self.runner), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.runner is not None
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SSE target for streamwarden probe demos")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    server = SSEServer(args.host, args.port)
    web.run_app(server.app(), host=args.host, port=args.port, access_log=None, backlog=4096)


if __name__ == "__main__":
    main()
