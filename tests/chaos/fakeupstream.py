"""A broken upstream on 127.0.0.1: a small real HTTP server whose fault is the request's model.

It speaks just enough OpenAI (`/v1/chat/completions`) and Anthropic (`/v1/messages`) SSE for
the gateway's relay; every connection serves one request, then closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
from collections.abc import Iterator

#: The faults, by model name. `ok` and `drip` are healthy (drip is slow and long).
FAULTS = (
    "ok",
    "drip",
    "flood",
    "silent",
    "slowhead",
    "stall",
    "reset",
    "status-502",
    "status-429",
    "status-401",
    "malformed",
    "notjson",
    "noterminator",
)


def _openai_chunk(text: str) -> bytes:
    body = {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


def _anthropic_delta(text: str) -> bytes:
    body = {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": text},
    }
    return b"event: content_block_delta\ndata: " + json.dumps(body).encode() + b"\n\n"


def _chunk(anthropic: bool, text: str) -> bytes:
    return _anthropic_delta(text) if anthropic else _openai_chunk(text)


def _terminator(anthropic: bool) -> bytes:
    if anthropic:
        return b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    return b"data: [DONE]\n\n"


def _framed(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
    b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
)


class FakeUpstream:
    """Runs in its own thread and loop. `open_connections` counts requests not yet closed
    by either side: the gateway cancelling an upstream request shows up there."""

    def __init__(self) -> None:
        self.port = 0
        self.open_connections = 0
        self.requests = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.Server | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> FakeUpstream:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in asyncio.all_tasks(self._loop):
                task.cancel()
            self._loop.call_later(0.2, self._loop.stop)

        self._loop.call_soon_threadsafe(close)
        self._thread.join(5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.open_connections += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            body = json.loads(await reader.readexactly(length)) if length else {}
            self.requests += 1
            path = head.split(b" ", 2)[1].decode()
            await self._answer(path, body, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self.open_connections -= 1
            with contextlib.suppress(Exception):
                writer.close()

    async def _answer(
        self,
        path: str,
        body: dict[str, object],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        fault = str(body.get("model", "ok"))
        anthropic = path.endswith("/messages")
        if path.endswith("/models"):
            return self._json(writer, 200, {"data": [{"id": f} for f in FAULTS]})
        if fault.startswith("status-"):
            status = int(fault.removeprefix("status-"))
            extra = {"retry-after": "7"} if status == 429 else {}
            return self._json(
                writer, status, {"error": {"message": f"upstream says {status}"}}, extra
            )
        if fault == "silent":
            await reader.read()  # until the gateway gives up and closes
            return
        if fault == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return
        if fault == "slowhead":
            # Headers and the first token each come just inside the deadline, together not.
            await asyncio.sleep(0.6)
            writer.write(_STREAM_HEAD)
            await writer.drain()
            await asyncio.sleep(0.6)
            fault = "ok"
        else:
            writer.write(_STREAM_HEAD)
        if fault == "malformed":
            bad = (
                b'event: content_block_delta\ndata: {"type":"content_block_delta","delta":"zz"}\n\n'
                if anthropic
                else b'data: {"choices": 5}\n\n'
            )
            writer.write(_framed(_chunk(anthropic, "hi")) + _framed(bad))
        elif fault == "notjson":
            writer.write(_framed(_chunk(anthropic, "hi")) + _framed(b"data: {nope\n\n"))
        elif fault == "noterminator":
            writer.write(_framed(_chunk(anthropic, "hi")) + _framed(_chunk(anthropic, " there")))
        elif fault == "stall":
            writer.write(_framed(_chunk(anthropic, "hi")))
            await writer.drain()
            await reader.read()
            return
        elif fault in ("drip", "ok", "flood"):
            count, gap, word = {
                "ok": (3, 0.0, "w "),
                "drip": (200, 0.1, "w "),
                "flood": (600, 0.0, "x" * 10_000),
            }[fault]
            for _ in range(count):
                writer.write(_framed(_chunk(anthropic, word)))
                await writer.drain()
                if gap:
                    await asyncio.sleep(gap)
            writer.write(_framed(_terminator(anthropic)))
        writer.write(b"0\r\n\r\n")
        await writer.drain()

    @staticmethod
    def _json(
        writer: asyncio.StreamWriter,
        status: int,
        body: object,
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(body).encode()
        lines = [
            f"HTTP/1.1 {status} X",
            "content-type: application/json",
            f"content-length: {len(data)}",
            "connection: close",
        ]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + data)


@contextlib.contextmanager
def fake_upstream() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream().start()
    try:
        yield upstream
    finally:
        upstream.stop()


@contextlib.contextmanager
def never_accepting() -> Iterator[int]:
    """A port whose listen queue is full: connects to it hang (the SYN goes unanswered)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
