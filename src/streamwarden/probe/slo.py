"""Service-level objectives: a run passes a gate when every step meets every `--slo`.

Pure: `parse` turns one expression into an `SLO` (or raises `SLOError` with the fix), and
`evaluate` judges a run's steps against a list of them. The grammar, k6-like:

    SLO      := LATENCY | SUCCESS | RATE
    LATENCY  := TIME_METRIC "_" PCT OP NUMBER TIME_UNIT       ttft_p99<2s   itl_p99<=150ms
    SUCCESS  := "success" OP NUMBER "%"                        success>=99.5%
    RATE     := RATE_METRIC OP NUMBER                          tokens_per_s>=200   rps>5
    TIME_METRIC := ttft | ttfb | itl | tpot | latency | gap
    PCT      := p50 | p90 | p99 | p99.9 | … (any p0 … p100) | max | mean
    OP       := < | <= | > | >=
    TIME_UNIT := ms | s
    RATE_METRIC := tokens_per_s | rps | goodput

`latency` is a request's whole life (start to last byte), `gap` its longest silence.
Spaces around the operator are allowed. `tokens_per_s`, `rps` and `goodput` are a step's
output tokens, completed requests and good requests (meeting every latency SLO) per second.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streamwarden.probe.metrics import RequestCheck, StreamMetrics, percentile, stream_metrics

if TYPE_CHECKING:
    from streamwarden.probe.timeline import RequestRecord, Run, Step

__all__ = ["SLO", "SLOError", "SLOResult", "evaluate", "parse", "request_checks"]

TIME_METRICS = ("ttft", "ttfb", "itl", "tpot", "latency", "gap")
RATE_METRICS = ("tokens_per_s", "rps", "goodput")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
}
_EXPR = re.compile(r"^\s*([a-z_]+?)(?:_(p\d+(?:\.\d+)?|max|mean))?\s*(<=|>=|<|>)\s*(\S+?)\s*$")
_VALUE = re.compile(r"^([0-9]*\.?[0-9]+(?:e[+-]?\d+)?)(ms|s|%)?$")
_EXAMPLE = "e.g. 'ttft_p99<2s', 'itl_p99<150ms', 'success>=99.5%', 'tokens_per_s>=100'"


class SLOError(ValueError):
    """An expression that is not an SLO; the message says what is wrong and how to write it."""


@dataclass(frozen=True, slots=True)
class SLO:
    """One objective. Times are held in ms, `success` as a fraction (0.995)."""

    text: str
    metric: str
    stat: str | None  # "p99", "max", "mean"; None for success and rates
    op: str
    value: float

    def holds(self, measured: float) -> bool:
        return _OPS[self.op](measured, self.value)

    @property
    def unit(self) -> str:
        if self.metric in TIME_METRICS:
            return "ms"
        return "%" if self.metric == "success" else "/s"

    def show(self, value: float | None) -> str:
        """A measured value in this SLO's terms, for people: `1.84s`, `99.2%`, `87.5/s`."""
        if value is None:
            return "no data"
        if self.metric == "success":
            return f"{_sig(100 * value)}%"
        if self.metric in TIME_METRICS:
            return f"{_sig(value / 1000)}s" if value >= 1000 else f"{_sig(value)}ms"
        return f"{_sig(value)}/s"

    def measure(
        self,
        requests: Sequence[RequestRecord],
        wall_s: float,
        checks: Sequence[RequestCheck] = (),
    ) -> float | None:
        """This SLO's figure over one step's requests; None when they hold no such data.
        `checks` are what a good request meets, for `goodput` (`request_checks`)."""
        if self.metric == "success":
            return sum(1 for r in requests if r.succeeded) / len(requests) if requests else None
        if self.metric in RATE_METRICS:
            if wall_s <= 0:
                return None
            per = [(r, stream_metrics(r)) for r in requests]
            if self.metric == "tokens_per_s":
                return sum(m.output_tokens for _, m in per) / wall_s
            ok = [(r, m) for r, m in per if r.succeeded]
            if self.metric == "rps":
                return len(ok) / wall_s
            return sum(1 for r, m in ok if all(c(r, m) for c in checks)) / wall_s
        values = _values(self.metric, requests)
        return _stat(values, self.stat or "p50")


def _sig(value: float) -> str:
    return f"{value:.3g}"


