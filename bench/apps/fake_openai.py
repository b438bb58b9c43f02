"""A fast fake OpenAI-compatible upstream for the relay benchmarks: one asyncio protocol per
connection, llhttp (httptools) parsing, keep-alive, timers instead of tasks.

    python bench/apps/fake_openai.py --port 9000 [--ttft 0.2 --tokens 20 --tps 20 --burst 1]

`POST /v1/chat/completions` streams OpenAI chunks: the role chunk and the first token after
`ttft` seconds, then `tokens` tokens at `tps` per second (0: as fast as the socket takes
them), `burst` events per write, a finish chunk, a usage chunk and `[DONE]`. A request body's
`sim` object (`ttft`, `tokens`, `tps`, `burst`) overrides the defaults for that request.
`GET /v1/models` lists `sim-1`. `GET /stats` answers the counters the tests use
(requests arrived and finished, most streams open at once, connections accepted).
Cheap enough that one core of it out-runs every gateway it is put behind.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import httptools

from streamwarden.upstreams.sim import word

_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n"
)


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


class Defaults:
    def __init__(self, ttft: float, tokens: int, tps: float, burst: int) -> None:
        self.values: dict[str, Any] = {"ttft": ttft, "tokens": tokens, "tps": tps, "burst": burst}
        #: Requests that arrived, and streams that ended, in order: `GET /stats`.
        self.arrived = 0
        self.finished = 0
        self.open = 0
        self.max_open = 0
        #: TCP connections accepted: fewer than requests when clients reuse connections.
        self.connections = 0


class Stream:
    """One answer, driven by loop timers."""

    def __init__(self, conn: Connection, params: dict[str, Any]) -> None:
        self.conn = conn
        self.tokens = int(params["tokens"])
        self.tps = float(params["tps"])
        self.burst = max(1, int(params["burst"]))
        self.sent = 0
        self.cid = b"chatcmpl-fake%d" % id(self)
        self.created = b"%d" % int(time.time())
        self.handle: asyncio.TimerHandle | asyncio.Handle | None = None
        loop = asyncio.get_running_loop()
        self.handle = loop.call_later(float(params["ttft"]), self.first)

    def event(self, delta: bytes, finish: bytes = b"null") -> bytes:
        # `protocols.openai.chunk_json`'s output, spliced from bytes: this fake must out-run
        # every gateway put in front of it, and json.dumps per token would not.
        return (
            b'data: {"id":"' + self.cid + b'","object":"chat.completion.chunk","created":'
            + self.created + b',"model":"sim-1","choices":[{"index":0,"delta":' + delta
            + b',"finish_reason":' + finish + b',"logprobs":null}]}\n\n'
        )  # fmt: skip

    def first(self) -> None:
        self.conn.write(_chunk(self.event(b'{"role":"assistant","content":""}')))
        self.next()

    def next(self) -> None:
        if self.conn.closed:
            return
        parts = []
        for _ in range(self.burst):
            if self.sent >= self.tokens:
                break
            text = word(self.sent) if self.sent == 0 else " " + word(self.sent)
            parts.append(self.event(b'{"content":"' + text.encode() + b'"}'))
            self.sent += 1
        if parts:
            self.conn.write(_chunk(b"".join(parts)))
        if self.sent >= self.tokens:
            self.finish()
            return
        loop = asyncio.get_running_loop()
        if self.tps > 0:
            self.handle = loop.call_later(len(parts) / self.tps, self.next)
        else:
            self.handle = loop.call_soon(self.next)

    def finish(self) -> None:
        usage = (
            b'data: {"id":"' + self.cid + b'","object":"chat.completion.chunk","created":'
            + self.created + b',"model":"sim-1","choices":[],"usage":{"prompt_tokens":1,'
            b'"completion_tokens":' + str(self.tokens).encode() + b',"total_tokens":'
            + str(self.tokens + 1).encode() + b"}}\n\n"
        )  # fmt: skip
        tail = self.event(b"{}", b'"stop"') + usage + b"data: [DONE]\n\n"
        self.conn.write(_chunk(tail) + b"0\r\n\r\n")
        self.conn.stream_done()

    def cancel(self) -> None:
        if self.handle is not None:
            self.handle.cancel()


class Connection(asyncio.Protocol):
    def __init__(self, defaults: Defaults) -> None:
        self.defaults = defaults
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body = bytearray()
        self.stream: Stream | None = None
        self.closed = False
        self.keep_alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.defaults.connections += 1

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.stream is not None:
            self.stream.cancel()
            self.stream = None
            self._ended()

    # httptools callbacks
    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        url, body = self.url, bytes(self.body)
        self.url, self.body = b"", bytearray()
        self.keep_alive = self.parser.should_keep_alive()
        method = self.parser.get_method()
        if method == b"POST" and url.endswith(b"/chat/completions"):
            params = dict(self.defaults.values)
            if b'"sim"' in body:
                sim = json.loads(body).get("sim") or {}
                params.update({k: v for k, v in sim.items() if k in params})
            d = self.defaults
            d.arrived += 1
            d.open += 1
            d.max_open = max(d.max_open, d.open)
            self.write(_HEAD)
            self.stream = Stream(self, params)
        elif url.endswith(b"/models"):
            self.answer(b'{"object":"list","data":[{"id":"sim-1","object":"model"}]}')
        elif url.endswith(b"/stats"):
            d = self.defaults
            stats = {"arrived": d.arrived, "finished": d.finished, "open": d.open}
            stats |= {"max_open": d.max_open, "connections": d.connections}
            self.answer(json.dumps(stats).encode())
        else:
            self.answer(b'{"error":{"message":"not found"}}', b"404 Not Found")

    def answer(self, body: bytes, status: bytes = b"200 OK") -> None:
        head = b"HTTP/1.1 %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
        self.write(head % (status, len(body)) + body)
        if not self.keep_alive:
            self.close()

    def write(self, data: bytes) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def stream_done(self) -> None:
        self.stream = None
        self._ended()
        if not self.keep_alive:
            self.close()

    def _ended(self) -> None:
        self.defaults.open -= 1
        self.defaults.finished += 1

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


async def serve(host: str, port: int, defaults: Defaults) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(defaults), host, port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--ttft", type=float, default=0.2)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--tps", type=float, default=20.0)
    parser.add_argument("--burst", type=int, default=1)
    args = parser.parse_args()
    defaults = Defaults(args.ttft, args.tokens, args.tps, args.burst)
    try:
        import uvloop

        uvloop.run(serve(args.host, args.port, defaults))
    except ImportError:
        asyncio.run(serve(args.host, args.port, defaults))


if __name__ == "__main__":
    main()
