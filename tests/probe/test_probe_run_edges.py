"""The edges of a run: early stop on a wall of 4xx, output paths checked before the load,
and Ctrl-C / SIGTERM writing a partial report marked incomplete."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamwarden.cli import app
from streamwarden.probe.schedule import EARLY_STOP_AFTER, early_stop_reason
from streamwarden.probe.target import SSEServer

runner = CliRunner()


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (401, "send the key with -H"),
        (403, "send the key with -H"),
        (404, "model or path not found"),
        (405, "use --body for POST"),
    ],
)
def test_a_wall_of_the_same_4xx_stops_the_run_early(
    sse_server: SSEServer, tmp_path: Path, status: int, hint: str
) -> None:
    out = tmp_path / "run.json"
    args = ["probe", f"{sse_server.url}/?status={status}", "--concurrency", "1,4"]
    result = runner.invoke(app, [*args, "--step-duration", "20", "--json", str(out)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"HTTP {status}" in lines[0] and hint in lines[0], lines
    run = json.loads(out.read_text())
    # One step, its first 20 requests (concurrency 1: none other in flight), no second step.
    assert len(run["steps"]) == 1 and len(run["requests"]) == EARLY_STOP_AFTER
    assert run["incomplete"].startswith("stopped early")


def test_no_early_stop_runs_the_step(sse_server: SSEServer) -> None:
    url = f"{sse_server.url}/?status=401"
    args = ["probe", url, "--concurrency", "1", "--max-requests", "25", "--no-early-stop"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output  # the server_errors finding, not a stop
    assert "25 requests" in result.stdout or "25" in result.stdout


def test_mixed_failures_or_server_errors_do_not_stop_early() -> None:
    n = EARLY_STOP_AFTER
    assert early_stop_reason([401] * (n - 1)) is None
    assert early_stop_reason([500] * n) is None
    assert early_stop_reason([401] * (n - 1) + [404]) is None
    assert early_stop_reason([None] * n) is None
    assert early_stop_reason([404] * n) is not None
    assert "check the request" in (early_stop_reason([429] * n) or "")


@pytest.mark.parametrize(
    ("option", "path", "message"),
    [
        ("--html", "/nonexistent-dir/report.html", "does not exist"),
        ("--json", "{tmp}", "is a directory"),
    ],
)
def test_output_paths_are_checked_before_the_first_request(
    sse_server: SSEServer, tmp_path: Path, option: str, path: str, message: str
) -> None:
    before = sse_server.count
    url = f"{sse_server.url}/?n=2&interval=0.01"
    args = ["probe", url, "--concurrency", "1", "--step-duration", "0.5"]
    result = runner.invoke(app, [*args, option, path.format(tmp=tmp_path)])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and option in lines[0] and message in lines[0], lines
    assert sse_server.count == before  # not one request was made


@pytest.mark.parametrize(
    ("signum", "name"), [(signal.SIGINT, "SIGINT"), (signal.SIGTERM, "SIGTERM")]
)
def test_a_signal_stops_the_load_and_writes_a_partial_report(
    sse_server: SSEServer, tmp_path: Path, signum: int, name: str
) -> None:
    out, html = tmp_path / "run.json", tmp_path / "run.html"
    # Long streams: four of them are in flight when the signal comes, and one ends within
    # the 2 s grace (n=30 at 0.05 s) while the slow ones are cut.
    before = sse_server.count
    url = f"{sse_server.url}/?n=400&interval=0.05&short=30"
    argv = [sys.executable, "-m", "streamwarden", "probe", url, "--concurrency", "4,8"]
    argv += ["--step-duration", "60", "--json", str(out), "--html", str(html)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while sse_server.count - before < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        asked = time.monotonic()
        proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=30)
        took = time.monotonic() - asked
    finally:
        proc.kill()
    assert proc.returncode == 128 + signum, (stdout, stderr)
    assert f"interrupted by {name}" in stderr and "Traceback" not in stderr
    run = json.loads(out.read_text())
    assert run["incomplete"].startswith(f"interrupted by {name}")
    assert len(run["steps"]) == 1  # the second step never started
    outcomes = {r["outcome"] for r in run["requests"]}
    assert "stopped" in outcomes, outcomes  # the long streams, cut after the grace
    assert all(r["reads"] for r in run["requests"] if r["outcome"] == "stopped")
    assert "Incomplete run" in html.read_text()
    assert took < 20  # the grace is 2 s; a loaded box gets wide room