def parse(text: str) -> SLO:
    """One `--slo` expression; raises `SLOError` naming what is wrong."""
    m = _EXPR.match(text.lower())
    if m is None:
        raise SLOError(f"--slo {text!r} is not METRIC_PCT<VALUE or success>=PCT% ({_EXAMPLE})")
    metric, stat, op, raw = m.groups()
    v = _VALUE.match(raw)
    if v is None:
        raise SLOError(f"--slo {text!r}: {raw!r} is not a number with a unit (ms, s or %)")
    number, unit = float(v.group(1)), v.group(2)
    if metric == "success":
        if stat is not None or unit != "%":
            raise SLOError(f"--slo {text!r}: success takes a percentage, e.g. 'success>=99.5%'")
        if not 0 <= number <= 100:
            raise SLOError(f"--slo {text!r}: a success rate is between 0% and 100%")
        return SLO(text, metric, None, op, number / 100)
    if metric in RATE_METRICS:
        if stat is not None or unit is not None:
            raise SLOError(
                f"--slo {text!r}: {metric} is a plain number per second, e.g. '{metric}>=10'"
            )
        return SLO(text, metric, None, op, number)
    if metric not in TIME_METRICS:
        known = ", ".join((*TIME_METRICS, "success", *RATE_METRICS))
        raise SLOError(f"--slo {text!r}: unknown metric {metric!r}; choose from {known}")
    if stat is None:
        raise SLOError(f"--slo {text!r}: say which percentile, e.g. '{metric}_p99{op}{raw}'")
    if stat.startswith("p") and not 0 <= float(stat[1:]) <= 100:
        raise SLOError(f"--slo {text!r}: a percentile is between p0 and p100")
    if unit not in ("ms", "s"):
        raise SLOError(f"--slo {text!r}: {metric} is a time: add a unit, e.g. '2s' or '150ms'")
    return SLO(text, metric, stat, op, number * 1000 if unit == "s" else number)


def parse_all(texts: Sequence[str]) -> list[SLO]:
    return [parse(t) for t in texts]


def _values(metric: str, requests: Sequence[RequestRecord]) -> list[float]:
    if metric == "ttft":
        return [r.ttft_ms for r in requests if r.ttft_ms is not None]
    if metric == "ttfb":
        return [r.ttfb_ms for r in requests if r.ttfb_ms is not None]
    if metric == "latency":
        return [r.end_ms for r in requests if r.end_ms is not None and r.succeeded]
    if metric == "gap":
        return [g for r in requests if (g := r.max_gap_ms()) is not None]
    ok = [stream_metrics(r) for r in requests if r.succeeded]
    if metric == "itl":
        return [g for m in ok for g in m.itl_ms]
    return [m.tpot_ms for m in ok if m.tpot_ms is not None]  # tpot


def _stat(values: Sequence[float], stat: str) -> float | None:
    if not values:
        return None
    if stat == "mean":
        return statistics.fmean(values)
    if stat == "max":
        return max(values)
    v = percentile(values, float(stat[1:]))
    return None if math.isnan(v) else v


def _request_value(slo: SLO, r: RequestRecord, m: StreamMetrics) -> float | None:
    if slo.metric == "ttft":
        return r.ttft_ms
    if slo.metric == "ttfb":
        return r.ttfb_ms
    if slo.metric == "latency":
        return r.end_ms
    if slo.metric == "gap":
        return r.max_gap_ms()
    if slo.metric == "itl":
        return _stat(m.itl_ms, slo.stat or "p50")
    return m.tpot_ms


def request_checks(slos: Sequence[SLO]) -> list[RequestCheck]:
    """What a request must meet to count towards goodput: each latency SLO, applied to the
    request's own figure (a stream with one token has no ITL or TPOT to fail)."""
    checks: list[RequestCheck] = []
    for slo in slos:
        if slo.metric not in TIME_METRICS:
            continue

        def check(r: RequestRecord, m: StreamMetrics, slo: SLO = slo) -> bool:
            value = _request_value(slo, r, m)
            if value is None:
                return slo.metric in ("itl", "tpot")
            return slo.holds(value)

        checks.append(check)
    return checks


@dataclass(frozen=True, slots=True)
class SLOResult:
    slo: SLO
    step: str
    step_index: int
    value: float | None

    @property
    def passed(self) -> bool:
        return self.value is not None and self.slo.holds(self.value)

    def line(self) -> str:
        """`ttft_p99<2s at c=8: 2.41s` for people."""
        return f"{self.slo.text} at {self.step}: {self.slo.show(self.value)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "slo": self.slo.text,
            "step": self.step_index,
            "label": self.step,
            "value": None if self.value is None else round(self.value, 4),
            "unit": self.slo.unit if self.slo.metric != "success" else "fraction",
            "passed": self.passed,
        }


def evaluate(slos: Sequence[SLO], run: Run, steps: Sequence[Step] | None = None) -> list[SLOResult]:
    """Each SLO at each step of `run` (or of `steps`): a gate passes when all results do."""
    checks = request_checks(slos)
    out = []
    for step in run.steps if steps is None else steps:
        mine = run.step_requests(step)
        for slo in slos:
            value = slo.measure(mine, step.wall_s, checks)
            out.append(SLOResult(slo, step.label, step.index, value))
    return out
