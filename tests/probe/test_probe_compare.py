"""`analyze` refuses what it cannot read, reads a lab result as its runs, and `--compare`
reports what changed between two runs with exit 1 on a regression."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamwarden.cli import app
from streamwarden.probe.compare import compare_runs
from streamwarden.probe.target import SSEServer
from streamwarden.probe.timeline import RequestRecord, Run, Step

runner = CliRunner()
FAST = ["--concurrency", "2", "--step-duration", "0.3", "--timeout", "5", "--fail-on", "never"]


def _run(ttft: float, ok: int = 4, failed: int = 0) -> Run:
    reqs = [
        RequestRecord(
            0,
            0.0,
            status=200,
            ttfb_ms=1.0,
            ttft_ms=ttft,
            end_ms=ttft + 40,
            outcome="ok",
            terminated=True,
            content_events=3,
            reads=[(ttft, 50, 1, 0), (ttft + 20, 50, 1, 0), (ttft + 40, 60, 2, 0)],
        )
        for _ in range(ok)
    ]
    reqs += [
        RequestRecord(0, 0.0, status=500, ttfb_ms=1.0, end_ms=2.0, outcome="http_error")
        for _ in range(failed)
    ]
    return Run("t", steps=[Step(0, concurrency=2, ended_ms=1000.0)], requests=reqs)


def test_compare_is_pure_and_judges_by_the_tolerance() -> None:
    same = compare_runs(_run(100.0), _run(105.0), tolerance_pct=10)
    assert not same.regressions
    # A few milliseconds are noise, however large in percent.
    assert not compare_runs(_run(1.0), _run(4.0), tolerance_pct=10).regressions
    slower = compare_runs(_run(100.0), _run(150.0), tolerance_pct=10)
    assert slower.regressions == [
        "TTFT p50 ms at c=2: 100 → 150 (+50%)",
        "TTFT p99 ms at c=2: 100 → 150 (+50%)",
    ]
    assert not compare_runs(_run(100.0), _run(150.0), tolerance_pct=60).regressions
    # Faster is never a regression, however far it moved.
    assert not compare_runs(_run(150.0), _run(100.0), tolerance_pct=0).regressions
    worse = compare_runs(_run(100.0), _run(100.0, ok=3, failed=1), tolerance_pct=10)
    assert any(line.startswith("success at c=2: 1 → 0.75") for line in worse.regressions)


def test_findings_that_appear_or_go() -> None:
    from streamwarden.findings import Finding, Severity

    before, after = _run(100.0), _run(100.0)
    before.diagnosis = [Finding("slow_first_token", Severity.WARNING, "s", "f")]
    after.diagnosis = [Finding("idle_timeout", Severity.ERROR, "s", "f", {"cut_after_idle_s": 2})]
    result = compare_runs(before, after)
    assert [f.id for f in result.appeared] == ["idle_timeout"]
    assert [f.id for f in result.gone] == ["slow_first_token"]
    assert result.regressions == ["idle_timeout appeared (error)"]
    # A warning that appears is shown, not a regression.
    assert not compare_runs(after, before).regressions


def test_compare_two_real_runs(sse_server: SSEServer, tmp_path: Path) -> None:
    fast, slow = tmp_path / "fast.json", tmp_path / "slow.json"
    base = sse_server.url + "/v1/chat/completions?n=4&interval=0.01"
    assert (
        runner.invoke(app, ["probe", base + "&ttft=0.01", *FAST, "--json", str(fast)]).exit_code
        == 0
    )
    assert (
        runner.invoke(app, ["probe", base + "&ttft=0.3", *FAST, "--json", str(slow)]).exit_code == 0
    )
    out = tmp_path / "cmp.json"
    result = runner.invoke(app, ["analyze", "--compare", str(fast), str(slow), "--json", str(out)])
    assert result.exit_code == 1, result.output
    assert "TTFT p50 ms" in result.stdout and "regressions" in result.stdout
    data = json.loads(out.read_text())
    assert any(c["metric"] == "TTFT p50 ms" and c["regression"] for c in data["changes"])
    # A run against itself: nothing moved, exit 0 (faster-is-fine is checked on pure runs).
    same = runner.invoke(app, ["analyze", "--compare", str(slow), str(slow), "--tolerance", "10"])
    assert same.exit_code == 0, same.output
    assert "no regression" in same.stdout


def test_compare_usage_errors(tmp_path: Path) -> None:
    one = tmp_path / "one.json"
    one.write_text(json.dumps(_run(10.0).to_json()))
    for args in (["--compare", str(one)], ["--compare", str(one), str(one), "--tolerance", "-1"]):
        result = runner.invoke(app, ["analyze", *args])
        assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1, result.output


def _lab_json(tmp_path: Path) -> Path:
    # A lab result as `lab --json` writes it: scenarios, each with the runs it recorded.
    cut = _run(100.0, ok=1, failed=3)
    path = tmp_path / "lab.json"
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "scale": 1 / 30,
                "pass": True,
                "scenarios": [
                    {"name": "healthy", "runs": {"main": _run(10.0).to_json()}},
                    {"name": "broken", "runs": {"main": cut.to_json()}},
                    {"name": "skipped", "skipped": "nginx not found"},
                ],
            }
        )
    )
    return path


def test_analyze_reads_a_lab_result_as_one_diagnosis_per_scenario(tmp_path: Path) -> None:
    result = runner.invoke(app, ["analyze", str(_lab_json(tmp_path))])
    assert result.exit_code == 1, result.output  # the broken scenario has server errors
    assert "scenario healthy" in result.stdout and "scenario broken" in result.stdout
    assert result.stdout.count("server_errors") == 1


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"version": 1, "scale": 0.03, "scenarios": []}', "holds no runs"),
        ('{"version": 1, "scenarios": [{"name": "x"}]}', "holds no runs"),
        ('{"version": 1}', "no 'steps' and 'requests'"),
        ('{"hello": "world", "n": [1, 2]}', "unsupported run version"),
        ('{"version": 1, "steps": [], "requests": []}', "holds no requests"),
    ],
)
def test_analyze_refuses_a_file_that_is_not_a_run(tmp_path: Path, text: str, says: str) -> None:
    bad = tmp_path / "random.json"
    bad.write_text(text)
    proc = subprocess.run(
        [sys.executable, "-m", "streamwarden", "analyze", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stdout
    assert proc.stdout == "" and "no findings" not in proc.stdout
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "random.json" in lines[0] and says in lines[0], proc.stderr
