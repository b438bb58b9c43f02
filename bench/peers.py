"""The gateway in front of a real HTTP upstream, side by side with its peers.

    .venv/bin/python bench/peers.py [--rounds 3] [--workloads long c200 c10 c1000] [--name NAME]
        [--layout shared|spread]

One fake OpenAI-compatible upstream (bench/apps/fake_openai.py) and, in front of it:
`streamwarden serve --upstream openai` (OpenAI client, so the pass-through relay), the naive
FastAPI + httpx passthrough a user would write (bench/apps/naive_passthrough.py), and the
LiteLLM proxy when `litellm` is on PATH (it is never installed for this). "direct" is the
client talking to the upstream itself: the baseline for added time to first token.

Layout on a 2-core box (`--layout shared`, the default): each front runs pinned to core 0;
the upstream and this client share core 1. `c1000` runs the fronts with two workers, on both
cores. With `--layout spread` (a machine with at least 4 cores) the fronts keep cores 0 and 1
and the upstream and this client get cores 2 and 3 of their own, so `c1000` measures the
fronts, not the box. Every workload runs
each system once per round, interleaved, so each ratio compares figures measured minutes
apart on the same machine. The machine is shared: each result records `uptime`'s 1-minute
load and the CPU other processes used meanwhile.

Workloads:
- long: 32 streams of 2,000 events at full speed; events per front-CPU-second.
- c200 / c10: 200 or 10 concurrent 1-s streams (TTFT 0.2 s, 20 tokens at 20 tok/s), each
  client worker starting its next stream when one ends; added TTFT p50/p99 against direct in
  the same round, streams/s, and the front's CPU share of one core.
- c1000: the same with 1,000 concurrent streams, fronts with `--workers 2`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    HOST,
    PY,
    UVICORN_FLAGS,
    Load,
    Server,
    busy_seconds,
    chat_body,
    git_rev,
    machine,
    percentile,
    pin_client,
    raise_nofile,
    run_async,
    start_server,
    write_json,
)

from streamwarden.procs import free_port

NOFILE = 65536
WORKLOADS: dict[str, dict[str, Any]] = {
    "long": {"concurrency": 32, "tokens": 2000, "tps": 0, "ttft": 0, "workers": 1},
    "c200": {"concurrency": 200, "tokens": 20, "tps": 20, "ttft": 0.2, "workers": 1},
    "c10": {"concurrency": 10, "tokens": 20, "tps": 20, "ttft": 0.2, "workers": 1},
    "c1000": {"concurrency": 1000, "tokens": 20, "tps": 20, "ttft": 0.2, "workers": 2},
}
GATEWAY = "streamwarden serve"
NAIVE = "naive FastAPI + httpx"
LITELLM = "LiteLLM proxy"
DIRECT = "direct"


def _cores(workers: int) -> list[str]:
    return ["taskset", "-c", "0" if workers == 1 else "0,1"]


def start_front(name: str, upstream: str, workers: int) -> Server:
    port = free_port()
    if name == GATEWAY:
        exe = str(Path(PY).parent / "streamwarden")
        argv = [exe, "serve", "--host", HOST, "--port", str(port), "--no-access-log"]
        argv += ["--upstream", "openai", "--upstream-url", upstream, "--workers", str(workers)]
        # The request's `sim` object sets the fake upstream's pace; it must pass through.
        argv += ["--sim-controls", "on"]
        env = None
    elif name == NAIVE:
        argv = [PY, "-m", "uvicorn", "naive_passthrough:app", "--host", HOST, "--port", str(port)]
        argv += [*UVICORN_FLAGS, "--workers", str(workers)]
        env = {"UPSTREAM_URL": upstream}
    else:
        config = Path(os.environ.get("TMPDIR", "/tmp")) / "streamwarden-bench-litellm.yaml"
        config.write_text(
            "model_list:\n  - model_name: sim-1\n    litellm_params:\n"
            f"      model: openai/sim-1\n      api_base: {upstream}/v1\n      api_key: x\n"
        )
        argv = [shutil.which("litellm") or "litellm", "--config", str(config)]
        argv += ["--host", HOST, "--port", str(port), "--num_workers", str(workers)]
        env = None
    tag = name.split()[0].lower()
    return start_server(
        f"peers-{tag}", [*_cores(workers), *argv], port=port, nofile=NOFILE, extra_env=env
    )


def runqueue_wait(pids: Callable[[], list[int]]) -> float:
    """Seconds the processes' threads spent runnable but waiting for a CPU (schedstat):
    on a shared box, a front can be slow because it waited for a core, not because it
    worked."""
    total = 0
    for pid in pids():
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                total += int((task / "schedstat").read_text().split()[1])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9


async def run_load(
    port: int,
    spec: dict[str, Any],
    cpu: Callable[[], float],
    pids: Callable[[], list[int]],
    warmup: float,
    seconds: float,
) -> dict[str, Any]:
    body = chat_body(spec["tokens"], spec["tps"], spec["ttft"])
    stream_len = spec["ttft"] + (spec["tokens"] / spec["tps"] if spec["tps"] else 0.0)
    load = Load(port, body, spec["concurrency"], start_spread=stream_len)
    load.start()
    try:
        await asyncio.sleep(warmup + stream_len)
        counters = load.counters
        b0, t0 = busy_seconds(), time.perf_counter()
        c0, p0, e0, d0 = cpu(), time.process_time(), counters.events, counters.streams_done
        errors0, since, q0 = counters.errors, len(counters.ttft), runqueue_wait(pids)
        await asyncio.sleep(seconds)
        t1, c1, p1, q1 = time.perf_counter(), cpu(), time.process_time(), runqueue_wait(pids)
        e1, d1, b1 = counters.events, counters.streams_done, busy_seconds()
        ttft = [t for _, t in counters.ttft[since:]]
        errors = counters.errors - errors0
    finally:
        await load.stop()
    span = t1 - t0
    front_cpu = c1 - c0
    return {
        "seconds": round(span, 2),
        "events": e1 - e0,
        "streams_per_s": round((d1 - d0) / span, 1),
        "front_cpu_share": round(front_cpu / span, 3),
        "front_runqueue_wait_share": round((q1 - q0) / span, 3),
        "cpu_ms_per_stream": round(1000 * front_cpu / (d1 - d0), 2) if d1 > d0 else None,
        "events_per_cpu_s": round((e1 - e0) / front_cpu) if front_cpu > 0 else None,
        "ttft_p50_ms": round(percentile(ttft, 0.5) * 1000, 1) if ttft else None,
        "ttft_p99_ms": round(percentile(ttft, 0.99) * 1000, 1) if ttft else None,
        "ttft_samples": len(ttft),
        "errors": errors,
        "client_cpu_share": round((p1 - p0) / span, 3),
        "foreign_cpu_share": round(((b1 - b0) - front_cpu - (p1 - p0)) / span, 3),
        "load1": round(os.getloadavg()[0], 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.5)
    parser.add_argument(
        "--burst",
        type=int,
        default=1,
        help="upstream events per write (results to peers_burstN.json when not 1)",
    )
    parser.add_argument(
        "--name", help="results file name in bench/results (default: peers, or peers_burstN)"
    )
    parser.add_argument(
        "--layout",
        choices=("shared", "spread"),
        default="shared",
        help="shared: upstream and client on core 1; spread: on cores 2 and 3 (4+ cores)",
    )
    args = parser.parse_args()
    raise_nofile(NOFILE)
    upstream_core = "1"
    if args.layout == "spread":
        if (os.cpu_count() or 1) < 4:
            parser.error("--layout spread needs at least 4 cores")
        upstream_core = "2"
        os.sched_setaffinity(0, {3})
    else:
        pin_client()
    fronts = [GATEWAY, NAIVE] + ([LITELLM] if shutil.which("litellm") else [])
    up_port = free_port()
    fake = [PY, "bench/apps/fake_openai.py", "--port", str(up_port), "--burst", str(args.burst)]
    upstream = start_server("peers-fake", ["taskset", "-c", upstream_core, *fake], port=up_port)
    upstream_url = f"http://{HOST}:{up_port}"
    runs: list[dict[str, Any]] = []
    try:
        for round_no in range(args.rounds):
            for workload in args.workloads:
                spec = WORKLOADS[workload]
                systems = ([DIRECT] if workload != "long" else []) + fronts
                systems = [s for s in systems if s in os.environ.get("PEERS_ONLY", s)]
                for system in systems:
                    if system == DIRECT:
                        port, server = up_port, None
                        cpu: Callable[[], float] = upstream.cpu_seconds
                    else:
                        server = start_front(system, upstream_url, spec["workers"])
                        port, cpu = server.port, server.cpu_seconds
                    pids = server.pids if server is not None else upstream.pids
                    try:
                        result = run_async(
                            lambda p=port, s=spec, c=cpu, w=pids: run_load(  # type: ignore[misc]
                                p, s, c, w, args.warmup, args.seconds
                            )
                        )
                    finally:
                        if server is not None:
                            server.stop()
                    row = {"round": round_no, "workload": workload, "system": system, **result}
                    runs.append(row)
                    print(row, flush=True)
    finally:
        upstream.stop()
    summary = summarize(runs)
    path = write_json(
        args.name or ("peers" if args.burst == 1 else f"peers_burst{args.burst}"),
        {
            "commit": git_rev(),
            "machine": machine(),
            "method": __doc__,
            "burst": args.burst,
            "layout": args.layout,
            "summary": summary,
            "runs": runs,
        },
    )
    print(table(summary))
    print(f"wrote {path}")


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per workload and system: medians over rounds, with each round's figure compared to
    the baseline of the same round (direct for TTFT, the naive passthrough for events per
    CPU-second)."""
    out: dict[str, Any] = {}
    for workload in dict.fromkeys(r["workload"] for r in runs):
        rows = [r for r in runs if r["workload"] == workload]
        per: dict[str, Any] = {}
        for system in dict.fromkeys(r["system"] for r in rows):
            mine = [r for r in rows if r["system"] == system]
            added50, added99, ratio = [], [], []
            for r in mine:
                same = {x["system"]: x for x in rows if x["round"] == r["round"]}
                base = same.get(DIRECT)
                if base and r["ttft_p50_ms"] is not None and base["ttft_p50_ms"] is not None:
                    added50.append(r["ttft_p50_ms"] - base["ttft_p50_ms"])
                    added99.append(r["ttft_p99_ms"] - base["ttft_p99_ms"])
                naive = same.get(NAIVE)
                if naive and naive["events_per_cpu_s"] and r["events_per_cpu_s"]:
                    ratio.append(r["events_per_cpu_s"] / naive["events_per_cpu_s"])

            def med(key: str, mine: list[dict[str, Any]] = mine) -> float | None:
                values = [r[key] for r in mine if r[key] is not None]
                return round(statistics.median(values), 3) if values else None

            per[system] = {
                "rounds": len(mine),
                "events_per_cpu_s": med("events_per_cpu_s"),
                "vs_naive": round(statistics.median(ratio), 2) if ratio else None,
                "streams_per_s": med("streams_per_s"),
                "front_cpu_share": med("front_cpu_share"),
                "front_runqueue_wait_share": med("front_runqueue_wait_share"),
                "cpu_ms_per_stream": med("cpu_ms_per_stream"),
                "ttft_p50_ms": med("ttft_p50_ms"),
                "ttft_p99_ms": med("ttft_p99_ms"),
                "added_ttft_p50_ms": round(statistics.median(added50), 1) if added50 else None,
                "added_ttft_p99_ms": round(statistics.median(added99), 1) if added99 else None,
                "errors": sum(r["errors"] for r in mine),
                "load1": [r["load1"] for r in mine],
            }
        out[workload] = per
    return out


