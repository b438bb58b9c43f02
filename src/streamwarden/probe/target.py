"""A small SSE target for demos, tests and benchmarks: `python -m streamwarden.probe.target`.

Query parameters shape each stream, so one server plays every scenario:
`n` (events), `interval` (s between events), `ttft` (s before the first), `pause_after` and
`pause` (a silent gap after event k), `fmt` (openai | anthropic | sse | raw), `pad` (extra
bytes per event), `short` (every other request sends only this many events), `block_after` and
`block` (a `time.sleep` on the event loop, to show a blocked loop), `status`, `terminator`
(0 leaves it out). It never sends `X-Accel-Buffering`, so a default nginx buffers it.

The text is the simulated model's words, framed by the gateway's own encoders. The server is
plain asyncio: it answers HTTP/1.1 chunked and HTTP/1.0 (nginx's default upstream protocol)
with a body delimited by closing the connection, as real servers do, which is what makes a
default nginx buffer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

from streamwarden.protocols import anthropic, openai
from streamwarden.sse import encode
from streamwarden.upstreams.sim import word

__all__ = ["SSEServer", "main"]

_MAX_HEAD = 65536


def _event(fmt: str, index: int, pad: int) -> bytes:
    text = word(index) + "x" * pad
    if fmt == "anthropic":
        delta = {"index": 0, "delta": {"type": "text_delta", "text": text}}
        return encode(anthropic.event("content_block_delta", delta))
    if fmt == "raw":
        return text.encode()
    if fmt == "sse":
        return encode(text)
    return encode(openai.chunk_json("chatcmpl-demo", 0, "demo", {"content": text}, None))


def _terminator(fmt: str) -> bytes:
    if fmt == "anthropic":
        return encode(anthropic.event("message_stop", {}))
    if fmt == "openai":
        return encode(openai.DONE)
    return b""


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class _Response:
    """Writes one response body: chunked for HTTP/1.1, close-delimited for HTTP/1.0."""

    def __init__(self, writer: asyncio.StreamWriter, chunked: bool) -> None:
        self.writer = writer
        self.chunked = chunked

    async def head(self, status: int, content_type: str, body: bytes | None = None) -> None:
        lines = [f"HTTP/1.1 {status} {'OK' if status < 400 else 'Error'}"]
        lines += [f"Content-Type: {content_type}", "Cache-Control: no-cache", "Connection: close"]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        elif self.chunked:
            lines.append("Transfer-Encoding: chunked")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        await self.writer.drain()

    async def write(self, data: bytes) -> None:
        if not data:
            return
        self.writer.write(b"%x\r\n%s\r\n" % (len(data), data) if self.chunked else data)
        await self.writer.drain()

    async def end(self) -> None:
        if self.chunked:
            self.writer.write(b"0\r\n\r\n")
            await self.writer.drain()


class SSEServer:
    """The target on loopback, in a thread of its own (a context manager)."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.count = 0
        self.host = host
        self.port = port or _free_port(host)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > _MAX_HEAD:
                return
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            _, target, version = request_line.split(" ", 2)
            length = _content_length(head)
            if length:
                await reader.readexactly(length)  # the body is not used, only drained
            query = dict(parse_qsl(urlsplit(target).query))
            response = _Response(writer, chunked=version.strip() != "HTTP/1.0")
            await self._respond(response, query)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # The client or a proxy in front went away: that is what some tests do.
        except ValueError:
            writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        finally:
            with contextlib.suppress(ConnectionError):
                writer.close()

    async def _respond(self, response: _Response, query: Mapping[str, str]) -> None:
        self.count += 1
        fmt = query.get("fmt", "openai")
        n = int(query.get("n", "20"))
        if "short" in query and self.count % 2 == 0:
            n = int(query["short"])
        status = int(query.get("status", "200"))
        if status >= 400:
            await response.head(status, "application/json", b'{"error": "nope"}')
            return
        await response.head(200, "text/plain" if fmt == "raw" else "text/event-stream")
        interval = float(query.get("interval", "0.02"))
        pause_after = int(query.get("pause_after", "-1"))
        pause = float(query.get("pause", "0"))
        block_after = int(query.get("block_after", "-1"))
        block = float(query.get("block", "0"))
        pad = int(query.get("pad", "0"))
        await asyncio.sleep(float(query.get("ttft", "0")))
        for index in range(n):
            if index:
                await asyncio.sleep(interval)
            await response.write(_event(fmt, index, pad))
            if index == pause_after:
                await asyncio.sleep(pause)
            if index == block_after:
                time.sleep(block)  # noqa: ASYNC251 - deliberately blocks the event loop
        if query.get("terminator", "1") == "1":
            await response.write(_terminator(fmt))
        await response.end()

    async def _start(self) -> asyncio.Server:
        return await asyncio.start_server(
            self.handle, self.host, self.port, backlog=4096, limit=_MAX_HEAD
        )

    def __enter__(self) -> SSEServer:
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.server is not None
        server = self.server

        async def stop() -> None:
            server.close()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SSE target for streamwarden probe demos")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    server = SSEServer(args.host, args.port)

    async def serve() -> None:
        async with await server._start() as listening:
            await listening.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
