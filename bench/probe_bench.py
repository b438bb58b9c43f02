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
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from streamwarden.probe.timeline import percentile
from streamwarden.procs import free_port, wait_for_port

BENCH = Path(__file__).resolve().parent
PY = sys.executable
BIN = Path(PY).parent


def start_target(
    tmp: Path, defaults: tuple[str, ...] = ("30", "1")
) -> tuple[subprocess.Popen[bytes], int, Path]:
    port = free_port()
    log = tmp / f"target-log-{port}.json"
    argv = [PY, str(BENCH / "probe_bench_target.py"), str(port), str(log), *defaults]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
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
        written = json.loads(log.read_text())["first_write"]
        server = {int(k): v for k, v in written.items()}
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


def tool_commands(
    url: str, host: str, path: str, n: str, d: str, tmp: Path
) -> list[tuple[str, list[str], dict[str, str] | None, Path | None]]:
    """(name, argv, env, file holding the tool's own event count) for each client."""
    clients = str(BENCH / "probe_clients.py")
    probe_json = tmp / "probe.json"
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
                str(probe_json),
                "--fail-on",
                "never",
            ],
            None,
            probe_json,
        ),
        (
            "streamwarden probe (CLI, uvloop, summary only)",
            [
                str(BIN / "streamwarden"),
                "probe",
                url,
                "--concurrency",
                n,
                "--step-duration",
                d,
                "--fail-on",
                "never",
            ],
            None,
            None,
        ),
        (
            "streamwarden probe --engine locust --workers 2",
            [
                str(BIN / "streamwarden"),
                "probe",
                url,
                "--engine",
                "locust",
                "--workers",
                "2",
                "--concurrency",
                n,
                "--step-duration",
                d,
                "--json",
                str(tmp / "probe-locust.json"),
                "--fail-on",
                "never",
            ],
            None,
            tmp / "probe-locust.json",
        ),
        (
            "streamwarden probe (API, asyncio loop)",
            [PY, clients, "probe-asyncio", url, n, d],
            None,
            None,
        ),
        (
            "uvloop protocol that ignores every read (floor)",
            [PY, clients, "floor", url, n, d],
            None,
            None,
        ),
        ("aiohttp client, no recording", [PY, clients, "aiohttp", url, n, d], None, None),
        ("httpx client, no recording", [PY, clients, "httpx", url, n, d], None, None),
    ]
    if (BIN / "locust").exists():
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
                    f"{int(float(d))}s",
                    "--host",
                    host,
                    "--only-summary",
                    "--stop-timeout",
                    "0",
                ],
                env,
                tmp / "locust.json",
            )
        )
    if (BIN / "guidellm").exists():
        prompts = tmp / "prompts.txt"
        prompts.write_text("hello, how are you?\n" * 100_000)  # a row per request
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        tools.append(
            (
                "guidellm (openai_http, concurrent)",
                [
                    str(BIN / "guidellm"),
                    "run",
                    "--backend",
                    f"kind=openai_http,target={host},model=m",
                    "--profile",
                    f"kind=concurrent,streams={n}",
                    "--constraint",
                    f"kind=max_duration,seconds={d}",
                    "--data",
                    f"kind=text_file,path={prompts}",
                    "--output",
                    f"kind=json,path={tmp / 'guidellm.json'}",
                    "--disable-console",
                ],
                env,
                None,
            )
        )
    return tools


def own_count(name: str, out: str, events_file: Path | None) -> int | None:
    if name.endswith("summary only"):
        return None
    if events_file is None:
        line = out.strip().splitlines()[-1] if out.strip() else ""
        return json.loads(line)["events"] if line.startswith("{") else None
    if not events_file.exists():
        return None
    data = json.loads(events_file.read_text())
    if "requests" in data:
        return sum(r["events"] for r in data["requests"])
    return int(data["events"])


def throughput(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Each tool against a fresh target; the target counts the events it wrote.

    `--repeat N` runs N rounds, every tool once per round in turn, and reports each tool's
    median: on a shared 2-core VM one run can swing 15 %, and interleaving spreads the
    drift over all tools alike.
    """
    path = f"/?n={args.events}&interval={args.interval}"
    n, d = str(args.streams), str(args.duration)
    rows: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        names = [
            name
            for name, *_ in tool_commands("", "", path, n, d, tmp)
            if not args.only or any(k in name for k in args.only)
        ]
        for _ in range(args.repeat):
            for name in names:
                row = _one_tool(name, path, n, d, tmp, args)
                print(json.dumps(row), flush=True)
                rows.setdefault(name, []).append(row)
    results = []
    for runs in rows.values():
        runs.sort(key=lambda r: r["events_per_cpu_s"] or 0)
        median = dict(runs[len(runs) // 2])
        median["runs_events_per_cpu_s"] = [r["events_per_cpu_s"] for r in runs]
        results.append(median)
    return results


def _one_tool(
    name: str, path: str, n: str, d: str, tmp: Path, args: argparse.Namespace
) -> dict[str, Any]:
    defaults = (str(args.events), str(args.interval), args.pacing)
    target, port, log = start_target(tmp, defaults)
    host = f"http://127.0.0.1:{port}"
    try:
        tool = next(x for x in tool_commands(host + path, host, path, n, d, tmp) if x[0] == name)
        _, argv, env, events_file = tool
        cpu, wall, out = timed(argv, env)
    finally:
        stop_target(target)
    written = json.loads(log.read_text())["events"]
    return {
        "tool": name,
        "pacing": args.pacing,
        "events_written": written,
        "events_counted_by_tool": own_count(name, out, events_file),
        "cpu_s": round(cpu, 2),
        "wall_s": round(wall, 1),
        "events_per_cpu_s": round(written / cpu) if cpu else None,
    }


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
    thr.add_argument("--repeat", type=int, default=1, help="rounds; each tool's median")
    thr.add_argument(
        "--pacing",
        choices=("independent", "batched"),
        default="independent",
        help="a timer per stream, or one decode step for all (bench/probe_bench_target.py)",
    )
    args = parser.parse_args()
    result = capacity(args) if args.cmd == "capacity" else throughput(args)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
