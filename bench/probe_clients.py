"""Minimal streaming clients for the probe benchmark: each holds N streams for D seconds
against URL, decodes SSE with the same `SSEDecoder`, and prints {"events": N} at the end.
They record nothing, so they are a floor for what a recording client costs.

    python bench/probe_clients.py aiohttp|httpx|probe-asyncio|floor URL CONCURRENCY DURATION

`floor` is the kernel's share: a uvloop protocol that sends the request and then ignores
every read (it counts `\n\n` only, to print a total), the least any client on this loop
can spend.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from streamwarden.sse import Event, SSEDecoder


async def with_aiohttp(url: str, concurrency: int, duration: float) -> int:
    import aiohttp

    total = 0
    deadline = time.monotonic() + duration
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=None)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            nonlocal total
            while time.monotonic() < deadline:
                decoder = SSEDecoder()
                async with session.get(url) as resp:
                    async for chunk in resp.content.iter_any():
                        total += sum(isinstance(e, Event) for e in decoder.feed(chunk))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total


async def with_httpx(url: str, concurrency: int, duration: float) -> int:
    import httpx

    total = 0
    deadline = time.monotonic() + duration
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=None) as client:

        async def worker() -> None:
            nonlocal total
            while time.monotonic() < deadline:
                decoder = SSEDecoder()
                async with client.stream("GET", url) as resp:
                    async for chunk in resp.aiter_raw():
                        total += sum(isinstance(e, Event) for e in decoder.feed(chunk))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total


async def with_probe(url: str, concurrency: int, duration: float) -> int:
    from streamwarden.probe import ProbeConfig, run_probe

    config = ProbeConfig(url=url, concurrency=(concurrency,), step_duration=duration)
    run = await run_probe(config)
    return sum(r.events for r in run.requests)


async def floor(url: str, concurrency: int, duration: float) -> int:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    request = f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + duration
    total = 0

    class Ignore(asyncio.Protocol):
        def __init__(self) -> None:
            self.done = loop.create_future()
            self.events = 0

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            transport.write(request)  # type: ignore[attr-defined]

        def data_received(self, data: bytes) -> None:
            self.events += data.count(b"\n\n")

        def connection_lost(self, exc: Exception | None) -> None:
            self.done.set_result(None)

    async def worker() -> None:
        nonlocal total
        while time.monotonic() < deadline:
            proto = Ignore()
            await loop.create_connection(lambda p=proto: p, parts.hostname, parts.port)
            await proto.done
            total += proto.events - 1  # the response head's blank line

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total


def main() -> None:
    kind, url, concurrency, duration = (
        sys.argv[1],
        sys.argv[2],
        int(sys.argv[3]),
        float(sys.argv[4]),
    )
    fns = {"aiohttp": with_aiohttp, "httpx": with_httpx, "probe-asyncio": with_probe}
    if kind == "floor":
        import uvloop

        print(json.dumps({"events": uvloop.run(floor(url, concurrency, duration))}))
        return
    print(json.dumps({"events": asyncio.run(fns[kind](url, concurrency, duration))}))


if __name__ == "__main__":
    main()
