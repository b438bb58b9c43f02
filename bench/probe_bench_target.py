"""A lean SSE target for the probe benchmarks: raw asyncio protocol on uvloop, so that one
process can feed thousands of streams on a 2-core box, and a log of when each stream's first
event was written (CLOCK_MONOTONIC, by client port) to measure the probe's timing error.

    python bench/probe_bench_target.py PORT LOG.json [N INTERVAL [PACING]]
    GET /?n=30&interval=1&ttft=0.5  ->  OpenAI chunks, then data: [DONE]
    (any method and path; N and INTERVAL are the defaults for requests without a query)

PACING `independent` (the default): each stream has its own timer, so streams drift apart
in phase. `batched`: one decode step every INTERVAL writes the next token to every running
stream at once, as a continuous-batching inference server (vLLM, TGI) does; a stream's
first token comes at the first step after its `ttft`.

SIGTERM writes LOG.json and exits: {"first_write": {client_port: monotonic_s},
"events": events written in all}.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)
EVENT = b'data: {"choices":[{"index":0,"delta":{"content":"token"}}]}\n\n'
CHUNK = b"%x\r\n%s\r\n" % (len(EVENT), EVENT)
DONE = b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n"


class Batch:
    """The decode loop of `batched` pacing: every step, one token to each running stream."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.running: set[Stream] = set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        step = loop.time()
        while True:
            step += self.interval
            await asyncio.sleep(max(0.0, step - loop.time()))
            for stream in list(self.running):
                stream.tick()


class Stream(asyncio.Protocol):
    def __init__(
        self,
        log: dict[int, float],
        totals: list[int],
        defaults: tuple[str, str],
        batch: Batch | None = None,
    ) -> None:
        self.batch = batch
        self.first = True
        self.log = log
        self.totals = totals
        self.defaults = defaults
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.left = 0
        self.interval = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.port = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.port = transport.get_extra_info("peername")[1]

    def data_received(self, data: bytes) -> None:
        if self.left or self.transport is None:
            return
        self.buf += data
        if b"\r\n\r\n" not in self.buf:
            return
        target = self.buf.split(b" ", 2)[1].decode()
        q = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
        self.left = int(q.get("n", self.defaults[0]))
        self.interval = float(q.get("interval", self.defaults[1]))
        self.transport.write(HEAD)
        loop = asyncio.get_running_loop()
        ttft = float(q.get("ttft", "0"))
        if self.batch is not None:
            self.timer = loop.call_later(ttft, self.batch.running.add, self)
        else:
            self.timer = loop.call_later(ttft, self.tick)

    def tick(self) -> None:
        assert self.transport is not None
        if self.transport.is_closing():
            self._stop()
            return
        if self.first:
            self.first = False
            self.log[self.port] = time.monotonic()
        self.transport.write(CHUNK)
        self.totals[0] += 1
        self.left -= 1
        if self.left <= 0:
            self.transport.write(DONE)
            self.transport.close()
            self._stop()
            return
        if self.batch is None:
            self.timer = asyncio.get_running_loop().call_later(self.interval, self.tick)

    def _stop(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.batch is not None:
            self.batch.running.discard(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop()


async def main(port: int, log_path: str, defaults: tuple[str, str], pacing: str) -> None:
    log: dict[int, float] = {}
    totals = [0]
    loop = asyncio.get_running_loop()
    batch = Batch(float(defaults[1])) if pacing == "batched" else None
    stepper = asyncio.ensure_future(batch.run()) if batch is not None else None
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    server = await loop.create_server(
        lambda: Stream(log, totals, defaults, batch), "127.0.0.1", port, backlog=8192
    )
    print("ready", flush=True)
    await stop.wait()
    if stepper is not None:
        stepper.cancel()
    server.close()
    Path(log_path).write_text(json.dumps({"first_write": log, "events": totals[0]}))  # noqa: ASYNC240 - the server is stopped


if __name__ == "__main__":
    import uvloop

    defaults = (sys.argv[3], sys.argv[4]) if len(sys.argv) > 4 else ("30", "1")
    pacing = sys.argv[5] if len(sys.argv) > 5 else "independent"
    uvloop.run(main(int(sys.argv[1]), sys.argv[2], defaults, pacing))
