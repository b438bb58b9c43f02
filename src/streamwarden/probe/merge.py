"""Several runs diagnosed as one: runs from several machines, or a Locust engine's workers.

Each machine's clock is its own, so nothing is compared across runs but what is relative to
a stream's own start (every row of `reads`, TTFB, TTFT, the end) or to its own run's start
(`start_ms`, each run starting at 0). Steps with the same index are one step: their
concurrency or rate adds up, as the load did.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from streamwarden.probe.timeline import Run, Step

__all__ = ["merge_runs"]


def merge_runs(runs: Sequence[Run]) -> Run:
    """One run holding every request of `runs`; raises `ValueError` when there is none."""
    if not runs:
        raise ValueError("nothing to merge")
    if len(runs) == 1:
        return runs[0]
    first = runs[0]
    targets = sorted({run.target for run in runs})
    merged = Run(
        target=targets[0] if len(targets) == 1 else " + ".join(targets),
        config={**first.config, "merged_runs": len(runs)},
        started_at=min((r.started_at for r in runs if r.started_at), default=None),
        # Different hosts, different monotonic clocks: no common origin.
        monotonic_origin_s=None,
        protocol=_same(run.protocol for run in runs),
        incomplete="; ".join(r.incomplete for r in runs if r.incomplete) or None,
        h2=_merge_h2([r.h2 for r in runs if r.h2]),
    )
    steps: dict[int, list[Step]] = {}
    for run in runs:
        for step in run.steps:
            steps.setdefault(step.index, []).append(step)
        merged.requests.extend(run.requests)
    merged.steps = [_merge_steps(group) for _, group in sorted(steps.items())]
    return merged


def _merge_steps(group: list[Step]) -> Step:
    first = group[0]
    concurrency = None if first.concurrency is None else sum(s.concurrency or 0 for s in group)
    rate = None if first.rate is None else sum(s.rate or 0.0 for s in group)
    return Step(
        index=first.index,
        concurrency=concurrency,
        rate=rate,
        duration_s=max(s.duration_s for s in group),
        started_ms=min(s.started_ms for s in group),
        ended_ms=max(s.ended_ms for s in group),
        # The busiest process's CPU: saturation is per process, not summed over machines.
        cpu_s=max(s.cpu_s for s in group),
        loop_lag=sorted(lag for s in group for lag in s.loop_lag),
    )


def _same(values: Any) -> str | None:
    found = {v for v in values if v}
    return found.pop() if len(found) == 1 else None


def _merge_h2(facts: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not facts:
        return None
    caps = [f["max_concurrent_streams"] for f in facts if f.get("max_concurrent_streams")]
    waits_max = [f["slot_wait_ms"]["max"] for f in facts if f.get("slot_wait_ms", {}).get("max")]
    stalls_max = [f["flow_stall_ms"]["max"] for f in facts if f.get("flow_stall_ms", {}).get("max")]
    resets: dict[str, int] = {}
    for f in facts:
        for name, n in (f.get("resets") or {}).items():
            resets[name] = resets.get(name, 0) + int(n)
    return {
        "connections": sum(int(f.get("connections") or 0) for f in facts),
        "max_concurrent_streams": min(caps) if caps else None,
        "peak_wanted": max(int(f.get("peak_wanted") or 0) for f in facts),
        "streams_queued": sum(int(f.get("streams_queued") or 0) for f in facts),
        "slot_wait_ms": {
            "p50": max(
                (f["slot_wait_ms"]["p50"] for f in facts if f.get("slot_wait_ms", {}).get("p50")),
                default=None,
            ),
            "max": max(waits_max) if waits_max else None,
        },
        "flow_stalls": sum(int(f.get("flow_stalls") or 0) for f in facts),
        "flow_stall_ms": {
            "total": sum(float(f.get("flow_stall_ms", {}).get("total") or 0) for f in facts),
            "max": max(stalls_max) if stalls_max else None,
        },
        "resets": resets,
    }
