"""LLM serving metrics, computed from the recorded timelines: pure functions, no I/O.

The figures the LLM benchmarks report (vLLM's `benchmark_serving`, GuideLLM, AIPerf), as the
client received them:

- **TTFT**: from the request's start to the read that carried its first content event.
- **ITL** (inter-token latency): one sample per content event after the first, the time since
  the previous content event. Events that arrived in one read share its time, so their
  samples are 0: a buffered stream shows a p50 near 0 and a p99 as long as its bursts' gaps.
  The mean of a stream's ITL samples equals its TPOT when every event carries one token.
- **TPOT** (time per output token): `(last token - first token) / (output tokens - 1)`.
- **Output tokens**: the server's `usage` count when the stream carried one, else the number
  of content events (deltas).
- **Throughput**: output tokens per second and completed requests per second of a step's
  wall time; **goodput**: requests per second that succeeded and met every latency SLO.

Which reads carry content is recorded as a count per read, not per event kind: the content
events of a stream are taken from the reads from its first token on, in order, up to the
stream's content-event count (so a terminator or a usage event at the end is left out).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamwarden.probe.timeline import RequestRecord

__all__ = [
    "StreamMetrics",
    "percentile",
    "step_metrics",
    "stream_metrics",
    "token_times",
]


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of `values`; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def token_times(r: RequestRecord) -> list[float]:
    """The arrival time (ms from the request's start) of each content event of `r`."""
    if r.ttft_ms is None or r.content_events <= 0:
        return []
    out: list[float] = []
    left = r.content_events
    lead = r.lead_events
    for t, _size, events, _beats in r.reads:
        if t < r.ttft_ms or not events:
            continue
        # The first token's read may open with events that are not tokens (a role chunk).
        events, lead = events - min(events, lead), 0
        take = min(events, left)
        out.extend([t] * take)
        left -= take
        if not left:
            break
    return out


@dataclass(frozen=True, slots=True)
class StreamMetrics:
    """One stream's LLM figures; `None` where the stream had too little to say."""

    ttft_ms: float | None
    itl_ms: tuple[float, ...]
    tpot_ms: float | None
    output_tokens: int
    tokens_from_usage: bool
    latency_ms: float | None

    @property
    def tokens_per_s(self) -> float | None:
        """Output tokens per second of this stream's whole life."""
        if not self.latency_ms or not self.output_tokens:
            return None
        return 1000.0 * self.output_tokens / self.latency_ms


def stream_metrics(r: RequestRecord) -> StreamMetrics:
    times = token_times(r)
    itl = tuple(b - a for a, b in itertools.pairwise(times))
    usage = r.output_tokens
    tokens = usage if usage is not None else len(times)
    tpot = None
    if len(times) >= 2 and tokens >= 2:
        tpot = (times[-1] - times[0]) / (tokens - 1)
    return StreamMetrics(
        ttft_ms=r.ttft_ms,
        itl_ms=itl,
        tpot_ms=tpot,
        output_tokens=tokens,
        tokens_from_usage=usage is not None,
        latency_ms=r.end_ms,
    )


#: Per-request checks a goodput count applies (from the SLOs): True when the request meets it.
RequestCheck = Callable[["RequestRecord", StreamMetrics], bool]


def _pcts(values: Sequence[float], qs: Iterable[int]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for q in qs:
        v = percentile(values, q)
        out["max" if q == 100 else f"p{q}"] = None if math.isnan(v) else round(v, 3)
    return out


def step_metrics(
    requests: Sequence[RequestRecord],
    wall_s: float,
    checks: Sequence[RequestCheck] = (),
) -> dict[str, Any]:
    """The LLM figures of one step's requests: ITL/TPOT percentiles, token and request
    throughput over `wall_s`, and goodput (succeeded and passing every check, per second)."""
    per = [(r, stream_metrics(r)) for r in requests]
    ok = [(r, m) for r, m in per if r.succeeded]
    itl = [g for _, m in ok for g in m.itl_ms]
    tpot = [m.tpot_ms for _, m in ok if m.tpot_ms is not None]
    tokens = sum(m.output_tokens for _, m in per)
    stream_tps = [tps for _, m in ok if (tps := m.tokens_per_s) is not None]
    good = sum(1 for r, m in ok if all(check(r, m) for check in checks))

    def per_s(n: float) -> float | None:
        return round(n / wall_s, 3) if wall_s > 0 else None

    return {
        "itl_ms": _pcts(itl, (50, 90, 99)),
        "tpot_ms": _pcts(tpot, (50, 90, 99)),
        "output_tokens": tokens,
        "tokens_from_usage": any(m.tokens_from_usage for _, m in per),
        "output_tokens_per_s": per_s(tokens),
        "stream_tokens_per_s": _pcts(stream_tps, (50,)),
        "requests_per_s": per_s(len(ok)),
        "goodput_rps": per_s(good),
    }
