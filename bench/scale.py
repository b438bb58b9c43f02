"""Scale: slow streams (1 token/s plus heartbeats) held by one gateway process, with RSS per
stream and CPU; beside it gunicorn-sync + Flask, whose capacity is its worker count.

    .venv/bin/python bench/scale.py [--streams 10000] [--batch 500] [--hold 10]

The gateway runs on core 0 with a raised fd limit; this client on core 1 opens the streams
in batches (the listen backlog is 2048) and holds them. If a count does not fit, the run
stops at the largest count it reached and says why.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    HOST,
    PY,
    Counters,
    Server,
    StreamProtocol,
    chat_body,
    free_port,
    gateway,
    git_rev,
    http_request,
    machine,
    pin_client,
    raise_nofile,
    run_async,
    start_server,
    write_json,
)

NOFILE = 65536
MB = 1024 * 1024


class GapProtocol(StreamProtocol):
    """Also keeps the longest silence between two reads: at 1 token/s, anything much over
    1 s is the server's event loop stalling (a full GC pass, say)."""

    def __init__(self, request: bytes, counters: Counters) -> None:
        super().__init__(request, counters)
        self.last = 0.0
        self.max_gap = 0.0

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        if self.last:
            self.max_gap = max(self.max_gap, now - self.last)
        self.last = now
        super().data_received(data)


async def open_streams(port: int, body: bytes, count: int, counters: Counters) -> list[GapProtocol]:
    """`count` single streams (no reconnect), all counted in `counters`."""
    loop = asyncio.get_running_loop()
    request = http_request(port, body)
    protos = [GapProtocol(request, counters) for _ in range(count)]
    results = await asyncio.gather(
        *(loop.create_connection(lambda p=p: p, HOST, port) for p in protos),
        return_exceptions=True,
    )
    counters.errors += sum(isinstance(r, BaseException) for r in results)
    return protos


async def warm(port: int) -> None:
    # A few short streams first, so that lazy imports and caches are in the idle figure.
    protos = await open_streams(port, chat_body(3, 0, 0), 8, Counters())
    await asyncio.wait_for(asyncio.gather(*(p.done for p in protos)), 10)


