"""Resume cost: the gateway's relay with resume off, with the in-process store, and with
Redis; then resume latency (request -> first replayed event) on each store.

    .venv/bin/python bench/resume_cost.py [--rounds 3] [--duration 6] [--resumes 200]

Relay: the same load as bench/relay_cost.py (32 streams of 2,000 tokens at full speed), the
three gateways interleaved per round; each figure is events per gateway-CPU-second, as a
ratio to resume off in the same round. Redis's own CPU is reported beside it. Latency: 200
finished 50-token streams, each resumed from event 0; the time from sending the GET to the
first `data:` line, on the replica that produced it (memory) and on another replica (Redis).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    CLIENT_CORE,
    HOST,
    Server,
    chat_body,
    cpu_seconds,
    gateway,
    git_rev,
    machine,
    pin_client,
    relay_round,
    write_json,
)

from streamwarden.procs import ManagedProcess, find_binary, free_port, wait_for_port

VARIANTS = ["resume off", "resume (memory)", "resume (redis)"]
BASELINE = VARIANTS[0]
FULL_SPEED = ["--sim-tps", "0", "--sim-ttft", "0"]


def start_redis() -> tuple[ManagedProcess, str]:
    binary = find_binary("redis-server")
    if binary is None:
        raise SystemExit("bench/resume_cost.py: redis-server not found — apt-get install redis")
    port = free_port()
    argv = ["taskset", "-c", str(CLIENT_CORE), binary, "--port", str(port), "--bind", HOST]
    argv += ["--save", "", "--appendonly", "no"]
    proc = ManagedProcess(argv, log_path=Path("/tmp/streamwarden-bench-redis.log"))
    wait_for_port(HOST, port, timeout=10)
    return proc, f"redis://{HOST}:{port}/0"


def flags_for(variant: str, redis_url: str, tokens: int) -> list[str]:
    base = [*FULL_SPEED, "--sim-tokens", str(tokens)]
    if variant == "resume (memory)":
        return [*base, "--resume"]
    if variant == "resume (redis)":
        return [*base, "--redis", redis_url]
    return base


def first_event_ms(url: str) -> float:
    """GET `url` on a fresh connection; ms from sending to the first `data:` line."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    path = "/" + url.split("//")[1].split("/", 1)[1]
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        started = time.perf_counter()
        sock.sendall(request.encode())
        seen = b""
        while b"\ndata:" not in seen:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError(f"no event from {url}: {seen[:200]!r}")
            seen += chunk
        return (time.perf_counter() - started) * 1000


def latency(producer: Server, reader: Server, resumes: int) -> dict[str, float]:
    ids = []
    with httpx.Client(timeout=10) as http:
        for _ in range(resumes):
            with http.stream(
                "POST",
                f"http://{HOST}:{producer.port}/v1/chat/completions",
                content=chat_body(50, 0, 0),
                headers={"content-type": "application/json"},
            ) as response:
                response.read()
                ids.append(response.headers["x-stream-id"])
    samples = sorted(
        first_event_ms(f"http://{HOST}:{reader.port}/v1/streams/{sid}?after=0") for sid in ids
    )
    return {
        "p50_ms": statistics.median(samples),
        "p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
        "max_ms": samples[-1],
        "n": len(samples),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--resumes", type=int, default=200)
    args = parser.parse_args()
    pin_client()
    redis_proc, redis_url = start_redis()
    try:
        samples: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
        for round_ in range(args.rounds):
            for variant in VARIANTS:
                server = gateway(
                    "resume-" + variant.split()[-1].strip("()"),
                    flags_for(variant, redis_url, args.tokens),
                )
                redis_before = cpu_seconds(redis_proc.pid)
                window, errors = relay_round(
                    server, args.tokens, args.concurrency, args.warmup, args.duration
                )
                redis_cpu = cpu_seconds(redis_proc.pid) - redis_before
                row = window.row(
                    # Over the whole run of this variant (warm-up included): an upper bound.
                    redis_cpu_seconds=redis_cpu if variant.endswith("(redis)") else 0.0,
                    errors=errors,
                    round=round_,
                )
                samples[variant].append(row)
                print(
                    f"round {round_} {variant:18s} {window.events_per_cpu_second:9.0f} ev/cpu-s "
                    f"cpu {window.cpu_share:4.0%} redis {redis_cpu:5.2f}s errors {errors}",
                    file=sys.stderr,
                )
        rows = []
        for variant in VARIANTS:
            ratios = [
                s["events_per_cpu_second"] / b["events_per_cpu_second"]
                for s, b in zip(samples[variant], samples[BASELINE], strict=True)
            ]
            rows.append(
                {
                    "variant": variant,
                    "events_per_cpu_second": statistics.median(
                        s["events_per_cpu_second"] for s in samples[variant]
                    ),
                    "ratio_to_off": statistics.median(ratios),
                    "ratios_per_round": ratios,
                    "redis_cpu_seconds": statistics.median(
                        s["redis_cpu_seconds"] for s in samples[variant]
                    ),
                    "errors": sum(s["errors"] for s in samples[variant]),
                }
            )
        # Resume latency: memory on the producing replica, Redis on another one.
        memory = gateway("resume-lat-memory", [*FULL_SPEED, "--resume"])
        try:
            lat_memory = latency(memory, memory, args.resumes)
        finally:
            memory.stop()
        a = gateway("resume-lat-a", [*FULL_SPEED, "--redis", redis_url])
        b = gateway("resume-lat-b", [*FULL_SPEED, "--redis", redis_url])
        try:
            lat_redis = latency(a, b, args.resumes)
        finally:
            a.stop()
            b.stop()
    finally:
        redis_proc.stop()
    store_cost = 1 - rows[2]["ratio_to_off"]
    result = {
        "benchmark": "resume_cost",
        "command": "python bench/resume_cost.py " + " ".join(sys.argv[1:]),
        "git": git_rev(),
        "machine": machine(),
        "params": vars(args),
        "baseline": BASELINE,
        "rows": rows,
        "latency": {"memory, same replica": lat_memory, "redis, other replica": lat_redis},
        "target": "the Redis store costs <= 15 % of relay CPU",
        "target_met": store_cost <= 0.15,
        "samples": samples,
    }
    path = write_json("resume_cost", result)
    for row in rows:
        print(
            f"{row['variant']:18s} {row['events_per_cpu_second']:9.0f} ev/cpu-s  "
            f"ratio {row['ratio_to_off']:.2f}  redis cpu {row['redis_cpu_seconds']:.2f}s"
        )
    for name, lat in result["latency"].items():
        print(f"resume latency {name}: p50 {lat['p50_ms']:.1f} ms  p99 {lat['p99_ms']:.1f} ms")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
