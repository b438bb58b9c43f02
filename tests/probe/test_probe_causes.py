"""Root cause first: consequences nested under the finding that explains them; headlines
written by each rule; numbers rounded for people, and no `None` shown."""

from __future__ import annotations

from typing import Any

import pytest

from streamwarden.findings import Finding, Severity
from streamwarden.probe.diagnose import RULES, Thresholds, group_causes, headline, secs


def _f(fid: str, severity: Severity = Severity.ERROR, **ev: Any) -> Finding:
    return Finding(fid, severity, f"{fid} summary", "fix", dict(ev))


def test_one_proxy_misconfiguration_is_two_roots_with_their_consequences() -> None:
    # What a default nginx with a short proxy_read_timeout produced: five equal cards before.
    found = [
        _f("truncated_stream"),
        _f("missing_heartbeat", Severity.WARNING),
        _f("slow_first_token", Severity.WARNING, ttft_p50_s=1.0, ttfb_p50_s=0.01),
        _f("proxy_buffering"),
        _f("idle_timeout"),
    ]
    grouped = group_causes(found)
    assert [(f.id, f.caused_by) for f in grouped] == [
        ("proxy_buffering", None),
        ("slow_first_token", "proxy_buffering"),
        ("idle_timeout", None),
        ("truncated_stream", "idle_timeout"),
        ("missing_heartbeat", "idle_timeout"),
    ]
    assert grouped[1].to_json()["caused_by"] == "proxy_buffering"
    assert "caused_by" not in grouped[0].to_json()


def test_queueing_before_the_headers_is_blamed_on_the_workers() -> None:
    found = [
        _f("proxy_buffering"),
        _f("worker_exhaustion"),
        _f("slow_first_token", Severity.WARNING, ttft_p50_s=2.0, ttfb_p50_s=1.9),
        _f("server_errors", Severity.WARNING, statuses={"503": 3}),
    ]
    causes = {f.id: f.caused_by for f in group_causes(found)}
    assert causes["slow_first_token"] == "worker_exhaustion"
    assert causes["server_errors"] == "worker_exhaustion"


def test_a_consequence_without_its_cause_stands_alone() -> None:
    grouped = group_causes([_f("truncated_stream"), _f("server_errors")])
    assert all(f.caused_by is None for f in grouped)
    # Real errors (severity error: 5xx, error events) are never put down to overload.
    assert group_causes([_f("worker_exhaustion"), _f("server_errors")])[1].caused_by is None


def test_every_rule_has_a_title_docs_and_a_headline_that_shows_no_none() -> None:
    evidence: dict[str, dict[str, Any]] = {
        "worker_exhaustion": {
            "capacity": 4,
            "knee_concurrency": 8,
            "queued": 5,
            "requests": 8,
            "knee_ttfb_p90_ms": 1234.0,
        },
        "proxy_buffering": {
            "burst_bytes": 4096,
            "events_per_burst": 22.0,
            "buffered_streams": 3,
            "streams": 3,
        },
        "idle_timeout": {"cut_after_idle_s": 0.874},
        "total_timeout": {"cut_at_s": 0.5},
        "missing_heartbeat": {"streams_silent_too_long": 2, "streams": 4, "max_silence_s": 3.0},
        "blocked_event_loop": {"stalls": 2, "longest_stall_s": 0.7, "streams_hit": 4},
        "truncated_stream": {"streams": 2, "of": 4, "outcomes": {"truncated": 2}},
        "slow_first_token": {"ttft_p50_s": 6.0, "ttfb_p50_s": 0.1, "step": "c=4"},
        "server_errors": {"statuses": {"500": 1}},
        "client_saturated": {"steps": ["c=64"], "loop_lag_p99_ms": 80.0, "cpu_percent": 95.0},
        "h2_stream_cap": {"max_concurrent_streams": 2, "streams_queued": 6},
        "h2_flow_control_stall": {"flow_stalls": 3, "flow_stall_max_ms": 700.0},
    }
    assert set(RULES) == set(evidence)
    for rule in RULES.values():
        assert rule.title and rule.docs == "docs/probe.md#diagnosis"
        line = headline(_f(rule.id, **evidence[rule.id]), 1 / 30)
        assert "None" not in line and "?" not in line, line
    assert headline(_f("idle_timeout", cut_after_idle_s=0.874), 1 / 30) == (
        "cut after 0.874s (26.2s real) of silence"
    )


@pytest.mark.parametrize(
    ("value", "scale", "text"),
    [(0.16666666666666666, 1.0, "0.167s"), (2.0, 1 / 30, "2s (60s real)"), (123.456, 1.0, "123s")],
)
def test_seconds_for_people(value: float, scale: float, text: str) -> None:
    assert secs(value, scale) == text


def test_evidence_is_rounded_and_leaves_unknowns_out() -> None:
    from streamwarden.probe.timeline import RequestRecord, Run

    # Two streams cut after ~0.5 s of silence, none succeeded: no "longest survived" to show.
    cut = [
        RequestRecord(
            0,
            0.0,
            status=200,
            ttfb_ms=1.0,
            ttft_ms=10.0,
            end_ms=10.0 + 523.4567 + i,
            outcome="truncated",
            content_events=1,
            reads=[(1.0, 10, 0, 0), (10.0, 50, 1, 0)],
        )
        for i in range(3)
    ]
    [finding] = RULES["idle_timeout"](
        Run("t", requests=cut), Thresholds(min_cut_idle_s=0.1).scaled(1 / 6)
    )
    assert "longest_silence_survived_s" not in finding.evidence
    assert finding.evidence["cut_after_idle_s"] == 0.524
    assert "(3.15s real)" in finding.summary


def test_every_rule_is_in_the_documented_table() -> None:
    from pathlib import Path

    docs = (Path(__file__).parents[2] / "docs" / "probe.md").read_text()
    table = docs[docs.index("## Diagnosis") :]
    for rule_id in RULES:
        assert f"| `{rule_id}` |" in table, rule_id
