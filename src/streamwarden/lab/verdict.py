"""Compare a diagnosis with what a scenario expects, and say why in one line."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from streamwarden.findings import Finding
from streamwarden.probe.timeline import Run

__all__ = ["Comparison", "compare", "describe_finding", "evidence_line"]


@dataclass(frozen=True, slots=True)
class Comparison:
    missing: tuple[str, ...]
    unexpected: tuple[Finding, ...]

    @property
    def matches(self) -> bool:
        return not self.missing and not self.unexpected


def compare(
    expected: Sequence[str], companions: Sequence[str], findings: Iterable[Finding]
) -> Comparison:
    """Every expected id must be found; nothing else may be, past `info`, but companions."""
    findings = list(findings)
    found = {f.id for f in findings}
    allowed = set(expected) | set(companions)
    return Comparison(
        missing=tuple(e for e in expected if e not in found),
        unexpected=tuple(f for f in findings if f.id not in allowed and f.severity != "info"),
    )


def _s(value: Any) -> str:
    return f"{float(value):.2f}s" if isinstance(value, int | float) else "?"


def _real(value: Any, scale: float) -> str:
    if not isinstance(value, int | float):
        return ""
    return f" (= {float(value) / scale:.0f}s real)"


def describe_finding(finding: Finding, scale: float) -> str:
    """The one figure that proves `finding`, e.g. `capacity 4` for worker_exhaustion."""
    ev = finding.evidence
    if finding.id == "worker_exhaustion":
        how = []
        if ev.get("queued"):
            p90 = ev.get("knee_ttfb_p90_ms")
            wait = f", TTFB p90 {float(p90) / 1000:.2f}s" if isinstance(p90, int | float) else ""
            how.append(f"{ev.get('queued')}/{ev.get('requests')} queued{wait}")
        if ev.get("refused"):
            how.append(f"{ev.get('refused')}/{ev.get('requests')} refused")
        return (
            f"capacity {ev.get('capacity')} (at {ev.get('knee_concurrency')} streams, "
            f"{', '.join(how)})"
        )
    if finding.id == "server_errors":
        statuses = ev.get("statuses")
        parts = (
            [f"{n}× {code}" for code, n in statuses.items()] if isinstance(statuses, dict) else []
        )
        if ev.get("connect_errors"):
            parts.append(f"{ev.get('connect_errors')} connect errors")
        if ev.get("error_events"):
            parts.append(f"{ev.get('error_events')} error events")
        return "HTTP " + ", ".join(parts) if parts else finding.summary
    if finding.id == "proxy_buffering":
        events = ev.get("events_per_burst")
        each = f"~{float(events):g} events" if isinstance(events, int | float) else "events"
        return f"bursts of {ev.get('burst_bytes')} B ({each}) in {ev.get('buffered_streams')}/{ev.get('streams')} streams"
    if finding.id == "idle_timeout":
        cut = ev.get("cut_after_idle_s")
        return f"cut after {_s(cut)} of silence{_real(cut, scale)}"
    if finding.id == "total_timeout":
        cut = ev.get("cut_at_s")
        return f"cut at {_s(cut)}{_real(cut, scale)} while bytes flowed"
    if finding.id == "blocked_event_loop":
        return (
            f"{ev.get('stalls')} stalls up to {_s(ev.get('longest_stall_s'))}, "
            f"{ev.get('streams_hit')} streams at once"
        )
    return finding.summary


def _health(runs: Iterable[Run]) -> str:
    requests = [r for run in runs for r in run.requests]
    ok = sum(1 for r in requests if r.succeeded)
    gaps = [g for r in requests if (g := r.max_gap_ms()) is not None]
    peak = max((s.concurrency or 0 for run in runs for s in run.steps), default=0)
    parts = [f"{ok}/{len(requests)} streams ok"]
    if peak > 1:
        parts.append(f"up to {peak} at once")
    if gaps:
        parts.append(f"longest silence {max(gaps) / 1000:.2f}s")
    return ", ".join(parts)


def evidence_line(
    expected: Sequence[str],
    findings: Sequence[Finding],
    comparison: Comparison,
    runs: Sequence[Run],
    scale: float,
) -> str:
    """What the verdict rests on, in one line."""
    parts: list[str] = []
    by_id = {f.id: f for f in findings}
    for wanted in expected:
        if wanted in by_id:
            parts.append(describe_finding(by_id[wanted], scale))
    if comparison.missing:
        parts.append(f"not diagnosed: {', '.join(comparison.missing)} ({_health(runs)})")
    for finding in comparison.unexpected:
        parts.append(f"unexpected {finding.id}: {finding.summary}")
    if not parts:
        parts.append(_health(runs))
    # `keepalives` leaves out the comment that opens a stream (the guard's `: stream open`):
    # only heartbeats sent while the stream was open count as evidence.
    beats = sum(r.keepalives for run in runs for r in run.requests)
    if beats:
        parts.append(f"{beats} heartbeat{'' if beats == 1 else 's'} received")
    return "; ".join(parts)
