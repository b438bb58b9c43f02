"""What a probe run recorded: one row per socket read, one record per request, one per step.

Times inside a request (`ttfb_ms`, `ttft_ms`, `end_ms`, the first column of `reads`) count
from that request's start; `start_ms` and `scheduled_ms` count from the start of the run.
The JSON form is the `version: 1` shape of docs/probe.md; `Run.from_json` reads it back so that
`streamwarden analyze` can diagnose a saved run.
"""

from __future__ import annotations

import json
import math
import operator
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from streamwarden.findings import Finding, Severity
from streamwarden.probe.metrics import RequestCheck, percentile, step_metrics
from streamwarden.probe.slo import SLO, evaluate, parse_all, request_checks

__all__ = [
    "FAILED_OUTCOMES",
    "OUTCOMES",
    "Finding",
    "Read",
    "RequestRecord",
    "Run",
    "Step",
    "percentile",
]

#: One socket read: `(t_ms, body_bytes, events, heartbeats)`.
Read = tuple[float, int, int, int]
_READ_JSON = "[%.3f,%d,%d,%d]"

#: How a request ended. `unterminated`: the body ended cleanly but without the protocol's
#: terminator (`[DONE]`, `message_stop`); `truncated`: the connection closed mid-body;
#: `stopped`: the probe itself ended the stream (Ctrl-C, SIGTERM, an early stop).
OUTCOMES = (
    "ok",
    "http_error",
    "connect_error",
    "reset",
    "truncated",
    "unterminated",
    "client_timeout",
    "stopped",
)
#: Outcomes in which a stream that had started was cut short.
FAILED_OUTCOMES = frozenset({"reset", "truncated", "unterminated"})


def _r(value: float | None, digits: int = 3) -> float | None:
    if value is None or math.isnan(value):
        return None
    return round(value, digits)


