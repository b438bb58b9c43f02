"""`streamwarden probe` and `streamwarden analyze`: flags, JSON shape, exit codes."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamwarden.cli import app
from streamwarden.probe.config import ProbeConfig, ProbeError, validate
from streamwarden.probe.target import SSEServer
from streamwarden.procs import free_port

runner = CliRunner()
FAST = ["--concurrency", "1,2", "--step-duration", "0.1", "--timeout", "5"]


def test_probe_healthy_writes_the_documented_json(sse_server: SSEServer, tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    url = sse_server.url + "/v1/chat/completions?n=5&interval=0.01"
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    result = runner.invoke(app, ["probe", url, *FAST, "--json", str(out)])
    assert result.exit_code == 0, result.output
    # The run tunes the collector for its rows; in-process callers get theirs back.
    assert (gc.get_threshold(), gc.get_freeze_count()) == (threshold, frozen)
    assert "no findings" in result.stdout
    data = json.loads(out.read_text())
    assert data["version"] == 1 and data["target"] == url
    step = data["steps"][0]
    for key in ("concurrency", "requests", "succeeded", "success_rate", "outcomes"):
        assert key in step
    assert set(step["ttfb_ms"]) == set(step["ttft_ms"]) == {"p50", "p90", "p99"}
    assert set(step["max_gap_ms"]) == {"p50", "p99"}
    assert step["success_rate"] == 1.0 and step["outcomes"] == {"ok": step["requests"]}
    req = data["requests"][0]
    for key in ("step", "start_ms", "status", "ttfb_ms", "ttft_ms", "end_ms", "outcome"):
        assert key in req
    assert req["terminated"] is True
    assert all(len(row) == 4 for row in req["reads"])
    assert sum(row[2] for row in req["reads"]) == req["events"] == 6
    assert data["diagnosis"] == []


def test_probe_posts_a_body_with_headers(sse_server: SSEServer, tmp_path: Path) -> None:
    body = tmp_path / "body.json"
    body.write_text('{"model": "m", "stream": true}')
    url = sse_server.url + "/v1/messages?fmt=anthropic&n=3"
    args = [
        "probe",
        url,
        *FAST,
        "--body",
        f"@{body}",
        "-H",
        "x-api-key: k",
        "--protocol",
        "anthropic",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output


def test_exit_code_follows_fail_on(sse_server: SSEServer, tmp_path: Path) -> None:
    url = sse_server.url + "/?status=500"
    out = tmp_path / "run.json"
    failing = runner.invoke(app, ["probe", url, *FAST, "--json", str(out)])
    assert failing.exit_code == 1
    assert "server_errors" in failing.stdout
    assert runner.invoke(app, ["probe", url, *FAST, "--fail-on", "never"]).exit_code == 0
    # analyze reaches the same verdict from the saved run, and writes the reports again.
    html = tmp_path / "again.html"
    again = runner.invoke(app, ["analyze", str(out), "--html", str(html)])
    assert again.exit_code == 1 and "server_errors" in again.stdout
    assert html.read_text().startswith("<!doctype html>")


def test_usage_errors_exit_2_with_one_line() -> None:
    port = free_port()
    cases = [
        ["probe", f"http://127.0.0.1:{port}/"],
        ["probe", "http://192.0.2.1/"],
        ["probe", "http://127.0.0.1:1/", "--body", "{nope"],
        ["probe", "http://127.0.0.1:1/", "--concurrency", "a,b"],
        ["probe", "http://127.0.0.1:1/", "--protocol", "xml"],
        ["probe", "http://127.0.0.1:1/", "--format", "xml"],  # the old name still works
        ["analyze", "/nonexistent/run.json"],
    ]
    for args in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert "Traceback" not in result.output


BAD_NUMBERS = [
    {"rate": 5.0, "max_inflight": 0},
    {"rate": 5.0, "max_inflight": -3},
    {"rate": 0.0},
    {"rate": -1.0},
    {"rate": float("nan")},
    {"ramp": -1.0},
    {"ramp": float("nan")},
    {"step_duration": 0.0},
    {"step_duration": -2.0},
    {"step_duration": float("inf")},
    {"timeout": 0.0},
    {"timeout": -1.0},
    {"timeout": float("nan")},
    {"concurrency": (1, 0)},
    {"concurrency": (-2,)},
    {"concurrency": ()},
    {"max_requests": 0},
]


@pytest.mark.parametrize("bad", BAD_NUMBERS, ids=repr)
def test_validate_rejects_numbers_that_hang_or_crash(bad: dict[str, object]) -> None:
    config = ProbeConfig(url="http://127.0.0.1:1/", **bad)  # type: ignore[arg-type]
    with pytest.raises(ProbeError):
        validate(config)


def test_validate_accepts_the_edges() -> None:
    validate(ProbeConfig(url="http://127.0.0.1:1/", rate=0.5, max_inflight=1, ramp=0.0))


@pytest.mark.parametrize(
    "extra",
    [
        ["--rate", "5", "--max-inflight", "0"],
        ["--rate", "5", "--max-inflight", "-1"],
        ["--ramp", "-1"],
        ["--rate", "-2"],
        ["--step-duration", "0"],
        ["--timeout", "-1"],
    ],
    ids=" ".join,
)
def test_cli_rejects_bad_numbers_in_one_line(sse_server: SSEServer, extra: list[str]) -> None:
    # A reachable target: the option alone must be the reason for exit 2, and quickly
    # (`--max-inflight 0` used to wait forever on a semaphore of 0).
    url = sse_server.url + "/?n=2&interval=0.01"
    args = [*FAST, *extra]
    proc = subprocess.run(
        [sys.executable, "-m", "streamwarden", "probe", url, *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2, (extra, proc.stdout, proc.stderr)
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_bad_fail_on_is_checked_first_by_probe_and_analyze(sse_server: SSEServer) -> None:
    url = sse_server.url + "/?n=2&interval=0.01"
    for args in (
        ["probe", url, *FAST, "--fail-on", "sometimes"],
        ["analyze", "/nonexistent/run.json", "--fail-on", "sometimes"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.strip().splitlines() == [
            f"streamwarden {args[0]}: --fail-on takes error, warning or never, not 'sometimes'"
            f" — see `streamwarden {args[0]} --help`"
        ]
        assert result.stdout == ""  # nothing ran, nothing was read


def test_analyze_rejects_what_is_not_a_run(tmp_path: Path) -> None:
    bad = tmp_path / "x.json"
    bad.write_text('{"version": 7}')
    result = runner.invoke(app, ["analyze", str(bad)])
    assert result.exit_code == 2 and "not a probe run" in result.stderr


MALFORMED_RUNS = [
    "[1, 2]",
    '"run"',
    "null",
    '{"version": 1, "steps": "x"}',
    '{"version": 1, "steps": [1]}',
    '{"version": 1, "requests": "x"}',
    '{"version": 1, "requests": [{"step": "a"}]}',
    '{"version": 1, "requests": [{"status": "200"}]}',
    '{"version": 1, "requests": [{"reads": [[1, 2]]}]}',
    '{"version": 1, "requests": [{"reads": [["t", 1, 0, 0]]}]}',
    '{"version": 1, "requests": [{"events": 1e999}]}',
    '{"version": 1, "steps": [{"loop_lag_samples": [[1]]}]}',
    '{"version": 1, "diagnosis": [{"severity": "error"}]}',
    '{"version": 1, "diagnosis": [{"id": "x", "evidence": []}]}',
    '{"version": 1, "config": [1]}',
    '{"version": 1, "target": 5}',
    "{nope",
    "[" * 100_000,
]


@pytest.mark.parametrize("text", MALFORMED_RUNS, ids=lambda t: t[:40])
def test_analyze_malformed_run_is_one_line_naming_the_file(tmp_path: Path, text: str) -> None:
    bad = tmp_path / "bad-run.json"
    bad.write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "streamwarden", "analyze", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, (text[:80], proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr + proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad-run.json" in lines[0], proc.stderr


def test_open_loop_reports_schedule_lag(sse_server: SSEServer, tmp_path: Path) -> None:
    out = tmp_path / "run.json"
    url = sse_server.url + "/?n=3&interval=0.01"
    args = [
        "probe",
        url,
        "--rate",
        "40",
        "--step-duration",
        "0.3",
        "--seed",
        "3",
        "--json",
        str(out),
    ]
    result = runner.invoke(app, args, env={"COLUMNS": "140"})
    assert result.exit_code == 0, result.output
    assert "lag p50/max ms" in result.stdout and "rate 40/s" in result.stdout
    step = json.loads(out.read_text())["steps"][0]
    assert step["rate"] == 40.0 and step["concurrency"] is None
    assert set(step["schedule_lag_ms"]) == {"p50", "p99", "max"}