def table(summary: dict[str, Any]) -> str:
    lines = [
        "| workload | system | events/CPU-s (vs naive) | streams/s | front CPU | CPU ms/stream "
        "| front run-queue wait | added TTFT p50 / p99 | load1 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for workload, systems in summary.items():
        for system, s in systems.items():
            eps = (
                f"{s['events_per_cpu_s']:,.0f} ({s['vs_naive']:.2f}×)"
                if workload == "long" and s["events_per_cpu_s"] and s["vs_naive"]
                else "—"
            )
            added = (
                f"{s['added_ttft_p50_ms']:+.1f} / {s['added_ttft_p99_ms']:+.1f} ms"
                if s["added_ttft_p50_ms"] is not None and system != DIRECT
                else (f"{s['ttft_p50_ms']} / {s['ttft_p99_ms']} ms" if system == DIRECT else "—")
            )
            cpu = f"{s['front_cpu_share']:.0%}" if s["front_cpu_share"] is not None else "—"
            wait = s["front_runqueue_wait_share"]
            per = s["cpu_ms_per_stream"]
            loads = "–".join(f"{x:.1f}" for x in (min(s["load1"]), max(s["load1"])))
            lines.append(
                f"| {workload} | {system} | {eps} | {s['streams_per_s']} | {cpu} | "
                f"{per if per is not None else '—'} | {wait:.0%} | {added} | {loads} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