@dataclass(slots=True)
class RequestRecord:
    step: int
    start_ms: float
    scheduled_ms: float | None = None
    status: int | None = None
    ttfb_ms: float | None = None
    ttft_ms: float | None = None
    end_ms: float | None = None
    outcome: str = "ok"
    terminated: bool = False
    format: str | None = None
    events: int = 0
    content_events: int = 0
    #: Events of the first token's read that came before the token (a role chunk): the
    #: token times skip them.
    lead_events: int = 0
    error_events: int = 0
    heartbeats: int = 0
    error: str | None = None
    #: The client's port: matches this stream with server and proxy logs.
    local_port: int | None = None
    #: Output tokens as the server's `usage` counted them; None when the stream had none.
    output_tokens: int | None = None
    # Out of the repr: a run holds hundreds of thousands of rows, and asyncio's runner
    # formats its main task's result when it restores the SIGINT handler (Python 3.11).
    reads: list[Read] = field(default_factory=list, repr=False)

    @property
    def succeeded(self) -> bool:
        return self.outcome == "ok"

    @property
    def served(self) -> bool:
        """The server answered with a success status (whatever happened afterwards)."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def keepalives(self) -> int:
        """Heartbeat comments after the first body read. A comment in the first read opens the
        stream (the guard's `: stream open` comes with the headers); it proves nothing about
        heartbeats during silences."""
        first = next((i for i, row in enumerate(self.reads) if row[1] > 0), None)
        if first is None:
            return 0
        return sum(row[3] for row in self.reads[first + 1 :])

    def read_times(self) -> list[float]:
        return [row[0] for row in self.reads]

    def gaps_ms(self) -> list[float]:
        """Silences between consecutive reads, from the response headers on."""
        times = self.read_times()
        # `map` over two slices: the diagnosis asks for these several times per request.
        return list(map(operator.sub, times[1:], times[:-1]))

    def max_gap_ms(self) -> float | None:
        gaps = self.gaps_ms()
        if self.end_ms is not None and self.reads and self.outcome in FAILED_OUTCOMES:
            # The silence that ended in a cut is a silence too.
            gaps.append(self.end_ms - self.reads[-1][0])
        return max(gaps) if gaps else None

    def to_json(self, reads: bool = True) -> dict[str, Any]:
        """The request object of docs/probe.md; `reads=False` leaves the rows out (see `Run.dump`)."""
        out: dict[str, Any] = {
            "step": self.step,
            "start_ms": _r(self.start_ms),
            "scheduled_ms": _r(self.scheduled_ms),
            "status": self.status,
            "ttfb_ms": _r(self.ttfb_ms),
            "ttft_ms": _r(self.ttft_ms),
            "end_ms": _r(self.end_ms),
            "outcome": self.outcome,
            "terminated": self.terminated,
            "format": self.format,
            "events": self.events,
            "content_events": self.content_events,
            "lead_events": self.lead_events,
            "error_events": self.error_events,
            "heartbeats": self.heartbeats,
            "error": self.error,
            "local_port": self.local_port,
            "output_tokens": self.output_tokens,
        }
        if reads:
            out["reads"] = [[round(t, 3), b, e, h] for t, b, e, h in self.reads]
        return out

    def reads_json(self) -> str:
        """`reads` as JSON text, written directly: three times as fast as building the lists
        for `json.dumps`, which mattered at 300,000 rows (0.4 s of a 4 s run)."""
        return "[" + ",".join([_READ_JSON % row for row in self.reads]) + "]"

    @classmethod
    def from_json(cls, data: Any) -> RequestRecord:
        data = _obj(data, "a request")
        return cls(
            step=_int(data.get("step", 0), "step"),
            start_ms=_float(data.get("start_ms") or 0.0, "start_ms"),
            scheduled_ms=_opt_float(data.get("scheduled_ms"), "scheduled_ms"),
            status=_opt_int(data.get("status"), "status"),
            ttfb_ms=_opt_float(data.get("ttfb_ms"), "ttfb_ms"),
            ttft_ms=_opt_float(data.get("ttft_ms"), "ttft_ms"),
            end_ms=_opt_float(data.get("end_ms"), "end_ms"),
            outcome=_str(data.get("outcome", "ok"), "outcome"),
            terminated=bool(data.get("terminated", False)),
            format=_opt_str(data.get("format"), "format"),
            events=_int(data.get("events", 0), "events"),
            content_events=_int(data.get("content_events", 0), "content_events"),
            lead_events=_int(data.get("lead_events", 0), "lead_events"),
            error_events=_int(data.get("error_events", 0), "error_events"),
            heartbeats=_int(data.get("heartbeats", 0), "heartbeats"),
            error=_opt_str(data.get("error"), "error"),
            local_port=_opt_int(data.get("local_port"), "local_port"),
            output_tokens=_opt_int(data.get("output_tokens"), "output_tokens"),
            reads=[_read(row) for row in _list(data.get("reads", []), "reads")],
        )


# Readers of a saved run: anything malformed is a ValueError naming the field, so that
# `streamwarden analyze` can say so in one line instead of failing later with a traceback.


def _obj(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object, not {type(value).__name__}")
    return value


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{what!r} must be a JSON array, not {type(value).__name__}")
    return value


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what!r} must be an integer, not {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError(f"{what!r} must be an integer, not {value!r}")
    return int(value)


def _float(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what!r} must be a number, not {value!r}")
    return float(value)


def _opt_int(value: Any, what: str) -> int | None:
    return None if value is None else _int(value, what)


def _opt_float(value: Any, what: str = "value") -> float | None:
    return None if value is None else _float(value, what)


def _str(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what!r} must be a string, not {value!r}")
    return value


def _opt_str(value: Any, what: str) -> str | None:
    return None if value is None else _str(value, what)


def _read(row: Any) -> Read:
    if not isinstance(row, list) or len(row) != 4:
        raise ValueError(f"a read must be [t_ms, bytes, events, heartbeats], not {row!r}")
    t, b, e, h = row
    return (_float(t, "t_ms"), _int(b, "bytes"), _int(e, "events"), _int(h, "heartbeats"))


@dataclass(slots=True)
class Step:
    """One load step: closed-loop at `concurrency`, or open-loop Poisson at `rate` per second."""

    index: int
    concurrency: int | None = None
    rate: float | None = None
    duration_s: float = 0.0
    started_ms: float = 0.0
    ended_ms: float = 0.0
    cpu_s: float = 0.0
    #: The probe's own event-loop lag, sampled: `(t_ms since run start, lag_ms)`.
    loop_lag: list[tuple[float, float]] = field(default_factory=list, repr=False)

    @property
    def label(self) -> str:
        if self.rate is not None:
            return f"rate {self.rate:g}/s"
        return f"c={self.concurrency}"

    @property
    def wall_s(self) -> float:
        return max(0.0, (self.ended_ms - self.started_ms) / 1000.0)

    @property
    def cpu_percent(self) -> float:
        return 100.0 * self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    def loop_lag_ms(self, q: float) -> float:
        return percentile([lag for _, lag in self.loop_lag], q)

    def summary(
        self, requests: Sequence[RequestRecord], checks: Sequence[RequestCheck] = ()
    ) -> dict[str, Any]:
        """The per-step figures, computed from the step's requests; `checks` are the
        per-request SLO checks that goodput counts (`slo.request_checks`)."""
        mine = [r for r in requests if r.step == self.index]
        ok = [r for r in mine if r.succeeded]
        ttfb = [r.ttfb_ms for r in mine if r.ttfb_ms is not None]
        ttft = [r.ttft_ms for r in mine if r.ttft_ms is not None]
        gaps = [g for r in mine if (g := r.max_gap_ms()) is not None]
        lags = [r.start_ms - r.scheduled_ms for r in mine if r.scheduled_ms is not None]
        out: dict[str, Any] = {
            "index": self.index,
            "concurrency": self.concurrency,
            "rate": self.rate,
            "duration_s": _r(self.duration_s),
            "started_ms": _r(self.started_ms),
            "ended_ms": _r(self.ended_ms),
            "requests": len(mine),
            "succeeded": len(ok),
            "success_rate": _r(len(ok) / len(mine), 4) if mine else None,
            "ttfb_ms": _pcts(ttfb, (50, 90, 99)),
            "ttft_ms": _pcts(ttft, (50, 90, 99)),
            "max_gap_ms": _pcts(gaps, (50, 99)),
            "outcomes": dict(Counter(r.outcome for r in mine)),
            "schedule_lag_ms": _pcts(lags, (50, 99, 100)) if lags else None,
            "cpu_s": _r(self.cpu_s),
            "cpu_percent": _r(self.cpu_percent, 1),
            "loop_lag_ms": _pcts([lag for _, lag in self.loop_lag], (50, 99, 100)),
            "loop_lag_samples": [[round(t, 1), round(lag, 2)] for t, lag in self.loop_lag],
        }
        out.update(step_metrics(mine, self.wall_s, checks))
        return out

    @classmethod
    def from_json(cls, data: Any, index: int) -> Step:
        data = _obj(data, "a step")
        return cls(
            index=_int(data.get("index", index), "index"),
            concurrency=_opt_int(data.get("concurrency"), "concurrency"),
            rate=_opt_float(data.get("rate"), "rate"),
            duration_s=_float(data.get("duration_s") or 0.0, "duration_s"),
            started_ms=_float(data.get("started_ms") or 0.0, "started_ms"),
            ended_ms=_float(data.get("ended_ms") or 0.0, "ended_ms"),
            cpu_s=_float(data.get("cpu_s") or 0.0, "cpu_s"),
            loop_lag=[
                _lag_sample(row)
                for row in _list(data.get("loop_lag_samples", []), "loop_lag_samples")
            ],
        )


def _lag_sample(row: Any) -> tuple[float, float]:
    if not isinstance(row, list) or len(row) != 2:
        raise ValueError(f"a loop lag sample must be [t_ms, lag_ms], not {row!r}")
    return _float(row[0], "t_ms"), _float(row[1], "lag_ms")


def _pcts(values: Sequence[float], qs: Iterable[int]) -> dict[str, float | None]:
    return {("max" if q == 100 else f"p{q}"): _r(percentile(values, q)) for q in qs}


def finding_from_json(data: Any) -> Finding:
    """A saved diagnosis finding, read back with the same checks as the rest of a run."""
    data = _obj(data, "a finding")
    if "id" not in data:
        raise ValueError("a finding has no 'id'")
    caused_by = data.get("caused_by")
    return Finding(
        _str(data["id"], "id"),
        Severity.parse(data.get("severity", "info")),
        _str(data.get("summary", ""), "summary"),
        _str(data.get("fix", ""), "fix"),
        _obj(data.get("evidence", {}), "'evidence'"),
        caused_by=None if caused_by is None else _str(caused_by, "caused_by"),
    )


@dataclass(slots=True, repr=False)
class Run:
    target: str
    steps: list[Step] = field(default_factory=list)
    requests: list[RequestRecord] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    started_at: str | None = None
    #: CLOCK_MONOTONIC (seconds) at the run's time zero: lines the timelines up with
    #: timestamps taken by other processes on the same host.
    monotonic_origin_s: float | None = None
    diagnosis: list[Finding] = field(default_factory=list)
    #: Why the run ended before its plan did (Ctrl-C, SIGTERM, an early stop); None: it ran.
    incomplete: str | None = None
    #: The HTTP version spoken: `http/1.1` or `h2` (ALPN).
    protocol: str | None = None
    #: What an HTTP/2 run saw of its connections: the server's stream cap, waits for a
    #: stream slot, flow-control stalls (`probe/h2client.py`).
    h2: dict[str, Any] | None = None
    #: The gates the run is judged by (`--slo`); goodput counts requests that meet them.
    slos: list[SLO] = field(default_factory=list)
    #: What `--find-capacity` found (`capacity.summarize`); None for an ordinary run.
    capacity: dict[str, Any] | None = None

    def __repr__(self) -> str:
        # A summary: the full form of a large run costs seconds and megabytes.
        return (
            f"Run(target={self.target!r}, steps={len(self.steps)}, "
            f"requests={len(self.requests)}, diagnosis={[f.id for f in self.diagnosis]})"
        )

    def step_requests(self, step: Step) -> list[RequestRecord]:
        return [r for r in self.requests if r.step == step.index]

    def to_json(self, reads: bool = True) -> dict[str, Any]:
        checks = request_checks(self.slos)
        out = {
            "version": 1,
            "target": self.target,
            "started_at": self.started_at,
            "monotonic_origin_s": self.monotonic_origin_s,
            "config": self.config,
            "steps": [s.summary(self.requests, checks) for s in self.steps],
            "requests": [r.to_json(reads) for r in self.requests],
            "diagnosis": [f.to_json() for f in self.diagnosis],
            "incomplete": self.incomplete,
            "protocol": self.protocol,
            "h2": self.h2,
        }
        if self.slos:
            out["slo"] = [result.to_json() for result in evaluate(self.slos, self)]
        if self.capacity is not None:
            out["capacity"] = self.capacity
        return out

    def dump(self, out: TextIO) -> None:
        """Write `to_json()` as compact JSON, every request's rows written directly."""
        sep = (",", ":")
        parts = []
        for key, value in self.to_json(reads=False).items():
            if key != "requests":
                parts.append(f"{json.dumps(key)}:{json.dumps(value, separators=sep)}")
                continue
            requests = [
                json.dumps(obj, separators=sep)[:-1] + ',"reads":' + record.reads_json() + "}"
                for obj, record in zip(value, self.requests, strict=True)
            ]
            parts.append('"requests":[' + ",".join(requests) + "]")
        out.write("{" + ",".join(parts) + "}\n")

    @classmethod
    def from_json(cls, data: Any) -> Run:
        """Read a saved run back; raises `ValueError` for anything that is not one."""
        data = _obj(data, "the run")
        if data.get("version") != 1:
            raise ValueError(f"unsupported run version: {data.get('version')!r}")
        if "requests" not in data or "steps" not in data:
            # A lab result or any other versioned JSON: never read as an empty run.
            raise ValueError("it has no 'steps' and 'requests' (write one with probe --json)")
        steps = _list(data.get("steps", []), "steps")
        config = _obj(data.get("config", {}), "'config'")
        slo_texts = config.get("slo") or []
        if not isinstance(slo_texts, list) or not all(isinstance(t, str) for t in slo_texts):
            raise ValueError("'config.slo' must be a list of SLO expressions")
        return cls(
            target=_str(data.get("target", ""), "target"),
            steps=[Step.from_json(s, i) for i, s in enumerate(steps)],
            requests=[
                RequestRecord.from_json(r) for r in _list(data.get("requests", []), "requests")
            ],
            config=config,
            started_at=_opt_str(data.get("started_at"), "started_at"),
            monotonic_origin_s=_opt_float(data.get("monotonic_origin_s"), "monotonic_origin_s"),
            diagnosis=[finding_from_json(f) for f in _list(data.get("diagnosis", []), "diagnosis")],
            incomplete=_opt_str(data.get("incomplete"), "incomplete"),
            protocol=_opt_str(data.get("protocol"), "protocol"),
            h2=None if data.get("h2") is None else _obj(data["h2"], "'h2'"),
            slos=parse_all(slo_texts),
            capacity=_obj(data["capacity"], "'capacity'") if data.get("capacity") else None,
        )
