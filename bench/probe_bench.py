"""Probe benchmarks (results in docs/BENCHMARKS.md, section "Probe").

    .venv/bin/python bench/probe_bench.py capacity --streams 5000
    .venv/bin/python bench/probe_bench.py throughput --streams 200 --duration 15

capacity: one probe process (the CLI) holds N concurrent streams against
bench/probe_bench_target.py in another process; its TTFT is compared with the server's own
CLOCK_MONOTONIC timestamp of each stream's first write (matched by client port).

throughput: events ingested per CPU-second of the client process, for the probe and its
peers, against the same target and the same offered load. CPU is the client's own
user+sys time (os.wait4), startup included for every tool.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from streamwarden.lab.procs import free_port, wait_for_port
from streamwarden.probe.timeline import percentile

BENCH = Path(__file__).resolve().parent
PY = sys.executable
BIN = Path(PY).parent


def start_target(tmp: Path) -> tuple[subprocess.Popen[bytes], int, Path]:
    port = free_port()
    log = tmp / "target-log.json"
    proc = subprocess.Popen([PY, str(BENCH / "probe_bench_target.py"), str(port), str(log)])
    wait_for_port("127.0.0.1", port)
    return proc, port, log


def stop_target(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Run a client; return (cpu seconds of that process, wall seconds, stdout)."""
    out = tempfile.TemporaryFile()
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    return usage.ru_utime + usage.ru_stime, wall, out.read().decode()


def capacity(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        target, port, log = start_target(tmp)
        run_json = tmp / "run.json"
        # Streams of `hold` seconds, started over `ramp` seconds: all N are open at once.
        url = f"http://127.0.0.1:{port}/?n={args.hold}&interval=1&ttft=0.5"
        argv = [
            str(BIN / "streamwarden"),
            "probe",
            url,
            "--concurrency",
            str(args.streams),
            "--step-duration",
            "1",
            "--ramp",
            str(args.ramp),
            "--timeout",
            str(args.hold + 60),
            "--json",
            str(run_json),
            "--fail-on",
            "never",
        ]
        try:
            cpu, wall, _ = timed(argv)
        finally:
            stop_target(target)
        run = json.loads(run_json.read_text())
        server = {int(k): v for k, v in json.loads(log.read_text()).items()}
    reqs = run["requests"]
    origin = run["monotonic_origin_s"]
    edges = sorted(
        [(r["start_ms"], 1) for r in reqs] + [(r["start_ms"] + r["end_ms"], -1) for r in reqs]
    )
    open_now = peak = 0
    for _, d in edges:
        open_now += d
        peak = max(peak, open_now)
    errors = [
        (origin + (r["start_ms"] + r["ttft_ms"]) / 1000 - server[r["local_port"]]) * 1000
        for r in reqs
        if r["ttft_ms"] is not None and r["local_port"] in server
    ]
    step = run["steps"][0]
    return {
        "streams": len(reqs),
        "ok": sum(r["outcome"] == "ok" for r in reqs),
        "peak_open": peak,
        "ttft_error_ms": {
            q: round(percentile(errors, p), 2) for q, p in (("p50", 50), ("p99", 99), ("max", 100))
        },
        "matched": len(errors),
        "probe_cpu_s": round(cpu, 2),
        "wall_s": round(wall, 1),
        "probe_loop_lag_ms": step["loop_lag_ms"],
        "events": sum(r["events"] for r in reqs),
    }


def throughput(args: argparse.Namespace) -> list[dict[str, Any]]:
    path = f"/?n={args.events}&interval={args.interval}"
    n, d = str(args.streams), str(args.duration)
    results = []
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        target, port, _ = start_target(tmp)
        url = f"http://127.0.0.1:{port}{path}"
        try:
            tools: list[tuple[str, list[str], dict[str, str] | None, Path | None]] = [
                (
                    "streamwarden probe (CLI, uvloop)",
                    [
                        str(BIN / "streamwarden"),
                        "probe",
                        url,
                        "--concurrency",
                        n,
                        "--step-duration",
                        d,
                        "--json",
                        str(tmp / "p.json"),
                        "--fail-on",
                        "never",
                    ],
                    None,
                    tmp / "p.json",
                ),
                (
                    "streamwarden probe (asyncio loop)",
                    [PY, str(BENCH / "probe_clients.py"), "probe-asyncio", url, n, d],
                    None,
                    None,
                ),
                (
                    "aiohttp client, no recording",
                    [PY, str(BENCH / "probe_clients.py"), "aiohttp", url, n, d],
                    None,
                    None,
                ),
                (
                    "httpx client, no recording",
                    [PY, str(BENCH / "probe_clients.py"), "httpx", url, n, d],
                    None,
                    None,
                ),
            ]
            if shutil.which("locust", path=str(BIN)):
                env = {
                    **os.environ,
                    "PROBE_BENCH_EVENTS": str(tmp / "locust.json"),
                    "PROBE_BENCH_PATH": path,
                }
                tools.append(
                    (
                        "locust FastHttpUser (iter_lines)",
                        [
                            str(BIN / "locust"),
                            "-f",
                            str(BENCH / "probe_locustfile.py"),
                            "--headless",
                            "-u",
                            n,
                            "-r",
                            n,
                            "-t",
                            f"{int(args.duration)}s",
                            "--host",
                            f"http://127.0.0.1:{port}",
                            "--only-summary",
                            "--stop-timeout",
                            "0",
                        ],
                        env,
                        tmp / "locust.json",
                    )
                )
            for name, argv, env, events_file in tools:
                if args.only and not any(k in name for k in args.only):
                    continue
                cpu, wall, out = timed(argv, env)
                if events_file is not None and events_file.name == "p.json":
                    events = sum(
                        r["events"] for r in json.loads(events_file.read_text())["requests"]
                    )
                elif events_file is not None:
                    events = json.loads(events_file.read_text())["events"]
                else:
                    events = json.loads(out.strip().splitlines()[-1])["events"]
                row = {
                    "tool": name,
                    "events": events,
                    "cpu_s": round(cpu, 2),
                    "wall_s": round(wall, 1),
                    "events_per_cpu_s": round(events / cpu) if cpu else None,
                }
                print(json.dumps(row), flush=True)
                results.append(row)
        finally:
            stop_target(target)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="cmd", required=True)
    cap = sub.add_parser("capacity")
    cap.add_argument("--streams", type=int, default=5000)
    cap.add_argument("--hold", type=int, default=30, help="seconds each stream lasts")
    cap.add_argument("--ramp", type=float, default=10.0)
    thr = sub.add_parser("throughput")
    thr.add_argument("--streams", type=int, default=200)
    thr.add_argument("--duration", type=float, default=15.0)
    thr.add_argument("--events", type=int, default=300, help="events per stream")
    thr.add_argument("--interval", type=float, default=0.01)
    thr.add_argument("--only", nargs="*")
    args = parser.parse_args()
    result = capacity(args) if args.cmd == "capacity" else throughput(args)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
