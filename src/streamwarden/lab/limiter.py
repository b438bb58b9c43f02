"""A TCP relay that cuts every connection at a fixed total time, whatever flows through it.

It stands in for the limits that count total time, not silence: a GCP backend service
`timeoutSec` (30 s by default), an Envoy route `timeout` (15 s), API Gateway's 29 s, Heroku's
router. Heartbeats cannot keep such a connection open; only a shorter stream, or a longer
limit, can.

    python -m streamwarden.lab.limiter --listen 8081 --upstream 127.0.0.1:8000 --cut-after 1.0
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

__all__ = ["main", "serve"]

_CHUNK = 64 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    with contextlib.suppress(OSError, RuntimeError):
        if writer.can_write_eof():
            writer.write_eof()


async def _relay(
    client_r: asyncio.StreamReader,
    client_w: asyncio.StreamWriter,
    upstream: tuple[str, int],
    cut_after: float,
) -> None:
    try:
        up_r, up_w = await asyncio.open_connection(*upstream)
    except OSError:
        client_w.close()
        return
    try:
        # The clock starts at accept and counts everything: bytes, heartbeats, silence.
        async with asyncio.timeout(cut_after):
            async with asyncio.TaskGroup() as group:
                group.create_task(_pipe(client_r, up_w))
                group.create_task(_pipe(up_r, client_w))
    except TimeoutError:
        pass
    finally:
        for writer in (client_w, up_w):
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def serve(listen: tuple[str, int], upstream: tuple[str, int], cut_after: float) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _relay(reader, writer, upstream, cut_after)

    server = await asyncio.start_server(handle, *listen)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--listen", required=True, help="[host:]port to accept on")
    parser.add_argument("--upstream", required=True, help="host:port to relay to")
    parser.add_argument("--cut-after", type=float, required=True, help="seconds per connection")
    args = parser.parse_args(argv)
    asyncio.run(serve(_address(args.listen), _address(args.upstream), args.cut_after))


if __name__ == "__main__":
    main()