async def gateway_scale(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    await warm(server.port)
    await asyncio.sleep(1.0)
    rss_idle = server.rss_bytes()
    body = chat_body(args.tokens, 1.0, 0.0)
    held: list[GapProtocol] = []
    counters = Counters()
    ramp_started = time.perf_counter()
    bottleneck = ""
    established = 0
    try:
        while len(held) < args.streams:
            n = min(args.batch, args.streams - len(held))
            held += await open_streams(server.port, body, n, counters)
            # A stream counts once its first token arrived (sim ttft 0, so at once).
            deadline = time.perf_counter() + args.batch_timeout
            while len(counters.ttft) < len(held) and time.perf_counter() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
            established = len(counters.ttft)
            print(
                f"  {established:>6} streams up, rss {server.rss_bytes() / MB:.0f} MB, "
                f"errors {counters.errors}",
                file=sys.stderr,
            )
            if established < len(held) or counters.errors:
                bottleneck = (
                    f"only {established} of {len(held)} streams got their first token within "
                    f"{args.batch_timeout:g} s; {counters.errors} connect/HTTP errors"
                )
                break
            if not server.proc.alive():
                bottleneck = "gateway process died: " + server.proc.log_tail(5)
                break
        ramp_seconds = time.perf_counter() - ramp_started
        await asyncio.sleep(2.0)
        for p in held:
            p.max_gap = 0.0  # only the hold window counts
        e0, c0, t0 = counters.events, server.cpu_seconds(), time.perf_counter()
        await asyncio.sleep(args.hold)
        e1, c1, t1 = counters.events, server.cpu_seconds(), time.perf_counter()
        rss_held = server.rss_bytes()
        still_open = counters.open
        gaps = sorted(p.max_gap for p in held)
    finally:
        for p in held:
            p.abort()
    streams = min(established, still_open)
    return {
        "streams_requested": args.streams,
        "streams_held": streams,
        "ramp_seconds": ramp_seconds,
        "rss_idle_mb": rss_idle / MB,
        "rss_held_mb": rss_held / MB,
        "rss_per_stream_kb": (rss_held - rss_idle) / max(streams, 1) / 1024,
        "cpu_share_holding": (c1 - c0) / (t1 - t0),
        "events_per_second": (e1 - e0) / (t1 - t0),
        "longest_silence_s": gaps[-1] if gaps else 0.0,
        "median_longest_silence_s": gaps[len(gaps) // 2] if gaps else 0.0,
        "errors": counters.errors,
        "bottleneck": bottleneck,
    }


async def gunicorn_capacity(server: Server, workers: int, tokens: int) -> dict[str, Any]:
    """Open workers+1 streams at once; time each one's first event. Measured, not assumed."""
    await asyncio.sleep(1.0)
    rss_idle = server.rss_bytes()
    counters = Counters()
    protos = await open_streams(server.port, chat_body(tokens, 1.0, 0.0), workers + 1, counters)
    await asyncio.sleep(min(2.0, tokens / 2))
    served_at_once = len(counters.ttft)
    rss_busy = server.rss_bytes()
    await asyncio.wait_for(asyncio.gather(*(p.done for p in protos)), tokens * 3 + 10)
    firsts = sorted(t for _, t in counters.ttft)
    return {
        "workers": workers,
        "streams_opened": workers + 1,
        "served_at_once": served_at_once,
        "first_event_seconds": firsts,
        "rss_idle_mb": rss_idle / MB,
        "rss_busy_mb": rss_busy / MB,
        "rss_per_stream_mb": rss_busy / MB / max(served_at_once, 1),
        "processes": len(server.pids()),
        "errors": counters.errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--batch-timeout", type=float, default=15.0)
    parser.add_argument("--hold", type=float, default=10.0)
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--heartbeat", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--sync-tokens", type=int, default=5)
    args = parser.parse_args()
    pin_client()
    raise_nofile(NOFILE)

    flags = ["--sim-tps", "1", "--sim-ttft", "0", "--heartbeat", str(args.heartbeat)]
    flags += ["--sim-tokens", str(args.tokens)]
    server = gateway("scale-gateway", flags, nofile=NOFILE)
    try:
        gw = run_async(lambda: gateway_scale(server, args))
    finally:
        server.stop()
    print(f"gateway: {gw}", file=sys.stderr)

    port = free_port()
    argv = [PY, "-m", "gunicorn", "-k", "sync", "-w", str(args.workers)]
    argv += ["-b", f"{HOST}:{port}", "--log-level", "warning", "flask_sync:app"]
    sync_server = start_server("scale-gunicorn", argv, port=port)
    try:
        sync = run_async(lambda: gunicorn_capacity(sync_server, args.workers, args.sync_tokens))
    finally:
        sync_server.stop()
    print(f"gunicorn: {sync}", file=sys.stderr)

    target_met = gw["streams_held"] >= 10_000 and gw["rss_per_stream_kb"] < 50
    result = {
        "benchmark": "scale",
        "command": "python bench/scale.py " + " ".join(sys.argv[1:]),
        "git": git_rev(),
        "machine": machine(),
        "params": vars(args),
        "gateway": gw,
        "gunicorn_sync": sync,
        "target": "10,000 streams in one process at < 50 KB RSS per stream",
        "target_met": target_met,
    }
    write_json("scale", result)
    firsts = ", ".join(f"{t:.2f}" for t in sync["first_event_seconds"])
    print(
        f"\nslow streams: 1 token/s, heartbeat {args.heartbeat:g} s; gateway held "
        f"{args.hold:g} s at full count\n"
    )
    print("| server | streams held at once | RSS idle | RSS loaded | RSS per stream | CPU |")
    print("|---|---:|---:|---:|---:|---:|")
    print(
        f"| streamwarden serve, 1 process | {gw['streams_held']:,} | {gw['rss_idle_mb']:.0f} MB "
        f"| {gw['rss_held_mb']:.0f} MB | {gw['rss_per_stream_kb']:.1f} KB "
        f"| {gw['cpu_share_holding']:.0%} of a core |"
    )
    print(
        f"| gunicorn -k sync -w {sync['workers']} + Flask | {sync['served_at_once']} "
        f"(of {sync['streams_opened']} opened) | {sync['rss_idle_mb']:.0f} MB "
        f"| {sync['rss_busy_mb']:.0f} MB | {sync['rss_per_stream_mb'] * 1024:,.0f} KB "
        "| (sleeping workers) |"
    )
    print(
        f"\ngateway: {gw['events_per_second']:,.0f} events/s delivered (nominal "
        f"{gw['streams_held']:,}/s); longest silence seen by any stream while held "
        f"{gw['longest_silence_s']:.2f} s (median stream {gw['median_longest_silence_s']:.2f} s)"
    )
    print(f"gunicorn first-event times (s): {firsts}")
    if gw["bottleneck"]:
        print(f"gateway stopped early: {gw['bottleneck']}")
    print(f"target (10k streams, < 50 KB each): {'met' if target_met else 'MISSED'}")


if __name__ == "__main__":
    main()
