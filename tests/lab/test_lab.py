"""The lab as CI's integration test: every scenario on real nginx, HAProxy, gunicorn and
uvicorn processes on loopback, probed and diagnosed, then checked for leftovers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from procscan import processes_referring_to

from streamwarden.lab import SCENARIOS, LabResult, ScenarioResult

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

NAMES = [s.name for s in SCENARIOS]


def _result(lab: LabResult, name: str) -> ScenarioResult:
    result = next(r for r in lab.scenarios if r.name == name)
    if result.skipped:
        pytest.skip(result.skipped)
    return result


def _finding(result: ScenarioResult, finding_id: str) -> Mapping[str, Any]:
    found = next((f.evidence for f in result.findings if f.id == finding_id), None)
    assert found is not None, (
        f"{result.name}: no {finding_id!r} finding; diagnosed {result.diagnosed}: {result.evidence}"
    )
    return found


@pytest.mark.parametrize("name", NAMES)
def test_scenario_passes(lab_result: LabResult, name: str) -> None:
    result = _result(lab_result, name)
    assert result.error is None, result.error
    assert set(result.expected) <= set(result.diagnosed), result.evidence
    assert result.passed, result.evidence
    assert result.evidence


def test_sync_workers_capacity_is_four(lab_result: LabResult) -> None:
    result = _result(lab_result, "sync-workers")
    evidence = _finding(result, "worker_exhaustion")
    assert evidence["capacity"] == 4
    assert evidence["knee_concurrency"] == 8


def test_async_workers_serve_ten_times_the_concurrency(lab_result: LabResult) -> None:
    result = _result(lab_result, "async-workers")
    run = result.runs["probe"]
    peak = max(s.concurrency or 0 for s in run.steps)
    assert peak == 40
    assert all(r.succeeded for r in run.requests)
    assert "worker_exhaustion" not in result.diagnosed


def test_nginx_buffering_bursts(lab_result: LabResult) -> None:
    evidence = _finding(_result(lab_result, "nginx-buffering"), "proxy_buffering")
    assert 2000 <= int(str(evidence["burst_bytes"])) <= 8192


def test_idle_timeouts_cut_at_the_scaled_timeout(lab_result: LabResult) -> None:
    ran = []
    for name in ("nginx-idle-timeout", "haproxy-timeout"):
        result = next(r for r in lab_result.scenarios if r.name == name)
        if result.skipped:
            continue
        ran.append(name)
        cut = float(str(_finding(result, "idle_timeout")["cut_after_idle_s"]))
        assert 1.5 <= cut <= 2.6, (name, cut)  # 60 s at 1:30
    if not ran:
        pytest.skip("neither nginx nor HAProxy is installed: no idle-timeout scenario ran")


def test_heartbeat_fix_survives_the_same_pause(lab_result: LabResult) -> None:
    result = _result(lab_result, "heartbeat-fix")
    requests = result.runs["probe"].requests
    assert requests and all(r.succeeded and r.heartbeats > 0 for r in requests)
    assert result.diagnosed == []


def test_total_timeout_is_not_helped_by_heartbeats(lab_result: LabResult) -> None:
    result = _result(lab_result, "lb-total-timeout")
    evidence = _finding(result, "total_timeout")
    assert 0.9 <= float(str(evidence["cut_at_s"])) <= 1.3  # GCP's 30 s at 1:30
    assert sum(r.heartbeats for r in result.runs["probe"].requests) > 0
    assert "idle_timeout" not in result.diagnosed
    assert "heartbeats" in result.note and "cannot help" in result.note


def test_blocked_loop(lab_result: LabResult) -> None:
    evidence = _finding(_result(lab_result, "blocked-loop"), "blocked_event_loop")
    assert int(str(evidence["streams_hit"])) >= 3


def test_no_cancel_counts_tokens_after_disconnect(lab_result: LabResult) -> None:
    result = _result(lab_result, "no-cancel")
    server = result.details["server"]
    assert all(server[route]["disconnects"] == 4 for route in ("naive", "finally", "guarded"))
    assert server["naive"]["after_disconnect"] > 0
    assert server["guarded"]["after_disconnect"] == 0


def test_fixed_stack_has_no_findings(lab_result: LabResult) -> None:
    result = _result(lab_result, "fixed-stack")
    assert result.diagnosed == []
    assert all(r.succeeded for r in result.runs["probe"].requests)


def test_nothing_is_left_running(lab_result: LabResult, lab_workdir: Path) -> None:
    # Every process a lab run starts carries its workdir in its environment (or, for nginx,
    # its command line), workers and grandchildren included.
    assert any(result.ran for result in lab_result.scenarios)
    assert processes_referring_to(str(lab_workdir.resolve())) == []


def test_json_shape(lab_result: LabResult) -> None:
    data = json.loads(json.dumps(lab_result.to_json()))
    assert [s["name"] for s in data["scenarios"]] == NAMES
    for scenario in data["scenarios"]:
        assert {"name", "stack", "expected", "diagnosed", "pass"} <= set(scenario)
        assert isinstance(scenario["pass"], bool)
        assert all(isinstance(i, str) for i in scenario["expected"] + scenario["diagnosed"])
        assert isinstance(scenario["evidence"], str)
        assert isinstance(scenario["duration_s"], float | int)
        for run in scenario.get("runs", {}).values():
            assert run["version"] == 1 and run["requests"]


def test_whole_lab_is_quick(lab_result: LabResult) -> None:
    assert lab_result.duration_s < 150, lab_result.duration_s
    assert lab_result.exit_code == (0 if lab_result.passed else 1)


def test_admission_control_refuses_fast(lab_result: LabResult) -> None:
    result = _result(lab_result, "admission-control")
    assert _finding(result, "worker_exhaustion")["capacity"] == 4
    assert result.details["refused"] > 0
    # A refusal takes milliseconds; waiting for a slot would take a whole stream (seconds).
    # 0.3 s leaves room for a loaded 2-core CI machine.
    assert result.details["slowest_refusal_s"] < 0.3


def test_analyze_reads_the_lab_json_as_one_diagnosis_per_scenario(
    lab_result: LabResult, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from streamwarden.cli import app
    from streamwarden.lab.report import write_json
    from streamwarden.probe.diagnose import Thresholds, diagnose
    from streamwarden.probe.saved import load_runs

    path = tmp_path / "lab.json"
    write_json(lab_result, path)
    saved = load_runs(path)
    ran = {r.name: r for r in lab_result.scenarios if r.runs}
    assert {s.label.split(" / ")[0] for s in saved if s.label} == set(ran)
    for item in saved:
        assert item.scale == lab_result.scale and item.label is not None
        name, _, label = item.label.partition(" / ")
        original = ran[name].runs[label or next(iter(ran[name].runs))]
        # The same verdict from the saved file as the lab reached live.
        again = diagnose(item.run, Thresholds().scaled(lab_result.scale))
        assert [f.id for f in again] == [f.id for f in original.diagnosis], item.label
    result = CliRunner().invoke(app, ["analyze", str(path), "--fail-on", "never"])
    assert result.exit_code == 0, result.output
    for name in ran:
        assert f"scenario {name}" in result.stdout


def test_naive_app_is_cut_then_one_middleware_line_fixes_it(lab_result: LabResult) -> None:
    naive = _result(lab_result, "naive-app-idle-timeout")
    cut = float(str(_finding(naive, "idle_timeout")["cut_after_idle_s"]))
    assert 1.5 <= cut <= 2.6, cut  # nginx's 60 s at 1:30
    fixed = _result(lab_result, "middleware-fix")
    assert fixed.diagnosed == []
    requests = fixed.runs["probe"].requests
    assert requests and all(r.succeeded and r.keepalives > 0 for r in requests)
    server = fixed.details["server"]
    assert server["disconnects"] == 4
    assert server["after_disconnect"] == 0
