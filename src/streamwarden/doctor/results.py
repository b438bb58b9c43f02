"""What the experiments measured: plain data, saved as JSON, read by the card.

Every field holds a measured value or None when the experiment did not run or could not
tell; `Measurements.errors` says why an experiment could not measure.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from streamwarden.doctor.analysis import Buffering, HeaderChanges

__all__ = [
    "BufferingResult",
    "CompressionResult",
    "ConcurrencyResult",
    "DisconnectResult",
    "HeartbeatResult",
    "IdleResult",
    "Measurements",
    "ProtocolResult",
    "TotalResult",
]


@dataclass(frozen=True, slots=True)
class ProtocolResult:
    http_version: str
    #: The TLS version negotiated with the first hop, or None for plain HTTP.
    tls: str | None
    headers: HeaderChanges


@dataclass(frozen=True, slots=True)
class BufferingResult:
    #: A stream without `X-Accel-Buffering: no`, one with it (as the guard sends), and a
    #: stream of comments only (heartbeats).
    plain: Buffering
    guarded: Buffering
    comments: Buffering


@dataclass(frozen=True, slots=True)
class CompressionResult:
    #: `Content-Encoding` of a text/event-stream when the client accepts gzip, or None.
    encoding: str | None
    #: The compressor held events back (None when the stream did not complete).
    held: bool | None
    burst_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class IdleResult:
    #: The idle timeout (midpoint of the bracket), or None when no pause up to `up_to` was cut.
    cut_s: float | None
    #: Longest pause that survived, shortest that was cut.
    lo: float
    hi: float | None
    up_to: float
    #: Cuts this long were the total-time limit, not silence: idle measured only below it.
    total_limit_s: float | None = None
    quick: bool = False
    #: `(pause, outcome, silence before the cut)` per trial, in the order they ran.
    trials: list[tuple[float, str, float | None]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class HeartbeatResult:
    interval_s: float | None
    pause_s: float | None
    #: Comments every `interval_s` kept a stream open across `pause_s` of no data.
    kept_alive: bool | None
    note: str = ""


@dataclass(frozen=True, slots=True)
class TotalResult:
    #: When a stream with data every `heartbeat_s` was cut, or None if none up to `up_to`.
    cut_s: float | None
    up_to: float
    heartbeat_s: float


@dataclass(frozen=True, slots=True)
class DisconnectResult:
    #: Seconds from the client leaving to the canary seeing it; `never`: it finished instead.
    delay_s: float | None
    never: bool
    #: How long the stream had left to run when the client left (how long "never" waited).
    remaining_s: float | None = None


@dataclass(frozen=True, slots=True)
class ConcurrencyResult:
    #: Most concurrent streams all served at once, and the step where some were not.
    admitted: int
    limited_at: int | None
    how: str | None
    #: `(streams, admitted, queued, refused)` per step.
    steps: list[tuple[int, int, int, int]] = field(default_factory=list)


@dataclass(slots=True)
class Measurements:
    target: str
    started_at: str
    settings: dict[str, Any]
    protocol: ProtocolResult | None = None
    buffering: BufferingResult | None = None
    compression: CompressionResult | None = None
    idle: IdleResult | None = None
    heartbeat: HeartbeatResult | None = None
    total: TotalResult | None = None
    disconnect: DisconnectResult | None = None
    concurrency: ConcurrencyResult | None = None
    errors: dict[str, str] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Measurements:
        """Read back `as_json()` (the `measurements` of `--json`), to re-render a card."""

        def opt(name: str, build: Any) -> Any:
            value = data.get(name)
            return None if value is None else build(value)

        def buffering(d: dict[str, Any]) -> BufferingResult:
            return BufferingResult(*(Buffering(**d[k]) for k in ("plain", "guarded", "comments")))

        def protocol(d: dict[str, Any]) -> ProtocolResult:
            return ProtocolResult(d["http_version"], d["tls"], HeaderChanges(**d["headers"]))

        def idle(d: dict[str, Any]) -> IdleResult:
            return IdleResult(**{**d, "trials": [tuple(t) for t in d.get("trials", [])]})

        def concurrency(d: dict[str, Any]) -> ConcurrencyResult:
            return ConcurrencyResult(**{**d, "steps": [tuple(t) for t in d.get("steps", [])]})

        return cls(
            target=data["target"],
            started_at=data["started_at"],
            settings=dict(data.get("settings") or {}),
            protocol=opt("protocol", protocol),
            buffering=opt("buffering", buffering),
            compression=opt("compression", lambda d: CompressionResult(**d)),
            idle=opt("idle", idle),
            heartbeat=opt("heartbeat", lambda d: HeartbeatResult(**d)),
            total=opt("total", lambda d: TotalResult(**d)),
            disconnect=opt("disconnect", lambda d: DisconnectResult(**d)),
            concurrency=opt("concurrency", concurrency),
            errors=dict(data.get("errors") or {}),
            elapsed_s=float(data.get("elapsed_s", 0.0)),
        )
