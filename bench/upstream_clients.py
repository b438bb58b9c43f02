"""CPU per upstream stream for three HTTP clients: httpx (httpcore's pool), aiohttp's
connector, and streamwarden's llhttp client (`upstreams/http1.py`).

    .venv/bin/python bench/upstream_clients.py [--concurrency 50 200] [--seconds 6]

Each client keeps `concurrency` streams open against the fake upstream (bench/apps/
fake_openai.py: 20 events over 1 s per stream), starting the next stream as one ends, and
reads every body to its end. The client runs in its own process on core 0, the upstream on
core 1; the figure is the client process's CPU seconds per 1,000 streams, so a pool whose
cost grows with open connections shows up as a figure that grows with concurrency.
Clients run interleaved, one after the other within each round; medians of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import HOST, PY, git_rev, machine, start_server, write_json

from streamwarden.procs import free_port

CLIENTS = ("httpx", "aiohttp", "http1")
BODY = json.dumps(
    {"model": "sim-1", "messages": [{"role": "user", "content": "x"}], "stream": True}
).encode()


async def _run(kind: str, url: str, concurrency: int, seconds: float) -> dict[str, float]:
    done = 0
    running = True
    headers = {"content-type": "application/json", "accept": "text/event-stream"}
    if kind == "httpx":
        import httpx

        hx = httpx.AsyncClient(
            timeout=httpx.Timeout(10.0, read=None),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=100),
        )

        async def one() -> None:
            async with hx.stream("POST", url, content=BODY, headers=headers) as r:
                async for _ in r.aiter_raw():
                    pass

        close = hx.aclose
    elif kind == "aiohttp":
        import aiohttp

        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))

        async def one() -> None:
            async with session.post(url, data=BODY, headers=headers) as r:
                async for _ in r.content.iter_any():
                    pass

        close = session.close
    else:
        from streamwarden.upstreams.http1 import HTTPClient

        client = HTTPClient()

        async def one() -> None:
            r = await client.request("POST", url, headers=list(headers.items()), content=BODY)
            try:
                while await r.receive():
                    pass
            finally:
                await r.aclose()

        close = client.aclose

    async def worker(index: int) -> None:
        nonlocal done
        await asyncio.sleep(1.0 * index / concurrency)  # spread the starts over one stream
        while running:
            await one()
            done += 1

    tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
    await asyncio.sleep(2.0)
    d0, c0, t0 = done, time.process_time(), time.perf_counter()
    await asyncio.sleep(seconds)
    d1, c1, t1 = done, time.process_time(), time.perf_counter()
    running = False
    await asyncio.gather(*tasks, return_exceptions=True)
    await close()
    streams = d1 - d0
    return {
        "streams_per_s": streams / (t1 - t0),
        "cpu_share": (c1 - c0) / (t1 - t0),
        "cpu_ms_per_stream": 1000 * (c1 - c0) / max(streams, 1),
    }


def child(kind: str, url: str, concurrency: int, seconds: float) -> None:
    import uvloop

    print(json.dumps(uvloop.run(_run(kind, url, concurrency, seconds))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, url, conc, secs = args.child
        child(kind, url, int(conc), float(secs))
        return
    port = free_port()
    fake = [PY, "bench/apps/fake_openai.py", "--port", str(port), "--ttft", "0.2"]
    upstream = start_server("clients-fake", ["taskset", "-c", "1", *fake], port=port)
    url = f"http://{HOST}:{port}/v1/chat/completions"
    rows: dict[str, dict[str, list[dict[str, float]]]] = {}
    try:
        for _ in range(args.rounds):
            for conc in args.concurrency:
                for kind in CLIENTS:
                    argv = ["taskset", "-c", "0", PY, __file__, "--child", kind, url]
                    out = subprocess.run(
                        [*argv, str(conc), str(args.seconds)], capture_output=True, text=True
                    )
                    result = json.loads(out.stdout.strip().splitlines()[-1])
                    result["load"] = os.getloadavg()[0]
                    rows.setdefault(str(conc), {}).setdefault(kind, []).append(result)
                    print(conc, kind, result, flush=True)
    finally:
        upstream.stop()
    summary = {
        conc: {
            kind: {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            for kind, runs in kinds.items()
        }
        for conc, kinds in rows.items()
    }
    path = write_json(
        "upstream_clients",
        {"commit": git_rev(), "machine": machine(), "summary": summary, "runs": rows},
    )
    print(json.dumps(summary, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
