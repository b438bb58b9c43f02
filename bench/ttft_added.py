"""Added time to first token at 1,000 concurrent streams, against calling the sim directly.

    .venv/bin/python bench/ttft_added.py [--concurrency 1000] [--rounds 3] [--experiments]

The baseline is the raw ASGI app (bench/apps/raw_asgi.py), which calls `sim_tokens` itself
with the same parameters and the same framing. The client keeps `concurrency` streams open
(each worker starts its next stream when one ends, starts spread over one stream length, so
requests arrive steadily instead of in one burst) and times every stream from sending the
request to its first `data:` event. Servers on core 0, this client on core 1.
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
    Load,
    Server,
    busy_seconds,
    chat_body,
    gateway,
    git_rev,
    machine,
    percentile,
    pin_client,
    raise_nofile,
    run_async,
    uvicorn_app,
    write_json,
)

APPS: list[tuple[str, str]] = [
    ("sim called directly (raw ASGI, baseline)", "raw_asgi"),
    ("streamwarden guard (stream_response)", "guard_app"),
    ("streamwarden serve (full gateway)", "gateway"),
]
BASELINE = APPS[0][0]
#: --experiments: the proposed fixes, prototyped in bench/apps/exp_nocycle.py (src untouched),
#: and a naive FastAPI app for reference. Module, then extra environment.
EXPERIMENTS: list[tuple[str, str, dict[str, str]]] = [
    ("reference: FastAPI StreamingResponse (naive)", "fastapi_naive", {}),
    ("experiment: gateway app, helper tasks end without cycles", "exp_nocycle:gateway_app", {}),
    (
        "experiment: same + gc.freeze() + gc.set_threshold(700, 10, 1000)",
        "exp_nocycle:gateway_app",
        {"BENCH_GC": "700,10,1000"},
    ),
]
NOFILE = 65536
#: A baseline round whose p99 is this far above its p50 (seconds) marks the run noisy.
NOISY_SPREAD = 0.020


def start(module: str, extra_env: dict[str, str] | None = None) -> Server:
    if module == "gateway":
        # The request's `sim` object sets the same ttft/tps/tokens as for the others.
        return gateway("ttft-gateway", [], nofile=NOFILE)
    name = "ttft-" + module.replace(":", "-")
    return uvicorn_app(name, module, nofile=NOFILE, extra_env=extra_env)


async def one(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    body = chat_body(args.tokens, args.tps, args.ttft)
    stream_len = args.ttft + (args.tokens - 1) / args.tps
    load = Load(server.port, body, args.concurrency, start_spread=stream_len)
    load.start()
    try:
        # Warm up for the ramp plus one stream length, so arrivals are in steady state.
        await asyncio.sleep(stream_len * 2)
        b0 = busy_seconds()
        t0, c0, p0 = time.perf_counter(), server.cpu_seconds(), time.process_time()
        await asyncio.sleep(args.duration)
        t1, c1, p1 = time.perf_counter(), server.cpu_seconds(), time.process_time()
        b1 = busy_seconds()
        open_streams = load.counters.open
    finally:
        await load.stop()
    ttfts = [ttft for sent, ttft in load.counters.ttft if t0 <= sent < t1]
    return {
        "samples": len(ttfts),
        "open_streams": open_streams,
        "errors": load.counters.errors,
        "server_cpu_share": (c1 - c0) / (t1 - t0),
        "client_cpu_share": (p1 - p0) / (t1 - t0),
        # Other people's jobs on this shared machine: a high figure marks a noisy round.
        "foreign_cpu_share": ((b1 - b0) - (c1 - c0) - (p1 - p0)) / (t1 - t0),
        "ttfts": ttfts,
    }


def summary(ttfts: list[float]) -> dict[str, float]:
    return {f"p{q}": percentile(ttfts, q / 100) for q in (50, 90, 99)} | {"max": max(ttfts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--ttft", type=float, default=0.5)
    parser.add_argument("--tps", type=float, default=2.0)
    parser.add_argument("--tokens", type=int, default=10)
    parser.add_argument("--duration", type=float, default=12.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--experiments", action="store_true", help="add the reference and fix-prototype rows"
    )
    args = parser.parse_args()
    pin_client()
    raise_nofile(NOFILE)

    apps = [(label, module, {}) for label, module in APPS]
    if args.experiments:
        apps += EXPERIMENTS
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _ in apps}
    for round_ in range(args.rounds):
        for label, module, extra_env in apps:
            server = start(module, extra_env)
            try:
                run = run_async(lambda s=server: one(s, args))
            finally:
                server.stop()
            s = summary(run["ttfts"])
            print(
                f"round {round_} {label:42s} n={run['samples']} open={run['open_streams']} "
                f"p50={s['p50'] * 1e3:.1f} p99={s['p99'] * 1e3:.1f} ms "
                f"cpu {run['server_cpu_share']:.0%} others {run['foreign_cpu_share']:.0%} "
                f"errors {run['errors']}",
                file=sys.stderr,
            )
            runs[label].append(run | {"round": round_, **s})

    rows = []
    base = summary([t for r in runs[BASELINE] for t in r["ttfts"]])
    for label, _, _ in apps:
        pooled = summary([t for r in runs[label] for t in r["ttfts"]])
        # Per round too: each app against the baseline measured in the same round.
        added_per_round = [
            r["p99"] - b["p99"] for r, b in zip(runs[label], runs[BASELINE], strict=True)
        ]
        rows.append(
            {
                "app": label,
                "samples": sum(r["samples"] for r in runs[label]),
                "open_streams": min(r["open_streams"] for r in runs[label]),
                "errors": sum(r["errors"] for r in runs[label]),
                "server_cpu_share": statistics.median(r["server_cpu_share"] for r in runs[label]),
                "foreign_cpu_share_max": max(r["foreign_cpu_share"] for r in runs[label]),
                **pooled,
                "added_p50": pooled["p50"] - base["p50"],
                "added_p99": pooled["p99"] - base["p99"],
                "added_p99_per_round": added_per_round,
            }
        )
    added = rows[len(APPS) - 1]["added_p99"]  # the product row: `streamwarden serve`
    # Other jobs on a 2-core box can ruin a p99. The baseline's own tail is the noise floor
    # of a round: only rounds where it stayed narrow decide the target, each app against
    # the baseline of its own round.
    clean = [i for i, r in enumerate(runs[BASELINE]) if r["p99"] - r["p50"] <= NOISY_SPREAD]
    product = rows[len(APPS) - 1]
    added_clean = (
        statistics.median(product["added_p99_per_round"][i] for i in clean) if clean else None
    )
    noisy = added_clean is None
    result = {
        "benchmark": "ttft_added",
        "command": "python bench/ttft_added.py " + " ".join(sys.argv[1:]),
        "git": git_rev(),
        "machine": machine(),
        "params": vars(args),
        "baseline": BASELINE,
        "rows": rows,
        "target": "gateway p99 TTFT - baseline p99 TTFT < 5 ms",
        "clean_rounds": clean,
        "added_p99_clean_rounds": added_clean,
        "target_met": None if added_clean is None else added_clean < 0.005,
        "runs": {
            label: [{k: v for k, v in r.items() if k != "ttfts"} for r in rs]
            for label, rs in runs.items()
        },
    }
    # The experiment rows go to their own file, so the product figure stays comparable.
    write_json("ttft_added_experiments" if args.experiments else "ttft_added", result)
    print(
        f"\n{args.concurrency} concurrent streams, sim ttft {args.ttft:g} s, {args.tokens} tokens "
        f"at {args.tps:g}/s, {args.duration:g} s window x {args.rounds} rounds (pooled)\n"
    )
    print(
        "| app | streams timed | p50 ms | p90 ms | p99 ms | server CPU "
        "| added p50 ms | added p99 ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['app']} | {r['samples']:,} | {r['p50'] * 1e3:.1f} | {r['p90'] * 1e3:.1f} "
            f"| {r['p99'] * 1e3:.1f} | {r['server_cpu_share']:.0%} "
            f"| {r['added_p50'] * 1e3:+.2f} | {r['added_p99'] * 1e3:+.2f} |"
        )
    foreign = max(r["foreign_cpu_share_max"] for r in rows)
    print(f"\nother jobs on the machine used up to {foreign:.0%} of a core in a window")
    print(
        f"clean rounds (baseline p99 - p50 <= {NOISY_SPREAD * 1e3:g} ms): {clean}; gateway "
        f"added p99 in them: "
        + ("n/a" if added_clean is None else f"{added_clean * 1e3:+.2f} ms (median)")
    )
    verdict = (
        "INCONCLUSIVE (no clean round)" if noisy else ("met" if result["target_met"] else "MISSED")
    )
    print(f"target (added p99 < 5 ms): {verdict}; pooled over all rounds {added * 1e3:+.2f} ms")


if __name__ == "__main__":
    main()
