"""Compare two runs of the same load: what got worse, what got better, which findings came
or went. Pure: two `Run`s in, a `RunComparison` out; `streamwarden analyze --compare` prints it.

Steps are matched by their label (`c=8`, `rate 5/s`). A metric regresses when it moved the
wrong way by more than `tolerance_pct` percent of its value before; an error finding that
appeared is a regression too, whatever the numbers say. Latencies must also move by more
than `NOISE_MS`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from streamwarden.findings import Finding, Severity
from streamwarden.probe.timeline import Run

__all__ = ["METRICS", "MetricChange", "RunComparison", "compare_runs"]

#: (name shown, key in the step summary, percentile key or None, higher is better).
METRICS: tuple[tuple[str, str, str | None, bool], ...] = (
    ("success", "success_rate", None, True),
    ("TTFB p50 ms", "ttfb_ms", "p50", False),
    ("TTFB p99 ms", "ttfb_ms", "p99", False),
    ("TTFT p50 ms", "ttft_ms", "p50", False),
    ("TTFT p99 ms", "ttft_ms", "p99", False),
    ("ITL p50 ms", "itl_ms", "p50", False),
    ("ITL p99 ms", "itl_ms", "p99", False),
    ("TPOT p50 ms", "tpot_ms", "p50", False),
    ("gap p99 ms", "max_gap_ms", "p99", False),
    ("output tok/s", "output_tokens_per_s", None, True),
    ("req/s", "requests_per_s", None, True),
)


#: A latency must also move by more than this to count: two runs of the same build on a busy
#: host differ by a few milliseconds at p99 (scheduling), which no user notices.
NOISE_MS = 5.0


@dataclass(frozen=True, slots=True)
class MetricChange:
    step: str
    metric: str
    before: float
    after: float
    higher_is_better: bool
    regression: bool

    @property
    def change_pct(self) -> float:
        if self.before == 0:
            return 0.0 if self.after == 0 else math.copysign(math.inf, self.after)
        return 100.0 * (self.after - self.before) / abs(self.before)

    @property
    def better(self) -> bool:
        return (self.after > self.before) == self.higher_is_better and self.after != self.before

    def to_json(self) -> dict[str, Any]:
        pct = self.change_pct
        return {
            "step": self.step,
            "metric": self.metric,
            "before": self.before,
            "after": self.after,
            "change_pct": round(pct, 1) if math.isfinite(pct) else None,
            "regression": self.regression,
        }


@dataclass(frozen=True, slots=True)
class RunComparison:
    tolerance_pct: float
    changes: list[MetricChange] = field(default_factory=list)
    appeared: list[Finding] = field(default_factory=list)
    gone: list[Finding] = field(default_factory=list)
    #: Step labels present in one run only: not compared.
    only_before: list[str] = field(default_factory=list)
    only_after: list[str] = field(default_factory=list)

    @property
    def regressions(self) -> list[str]:
        """One line per regression, for people and for the exit code."""
        out = [
            f"{c.metric} at {c.step}: {_num(c.before)} → {_num(c.after)} ({c.change_pct:+.3g}%)"
            for c in self.changes
            if c.regression
        ]
        out += [f"{f.id} appeared ({f.severity})" for f in self.appeared if _is_error(f)]
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "tolerance_pct": self.tolerance_pct,
            "changes": [c.to_json() for c in self.changes],
            "appeared": [f.to_json() for f in self.appeared],
            "gone": [f.to_json() for f in self.gone],
            "only_before": self.only_before,
            "only_after": self.only_after,
            "regressions": self.regressions,
        }


def _is_error(f: Finding) -> bool:
    return f.severity is Severity.ERROR


def _num(value: float) -> str:
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def _pick(summary: dict[str, Any], key: str, pct: str | None) -> float | None:
    value = summary.get(key)
    if pct is not None:
        value = value.get(pct) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) else None


def compare_runs(before: Run, after: Run, tolerance_pct: float = 10.0) -> RunComparison:
    """What changed from `before` to `after`; see the module doc for what regresses."""
    old = {s.label: s.summary(before.requests) for s in before.steps}
    new = {s.label: s.summary(after.requests) for s in after.steps}
    changes = []
    for label in (label for label in new if label in old):
        for name, key, pct, higher in METRICS:
            a, b = _pick(old[label], key, pct), _pick(new[label], key, pct)
            if a is None or b is None:
                continue
            worse = b < a if higher else b > a
            floor = NOISE_MS if name.endswith(" ms") else 0.0
            beyond = abs(b - a) > max(tolerance_pct / 100.0 * abs(a), floor)
            changes.append(MetricChange(label, name, a, b, higher, worse and beyond))
    ids_before = {f.id for f in before.diagnosis}
    ids_after = {f.id for f in after.diagnosis}
    return RunComparison(
        tolerance_pct=tolerance_pct,
        changes=changes,
        appeared=[f for f in after.diagnosis if f.id not in ids_before],
        gone=[f for f in before.diagnosis if f.id not in ids_after],
        only_before=[label for label in old if label not in new],
        only_after=[label for label in new if label not in old],
    )


def changed(comparison: RunComparison) -> Sequence[MetricChange]:
    """The changes worth showing: beyond the tolerance either way."""
    tol = comparison.tolerance_pct / 100.0
    return [
        c
        for c in comparison.changes
        if abs(c.after - c.before)
        > max(tol * abs(c.before), 1.0 if c.metric.endswith(" ms") else 0.0)
    ]
