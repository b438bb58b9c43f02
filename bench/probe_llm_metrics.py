"""The probe's ITL and TPOT against an independent client on the same target and load.

    .venv/bin/python bench/probe_llm_metrics.py [--concurrency 4] [--seconds 4] [--rounds 2]

The target is `streamwarden serve` (its simulated model, set by its flags: TTFT 0.1 s, 64
tokens at 50 tokens/s, usage at the end). The peer is the official `openai` SDK (`AsyncOpenAI`, streaming), timing
each chunk that carries content as it comes out of the SDK's iterator, with the same
definitions: ITL = the gap between consecutive content chunks, TPOT = (last token − first
token) / (usage tokens − 1). Probe and SDK alternate in rounds at the same concurrency, so
both see the same load on the same machine; the script prints both and their difference and
writes bench/results/probe_llm_metrics.json.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI

from streamwarden.probe import ProbeConfig, run_probe
from streamwarden.probe.metrics import percentile, stream_metrics
from streamwarden.procs import ManagedProcess, free_port, wait_for_port

RESULTS = Path(__file__).resolve().parent / "results"
SIM = {"ttft": 0.1, "tokens": 64, "tps": 50.0}
MESSAGES = [{"role": "user", "content": "hello"}]


def _figures(itl: list[float], tpot: list[float], ttft: list[float], n: int) -> dict[str, Any]:
    return {
        "requests": n,
        "itl_p50_ms": round(percentile(itl, 50), 3),
        "itl_p99_ms": round(percentile(itl, 99), 3),
        "itl_mean_ms": round(statistics.fmean(itl), 3),
        "tpot_p50_ms": round(percentile(tpot, 50), 3),
        "tpot_mean_ms": round(statistics.fmean(tpot), 3),
        "ttft_p50_ms": round(percentile(ttft, 50), 3),
    }


async def probe_round(url: str, concurrency: int, seconds: float) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "sim-1", "stream": True, "messages": MESSAGES}
    body["stream_options"] = {"include_usage": True}
    config = ProbeConfig(
        url=url, body=json.dumps(body).encode(), concurrency=(concurrency,), step_duration=seconds
    )
    run = await run_probe(config)
    ok = [stream_metrics(r) for r in run.requests if r.succeeded]
    itl = [g for m in ok for g in m.itl_ms]
    tpot = [m.tpot_ms for m in ok if m.tpot_ms is not None]
    ttft = [m.ttft_ms for m in ok if m.ttft_ms is not None]
    assert all(m.tokens_from_usage for m in ok)
    return _figures(itl, tpot, ttft, len(ok))


async def sdk_round(base: str, concurrency: int, seconds: float) -> dict[str, Any]:
    client = AsyncOpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
    itl: list[float] = []
    tpot: list[float] = []
    ttft: list[float] = []
    done = 0
    deadline = time.perf_counter() + seconds

    async def one() -> None:
        nonlocal done
        t0 = time.perf_counter()
        stream = await client.chat.completions.create(
            model="sim-1",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        times: list[float] = []
        tokens = None
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                times.append((time.perf_counter() - t0) * 1000)
            if chunk.usage is not None:
                tokens = chunk.usage.completion_tokens
        if times:
            ttft.append(times[0])
            itl.extend(b - a for a, b in itertools.pairwise(times))
            n = tokens or len(times)
            if n >= 2:
                tpot.append((times[-1] - times[0]) / (n - 1))
        done += 1

    async def worker() -> None:
        while True:
            await one()
            if time.perf_counter() >= deadline:
                return

    async with asyncio.TaskGroup() as tg:
        for _ in range(concurrency):
            tg.create_task(worker())
    await client.close()
    return _figures(itl, tpot, ttft, done)


def _diff(a: float, b: float) -> float:
    return round(100.0 * (a - b) / b, 2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    port = free_port()
    argv = [sys.executable, "-m", "streamwarden", "serve", "--port", str(port)]
    argv += ["--sim-ttft", str(SIM["ttft"]), "--sim-tokens", str(SIM["tokens"])]
    argv += ["--sim-tps", str(SIM["tps"])]
    with ManagedProcess(argv):
        wait_for_port("127.0.0.1", port, timeout=20)
        base = f"http://127.0.0.1:{port}"
        rounds = []
        for _ in range(args.rounds):
            probe = asyncio.run(
                probe_round(base + "/v1/chat/completions", args.concurrency, args.seconds)
            )
            sdk = asyncio.run(sdk_round(base, args.concurrency, args.seconds))
            rounds.append({"probe": probe, "openai_sdk": sdk})
    keys = ("itl_p50_ms", "itl_mean_ms", "tpot_p50_ms", "tpot_mean_ms", "ttft_p50_ms")
    summary = {
        key: {
            "probe": statistics.fmean(r["probe"][key] for r in rounds),
            "openai_sdk": statistics.fmean(r["openai_sdk"][key] for r in rounds),
        }
        for key in keys
    }
    for key, pair in summary.items():
        pair["diff_pct"] = _diff(pair["probe"], pair["openai_sdk"])
        print(
            f"{key:13} probe {pair['probe']:8.3f}  openai sdk {pair['openai_sdk']:8.3f}  "
            f"{pair['diff_pct']:+.2f}%"
        )
    out = {
        "command": "bench/probe_llm_metrics.py " + " ".join(sys.argv[1:]),
        "sim": SIM,
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "rounds": rounds,
        "summary": summary,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "probe_llm_metrics.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
