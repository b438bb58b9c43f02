"""Middleware cost: SSE events per server-CPU-second of a naive FastAPI app, with and without
`StreamGuardMiddleware`, measured in the same run.

    .venv/bin/python bench/middleware_cost.py [--rounds 4] [--duration 6] [--concurrency 32]
    .venv/bin/python bench/middleware_cost.py --in-process [--rounds 7] [--tokens 20000]

Both servers run the same app module (`bench/apps/fastapi_naive.py`; the second one adds
`app.add_middleware(StreamGuardMiddleware)`), the same simulated model at full speed, and
the same OpenAI chunk per event. Servers on core 0, this client on core 1. The machine is
shared: each round measures both apps back to back, alternating which goes first, and the
figure is the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    chat_body,
    git_rev,
    machine,
    pin_client,
    relay_round,
    uvicorn_app,
    write_json,
)

BARE = "FastAPI StreamingResponse (naive)"
GUARDED = "same app + StreamGuardMiddleware"
APPS = {BARE: "fastapi_naive", GUARDED: "fastapi_middleware"}
#: The goal: the middleware costs at most this share of events per CPU-second.
MAX_COST = 0.10


async def one_in_process(app: Any, body: bytes) -> tuple[float, int]:
    """Process CPU seconds and events for one request through `app`, with a no-op server."""
    done = asyncio.Event()
    events = 0
    read = False

    async def receive() -> dict[str, Any]:
        nonlocal read
        if not read:
            read = True
            return {"type": "http.request", "body": body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal events
        if message["type"] == "http.response.body":
            events += 1
            if not message.get("more_body", False):
                done.set()

    path = "/v1/chat/completions"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},  # uvicorn's
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 2),
        "state": {},
    }
    started = time.process_time()
    await app(scope, receive, send)
    return time.process_time() - started, events


def in_process(rounds: int, tokens: int) -> None:
    import importlib

    sys.path.insert(0, str(Path(__file__).resolve().parent / "apps"))
    apps = {label: importlib.import_module(module).app for label, module in APPS.items()}
    # Both modules share one FastAPI app object: the middleware module adds to it. Build the
    # bare one again from the same routes.
    from fastapi import FastAPI

    bare = FastAPI()
    bare.router.routes.extend(apps[GUARDED].router.routes)
    apps[BARE] = bare
    body = chat_body(tokens, 0, 0)

    async def run() -> dict[str, list[float]]:
        per_event: dict[str, list[float]] = {label: [] for label in APPS}
        for label in APPS:  # warm up
            await one_in_process(apps[label], chat_body(200, 0, 0))
        for round_ in range(rounds):
            order = list(APPS) if round_ % 2 == 0 else list(reversed(APPS))
            for label in order:
                cpu, events = await one_in_process(apps[label], body)
                per_event[label].append(cpu / events * 1e6)
        return per_event

    per_event = asyncio.run(run())
    ratios = [b / g for b, g in zip(per_event[BARE], per_event[GUARDED], strict=True)]
    for label in APPS:
        print(f"{label:36s} {statistics.median(per_event[label]):6.2f} us CPU per event")
    print(
        f"ratio (median of per-round ratios): {statistics.median(ratios):.3f}; per round: "
        + ", ".join(f"{x:.3f}" for x in ratios)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--in-process", action="store_true", help="no sockets: see above")
    args = parser.parse_args()
    if args.in_process:
        in_process(args.rounds, args.tokens)
        return
    pin_client()

    samples: dict[str, list[dict[str, Any]]] = {label: [] for label in APPS}
    for round_ in range(args.rounds):
        order = list(APPS) if round_ % 2 == 0 else list(reversed(APPS))
        for label in order:
            server = uvicorn_app(f"mwcost-{APPS[label]}", APPS[label])
            window, errors = relay_round(
                server, args.tokens, args.concurrency, args.warmup, args.duration
            )
            row = window.row(errors=errors, round=round_)
            samples[label].append(row)
            print(
                f"round {round_} {label:36s} {window.events_per_cpu_second:10.0f} ev/cpu-s "
                f"cpu {window.cpu_share:4.0%} others {window.foreign_cpu / window.seconds:4.0%} "
                f"errors {errors}",
                file=sys.stderr,
            )

    ratios = [
        g["events_per_cpu_second"] / b["events_per_cpu_second"]
        for g, b in zip(samples[GUARDED], samples[BARE], strict=True)
    ]
    ratio = statistics.median(ratios)
    rows = [
        {
            "app": label,
            "events_per_cpu_second": statistics.median(
                s["events_per_cpu_second"] for s in samples[label]
            ),
            "events_per_second": statistics.median(s["events_per_second"] for s in samples[label]),
            "server_cpu_share": statistics.median(s["cpu_share"] for s in samples[label]),
            "foreign_cpu_share": max(s["foreign_cpu_share"] for s in samples[label]),
            "errors": sum(s["errors"] for s in samples[label]),
        }
        for label in APPS
    ]
    result = {
        "benchmark": "middleware_cost",
        "command": "python bench/middleware_cost.py " + " ".join(sys.argv[1:]),
        "git": git_rev(),
        "machine": machine(),
        "params": vars(args),
        "baseline": BARE,
        "rows": rows,
        "ratio": ratio,
        "ratios_per_round": ratios,
        "cost": 1 - ratio,
        "target": f"middleware costs <= {MAX_COST:.0%} of events per CPU-second",
        "target_met": 1 - ratio <= MAX_COST,
        "samples": samples,
    }
    write_json("middleware_cost", result)
    print(
        f"\nC={args.concurrency} streams x {args.tokens} tokens, {args.duration:g} s windows, "
        f"{args.rounds} interleaved rounds\n"
    )
    print("| app | events / server-CPU-s | events / s | server CPU |")
    print("|---|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['app']} | {r['events_per_cpu_second']:,.0f} | {r['events_per_second']:,.0f} "
            f"| {r['server_cpu_share']:.0%} |"
        )
    print(
        f"\nratio (median of per-round ratios): {ratio:.3f}, cost {1 - ratio:.1%}; "
        f"per round: {', '.join(f'{x:.3f}' for x in ratios)}"
    )
    foreign = max(r["foreign_cpu_share"] for r in rows)
    print(f"other jobs on the machine used up to {foreign:.0%} of a core in a window")
    print(f"target (cost <= {MAX_COST:.0%}): {'met' if result['target_met'] else 'MISSED'}")


if __name__ == "__main__":
    main()
