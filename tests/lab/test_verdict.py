"""The pass rule and the evidence line, on findings built by hand (no processes)."""

from __future__ import annotations

from streamwarden.findings import Finding, Severity
from streamwarden.lab.scenarios import SCALE, SCENARIOS, ProbePlan, get_scenarios, lab_seconds
from streamwarden.lab.verdict import compare, describe_finding, evidence_line
from streamwarden.probe.timeline import RequestRecord, Run


def _f(finding_id: str, severity: str = "error", **evidence: object) -> Finding:
    return Finding(finding_id, Severity(severity), f"{finding_id} summary", "fix", dict(evidence))


def test_expected_and_companions_pass() -> None:
    found = [_f("idle_timeout"), _f("truncated_stream"), _f("missing_heartbeat", "warning")]
    result = compare(["idle_timeout"], ["missing_heartbeat", "truncated_stream"], found)
    assert result.matches


def test_missing_expected_fails() -> None:
    result = compare(["total_timeout"], ["truncated_stream"], [_f("truncated_stream")])
    assert result.missing == ("total_timeout",) and not result.matches


def test_unexpected_warning_fails_but_info_does_not() -> None:
    assert not compare([], [], [_f("slow_first_token", "warning")]).matches
    assert compare([], [], [_f("something", "info")]).matches


def test_idle_timeout_evidence_converts_to_real_seconds() -> None:
    line = describe_finding(_f("idle_timeout", cut_after_idle_s=2.0), SCALE)
    assert line == "cut after 2s (60s real) of silence"


def test_the_lab_prints_what_the_rule_writes() -> None:
    # The headline lives with the rule (probe.diagnose.RULES), not in a switch here.
    from streamwarden.probe.diagnose import RULES

    finding = _f("total_timeout", cut_at_s=0.5)
    assert describe_finding(finding, SCALE) == RULES["total_timeout"].headline(
        finding.evidence, SCALE
    )
    assert describe_finding(_f("made_up"), SCALE) == "made_up summary"


def test_capacity_evidence() -> None:
    finding = _f("worker_exhaustion", capacity=4, knee_concurrency=8, queued=8, requests=12)
    assert describe_finding(finding, SCALE).startswith("capacity 4 ")


def test_registry() -> None:
    names = [s.name for s in SCENARIOS]
    assert len(names) == len(set(names)) >= 10
    assert [s.name for s in get_scenarios(["no-cancel", "sync-workers"])] == [
        "sync-workers",
        "no-cancel",
    ]
    assert lab_seconds(60) == 2.0
    for scenario in SCENARIOS:
        assert not set(scenario.expected) & set(scenario.companions), scenario.name


def test_warmup_is_one_token_on_the_same_route() -> None:
    plan = ProbePlan(path="/v1/chat/completions?tokens=30&block_every=15&block=0.7&ttft=0.05")
    path, _ = plan.warmup()
    assert path == "/v1/chat/completions?tokens=1&ttft=0"
    gateway = ProbePlan(sim={"tokens": 12, "pause": 3.0})
    assert b'"sim": {"tokens": 1, "ttft": 0.0}' in gateway.warmup()[1]


def test_the_opening_comment_is_not_a_heartbeat() -> None:
    # The evidence counts heartbeats as the probe does (`RequestRecord.keepalives`): not the
    # comment in the first read, but every one after it, the wait for the first token included.
    opening, waiting = (10.0, 15, 0, 1), (300.0, 13, 0, 1)
    token, keepalive = (500.0, 120, 1, 0), (600.0, 13, 0, 1)
    record = RequestRecord(0, 0.0, reads=[opening, waiting, token, keepalive])
    run = Run("http://127.0.0.1:1/", requests=[record])
    assert record.keepalives == 2
    line = evidence_line([], [], compare([], [], []), [run], SCALE)
    assert line.endswith("; 2 heartbeats received"), line
    one = RequestRecord(0, 0.0, reads=[opening, token, keepalive])
    line = evidence_line([], [], compare([], [], []), [Run("x", requests=[one])], SCALE)
    assert line.endswith("; 1 heartbeat received"), line


def test_lab_report_escapes_with_the_probe_helper() -> None:
    from streamwarden.lab import report as lab_report
    from streamwarden.probe import report as probe_report

    assert vars(lab_report)["esc"] is probe_report.esc
    assert not hasattr(lab_report, "_esc")
