"""`--find-capacity`: the highest load that still meets the SLOs, and what breaks above it.

The search ramps through the `--concurrency` levels (or doubles `--rate`) until a level fails,
then bisects between the last level that passed and the first that failed: to one stream
for concurrency, to a tenth of the rate for open-loop arrivals. A level passes when every
SLO holds on it and the diagnosis of (lowest level, this level) has no finding at
`--fail-on`: the pair is what lets worker_exhaustion see the queueing that starts at it.

`CapacitySearch` is the pure decision (which level next, and the answer); `find_capacity`
runs one probe step per level and keeps every step in one `Run`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from streamwarden.findings import Finding
from streamwarden.probe.config import ProbeConfig
from streamwarden.probe.diagnose import Thresholds, diagnose, headline
from streamwarden.probe.schedule import Progress, run_probe
from streamwarden.probe.slo import SLO, evaluate
from streamwarden.probe.timeline import Run, Step

__all__ = ["CapacitySearch", "Level", "find_capacity", "judge"]

#: Doublings of `--rate` tried before the search gives up on finding a failing level.
RATE_DOUBLINGS = 7
#: Bisection on a rate stops when the bracket is this fraction of the passing rate.
RATE_RESOLUTION = 0.1


@dataclass(slots=True)
class Level:
    """One level tried: concurrency or rate, the verdict and why it failed."""

    value: float
    passed: bool
    reasons: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "level": self.value,
            "passed": self.passed,
            "reasons": self.reasons,
            "findings": [f.id for f in self.findings],
        }


class CapacitySearch:
    """Which level to try next; pure, fed one verdict at a time with `record`."""

    def __init__(self, ramp: Sequence[float], integer: bool) -> None:
        self.ramp = sorted(set(ramp))
        self.integer = integer
        self.tried: dict[float, Level] = {}

    @property
    def passed(self) -> float | None:
        """The highest level that passed below the lowest that failed."""
        fail = self.failed
        ok = [v for v, lv in self.tried.items() if lv.passed and (fail is None or v < fail)]
        return max(ok, default=None)

    @property
    def failed(self) -> float | None:
        return min((v for v, lv in self.tried.items() if not lv.passed), default=None)

    def record(self, level: Level) -> None:
        self.tried[level.value] = level

    def next_level(self) -> float | None:
        lo, hi = self.passed, self.failed
        if hi is None:
            # Still ramping: the next level of the ramp, or the end of it (all passed).
            return next((v for v in self.ramp if v not in self.tried), None)
        if lo is None:
            return None  # the lowest level failed: nothing below it to search
        if self.integer:
            mid: float = (int(lo) + int(hi)) // 2
            return None if mid <= lo else mid
        if hi - lo <= RATE_RESOLUTION * lo:
            return None
        return round((lo + hi) / 2, 3)


def judge(
    run: Run,
    base: Step,
    step: Step,
    slos: Sequence[SLO],
    thresholds: Thresholds,
    failing: Sequence[str],
) -> Level:
    """The verdict on `step`: its SLOs, and the diagnosis of (`base`, `step`)."""
    reasons = [r.line() for r in evaluate(slos, run, [step]) if not r.passed]
    pair = Run(
        target=run.target,
        steps=[base] if base is step else [base, step],
        requests=[r for r in run.requests if r.step in (base.index, step.index)],
    )
    findings = [f for f in diagnose(pair, thresholds) if f.severity in failing]
    reasons += [
        f"{f.id}: {headline(f, thresholds.time_scale)}" for f in findings if not f.caused_by
    ]
    value = float(step.concurrency if step.concurrency is not None else step.rate or 0.0)
    return Level(value, not reasons, reasons, findings)


def _append(total: Run, part: Run, offset_ms: float) -> Step:
    """Move `part`'s one step and its requests into `total`, after what is there."""
    [step] = part.steps
    index = len(total.steps)
    step = dataclasses.replace(
        step,
        index=index,
        started_ms=step.started_ms + offset_ms,
        ended_ms=step.ended_ms + offset_ms,
        loop_lag=[(t + offset_ms, lag) for t, lag in step.loop_lag],
    )
    total.steps.append(step)
    for r in part.requests:
        r.step = index
        r.start_ms += offset_ms
        if r.scheduled_ms is not None:
            r.scheduled_ms += offset_ms
        total.requests.append(r)
    return step


async def find_capacity(
    config: ProbeConfig,
    slos: Sequence[SLO],
    thresholds: Thresholds,
    failing: Sequence[str],
    progress: Callable[[Progress], None] | None = None,
) -> Run:
    """Search, one probe step per level; the run holds every step and `capacity` the answer."""
    if config.rate is not None:
        ramp = [config.rate * 2**k for k in range(RATE_DOUBLINGS + 1)]
        search = CapacitySearch(ramp, integer=False)
    else:
        search = CapacitySearch([float(c) for c in config.concurrency], integer=True)
    total: Run | None = None
    base: Step | None = None
    while (level := search.next_level()) is not None:
        if config.rate is not None:
            one = dataclasses.replace(config, rate=level)
        else:
            one = dataclasses.replace(config, concurrency=(int(level),))
        part = await run_probe(one, progress)
        if total is None:
            total = Run(
                target=part.target,
                config=part.config,
                started_at=part.started_at,
                monotonic_origin_s=part.monotonic_origin_s,
            )
        # Levels run one after another: each one's clock starts where the last one ended.
        offset = max((s.ended_ms for s in total.steps), default=0.0)
        step = _append(total, part, offset)
        base = base or step
        search.record(judge(total, base, step, slos, thresholds, failing))
    assert total is not None  # the ramp holds at least one level
    # Steps in level order, as a report reads them.
    total.steps.sort(key=lambda s: (s.concurrency or 0, s.rate or 0.0))
    total.capacity = summarize(search, config.rate is not None, [slo.text for slo in slos])
    return total


def summarize(search: CapacitySearch, rate: bool, slos: Sequence[str] = ()) -> dict[str, Any]:
    """The answer in one sentence plus the levels tried, for the terminal and the JSON."""
    lo, hi = search.passed, search.failed
    unit = "requests/s" if rate else "streams"

    def show(v: float) -> str:
        return f"{v:g}"

    if lo is None:
        text = f"fails already at the lowest level ({show(hi or 0)} {unit})"
    elif hi is None:
        more = "start higher with --rate" if rate else "add higher --concurrency levels"
        text = f"holds {show(lo)} {unit}, the most tried: {more} to find the limit"
    else:
        text = f"holds {show(lo)} {unit}" + (f" meeting {', '.join(slos)}" if slos else "")
        above = search.tried[hi]
        text += f"; at {show(hi)}, " + ("; ".join(above.reasons) or "it failed")
    return {
        "kind": "rate" if rate else "concurrency",
        "capacity": lo,
        "first_failing": hi,
        "summary": text,
        "levels": [search.tried[v].to_json() for v in sorted(search.tried)],
    }
