"""Compare a diagnosis with what a scenario expects, and say why in one line."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from streamwarden.findings import Finding
from streamwarden.probe.diagnose import headline, secs
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


def describe_finding(finding: Finding, scale: float) -> str:
    """The one figure that proves `finding`, as its rule writes it (`capacity 4 …`)."""
    return headline(finding, scale)


def _health(runs: Iterable[Run], scale: float) -> str:
    requests = [r for run in runs for r in run.requests]
    ok = sum(1 for r in requests if r.succeeded)
    gaps = [g for r in requests if (g := r.max_gap_ms()) is not None]
    peak = max((s.concurrency or 0 for run in runs for s in run.steps), default=0)
    parts = [f"{ok}/{len(requests)} streams ok"]
    if peak > 1:
        parts.append(f"up to {peak} at once")
    if gaps:
        parts.append(f"longest silence {secs(max(gaps) / 1000, scale)}")
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
        parts.append(f"not diagnosed: {', '.join(comparison.missing)} ({_health(runs, scale)})")
    for finding in comparison.unexpected:
        parts.append(f"unexpected {finding.id}: {headline(finding, scale)}")
    if not parts:
        parts.append(_health(runs, scale))
    # `keepalives` leaves out the comment that opens a stream (the guard's `: stream open`):
    # only heartbeats sent while the stream was open count as evidence.
    beats = sum(r.keepalives for run in runs for r in run.requests)
    if beats:
        parts.append(f"{beats} heartbeat{'' if beats == 1 else 's'} received")
    return "; ".join(parts)
