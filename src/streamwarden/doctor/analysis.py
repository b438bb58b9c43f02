"""What the doctor's observations mean: pure functions, no network, no clock.

The experiments (`experiments.py`) send streams and call these to read the results and to
choose the next trial; tests feed them synthetic observations, near misses included.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from streamwarden.doctor.canary import ID_HEADER, STREAM_HEADERS, Plan
from streamwarden.doctor.wire import Observation, Piece

__all__ = [
    "Buffering",
    "HeaderChanges",
    "TrialOutcome",
    "admission",
    "bisect_pauses",
    "buffering",
    "cut_silence",
    "disconnect_delay",
    "group_reads",
    "growth_pauses",
    "header_changes",
    "hinted_pauses",
    "idle_plan",
    "median_or_none",
    "narrow",
    "precise_enough",
    "trial_outcome",
]

#: Headers every hop may add or drop without changing what a stream does.
_HOP_HEADERS = frozenset(
    {"date", "server", "connection", "keep-alive", "transfer-encoding", "content-length"}
)
#: A read carrying this many units (events or comments) sent at least `every` apart was held:
#: on an unbuffered path each arrives on its own, two may share a read by chance.
HELD_UNITS = 3
#: ...and a path holds a stream when most of its units came that way: one stall of the
#: sender or the network (a loaded host, a retransmit) joins a few, a buffer joins them all.
HELD_SHARE = 0.5
#: The idle timeout is known when the midpoint of its bracket is within this of the cut.
PRECISION = 0.05
#: A cut this close to the total-time limit may be that limit, not silence.
TOTAL_MARGIN = 0.9

TrialOutcome = Literal["survived", "cut", "failed"]


def group_reads(pieces: Sequence[Piece], window: float) -> list[Piece]:
    """Pieces that came off the connection within `window` s of each other, as one read.

    The HTTP client hands a network read over in parts (one per chunk of a chunked body),
    so several pieces with one timestamp are one read of the socket.
    """
    reads: list[Piece] = []
    for t, size, events, comments in pieces:
        if reads and t - reads[-1][0] <= window:
            t0, s0, e0, c0 = reads[-1]
            reads[-1] = (t0, s0 + size, e0 + events, c0 + comments)
        else:
            reads.append((t, size, events, comments))
    return reads


@dataclass(frozen=True, slots=True)
class Buffering:
    """How one paced stream arrived. `held` is None when the stream did not complete."""

    held: bool | None
    #: Every unit came in the last read or two: the path held the whole response.
    whole: bool = False
    #: Median size of the reads that carried several units, and how many they carried.
    burst_bytes: int | None = None
    burst_units: int | None = None
    #: Units sent and units that arrived (comments may be dropped by a path).
    sent: int = 0
    arrived: int = 0
    reads: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "held": self.held,
            "whole": self.whole,
            "burst_bytes": self.burst_bytes,
            "burst_units": self.burst_units,
            "sent": self.sent,
            "arrived": self.arrived,
            "reads": self.reads,
        }


def buffering(seen: Observation) -> Buffering:
    """Did the path hold the units back? Read from when each arrived, sent `every` apart."""
    plan = seen.plan
    unit = 3 if plan.comments else 2
    reads = group_reads(seen.pieces, window=min(plan.every / 4, 0.005))
    carrying = [r for r in reads if r[unit]]
    arrived = int(sum(r[unit] for r in reads))
    if not seen.completed or not carrying:
        return Buffering(held=None, sent=plan.events, arrived=arrived, reads=len(carrying))
    in_bursts = sum(r[unit] for r in carrying if r[unit] >= HELD_UNITS)
    if in_bursts < HELD_SHARE * arrived:
        return Buffering(held=False, sent=plan.events, arrived=arrived, reads=len(carrying))
    bursts = [r for r in carrying if r[unit] >= 2]
    return Buffering(
        held=True,
        whole=len(carrying) <= 2 and arrived >= plan.events - 1,
        burst_bytes=int(statistics.median(r[1] for r in bursts)),
        burst_units=int(statistics.median(r[unit] for r in bursts)),
        sent=plan.events,
        arrived=arrived,
        reads=len(carrying),
    )


@dataclass(frozen=True, slots=True)
class HeaderChanges:
    added: dict[str, str]
    stripped: list[str]
    changed: dict[str, str]

    def as_json(self) -> dict[str, Any]:
        return {"added": self.added, "stripped": self.stripped, "changed": self.changed}


def header_changes(received: Mapping[str, str], accel: bool, request_id: str) -> HeaderChanges:
    """Headers the path added, stripped or rewrote, against what the canary sent."""
    sent = {**STREAM_HEADERS, ID_HEADER.lower(): request_id}
    if accel:
        sent["x-accel-buffering"] = "no"
    got = {k.lower(): v for k, v in received.items()}
    added = {k: v for k, v in got.items() if k not in sent and k not in _HOP_HEADERS}
    stripped = sorted(k for k in sent if k not in got)
    changed = {
        k: got[k]
        for k, v in sent.items()
        if k in got and got[k].replace(" ", "").lower() != v.replace(" ", "").lower()
    }
    return HeaderChanges(added=dict(sorted(added.items())), stripped=stripped, changed=changed)


# -- idle timeout: which pauses to try, and what a trial says --------------------------------


def trial_outcome(seen: Observation) -> TrialOutcome:
    """`survived`: the stream ended whole. `cut`: it started and was closed mid-way."""
    if seen.completed:
        return "survived"
    # A held first event may never arrive before the cut: a 200 is enough to say it began.
    started = seen.status == 200
    if started and seen.left is None and not (seen.error or "").startswith("client deadline"):
        return "cut"
    return "failed"


def growth_pauses(max_idle: float, floor: float = 0.25, ratio: float = 2.0) -> list[float]:
    """Pauses from `max_idle` down by `ratio` to `floor`, ascending: tried all at once."""
    pauses = [max_idle]
    while pauses[-1] / ratio >= max(floor, max_idle / 256):
        pauses.append(pauses[-1] / ratio)
    return sorted(round(p, 3) for p in pauses)


def narrow(
    lo: float, hi: float | None, trials: Sequence[tuple[float, TrialOutcome]]
) -> tuple[float, float | None]:
    """The bracket `(longest pause survived, shortest pause cut)` after these trials.

    A survived pause above the shortest cut (noise near the edge) does not raise `lo` past it.
    """
    cuts = [p for p, o in trials if o == "cut"]
    if cuts:
        hi = min([*cuts, *([hi] if hi is not None else [])])
    survived = [p for p, o in trials if o == "survived" and (hi is None or p < hi)]
    if survived:
        lo = max(lo, *survived)
    return lo, hi


def precise_enough(lo: float, hi: float, precision: float = PRECISION) -> bool:
    """The bracket's midpoint is within `precision` of any cut inside it."""
    mid = (lo + hi) / 2
    return mid > 0 and (hi - lo) / 2 <= precision * mid


def bisect_pauses(lo: float, hi: float, count: int = 4) -> list[float]:
    """`count` pauses splitting (lo, hi) evenly: one round shrinks it `count + 1` times."""
    step = (hi - lo) / (count + 1)
    return [round(lo + step * i, 3) for i in range(1, count + 1)]


def hinted_pauses(lo: float, hi: float, hint: float) -> list[float]:
    """Pauses close around the silence the cuts were seen after, inside (lo, hi)."""
    pauses = [round(hint * k, 3) for k in (0.94, 0.98, 1.02, 1.06)]
    inside = [p for p in pauses if lo < p < hi]
    return inside if len(inside) >= 2 else bisect_pauses(lo, hi)


def cut_silence(seen: Observation) -> float | None:
    """How long the client heard nothing before a cut: the idle timeout, on a clean path."""
    if seen.end is None or seen.last_byte is None:
        return None
    return seen.end - seen.last_byte


def median_or_none(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


# -- disconnect, concurrency ----------------------------------------------------------------


def disconnect_delay(
    seen: Observation, report: Mapping[str, Any] | None
) -> tuple[float | None, bool]:
    """`(delay, never)`: how long after the client left the canary saw it go.

    The canary's clock starts when the request reached it, about half the time to first
    byte after the client sent it; `never` when the canary finished the stream instead.
    """
    if seen.left is None or report is None:
        return None, False
    gone = report.get("disconnected_s")
    if gone is None:
        return None, report.get("finished_s") is not None
    left_on_canary = seen.left - (seen.ttfb or 0.0) / 2
    return max(float(gone) - left_on_canary, 0.0), False


Admission = Literal["admitted", "queued", "refused"]


def admission(seen: Observation, baseline_ttfb: float, stream_s: float) -> Admission:
    """Was a stream served at once, held in a queue first, or refused?"""
    if seen.status != 200:
        return "refused"
    if seen.ttfb is not None and seen.ttfb > baseline_ttfb + stream_s / 2:
        return "queued"
    return "admitted" if seen.completed else "refused"


def idle_plan(pause: float, heartbeat: float = 0.0) -> Plan:
    """One event, a silent (or heartbeat-filled) pause, one event, the end."""
    return Plan(events=2, size=64, every=0.01, pause=pause, pause_after=1, heartbeat=heartbeat)
