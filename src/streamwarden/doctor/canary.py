"""The canary: a tiny ASGI app whose stream is controlled per request, to measure a path.

Mount it inside your own Starlette or FastAPI app, so that it rides the same routes,
middleware, ingress and load balancers as your real streaming endpoint:

    app.mount("/_streamwarden", canary_app(token=os.environ["STREAMWARDEN_CANARY_TOKEN"]))

Every request must carry the token in `X-Streamwarden-Canary` (401 otherwise). Routes:

- `GET /` — who it is and its caps (the doctor's first call).
- `GET /stream?id=ID&events=N&size=B&every=S&pause=S&pause_after=N&heartbeat=S&comments=0|1
  &accel=0|1` — `events` SSE events of `size` bytes, one every `every` seconds; after
  `pause_after` events a silent `pause` (filled with `: keepalive` comments every `heartbeat`
  seconds when that is set); `comments=1` sends comment lines instead of data events;
  `accel=0` leaves out `X-Accel-Buffering: no`. The stream ends with `event: end`.
- `GET /report/ID` — what the canary saw of that request: when it arrived, each write, when
  the client's disconnect reached it, when the stream finished. Times in seconds from arrival.

Nothing a request asks for may exceed the caps (`CanaryLimits`): a 1-hour pause or a billion
events is refused with 400. Records are kept in bounded memory and expire.
"""

from __future__ import annotations

import hmac
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from streamwarden.sse import Event, encode, encode_comment

__all__ = [
    "CANARY_HEADER",
    "ID_HEADER",
    "CanaryLimits",
    "Plan",
    "PlanError",
    "Record",
    "Records",
    "canary_app",
    "parse_plan",
]

#: The request header that carries the canary's token (the gateway's sim uses the same).
CANARY_HEADER = "X-Streamwarden-Canary"
#: The response header that echoes the request id, so that a path that rewrites URLs still
#: lets the doctor find the record.
ID_HEADER = "X-Streamwarden-Canary-Id"
#: What the canary's stream always sends; the doctor compares what arrives with this.
STREAM_HEADERS = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache, no-transform",
}
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_END = encode(Event("done", event="end"))


@dataclass(frozen=True, slots=True)
class CanaryLimits:
    """The most any request may ask for: the canary is reachable from outside by design."""

    max_pause: float = 900.0
    #: The whole stream, pauses and events together.
    max_duration: float = 1800.0
    max_events: int = 100_000
    max_size: int = 64 * 1024
    min_every: float = 0.001
    min_heartbeat: float = 0.05
    #: Streams at once; more get 503.
    max_active: int = 256
    #: A write the client has not taken in this long ends the stream (a reader that stopped
    #: reading without leaving would otherwise hold it forever).
    send_timeout: float = 60.0
    #: Reports kept, and for how long; writes recorded per report.
    max_records: int = 2048
    record_ttl: float = 3600.0
    max_rows: int = 20_000


class PlanError(ValueError):
    """A stream request the canary refuses (bad value or over a cap): one plain line."""


@dataclass(frozen=True, slots=True)
class Plan:
    """One stream, as the request asked for it."""

    events: int = 10
    size: int = 64
    every: float = 0.1
    pause: float = 0.0
    pause_after: int = 1
    heartbeat: float = 0.0
    comments: bool = False
    accel: bool = True

    @property
    def duration(self) -> float:
        return max(self.events - 1, 0) * self.every + self.pause


def _number(query: Mapping[str, str], name: str, default: float) -> float:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise PlanError(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise PlanError(f"{name}={raw!r} must be a finite number >= 0")
    return value


def _flag(query: Mapping[str, str], name: str, default: bool) -> bool:
    raw = query.get(name)
    if raw is None:
        return default
    if raw not in ("0", "1"):
        raise PlanError(f"{name}={raw!r} must be 0 or 1")
    return raw == "1"


def parse_plan(query: Mapping[str, str], limits: CanaryLimits) -> Plan:
    """The plan a query asks for, or `PlanError` naming the value and the cap it breaks."""
    d = Plan()
    plan = Plan(
        events=int(_number(query, "events", d.events)),
        size=int(_number(query, "size", d.size)),
        every=_number(query, "every", d.every),
        pause=_number(query, "pause", d.pause),
        pause_after=int(_number(query, "pause_after", d.pause_after)),
        heartbeat=_number(query, "heartbeat", d.heartbeat),
        comments=_flag(query, "comments", d.comments),
        accel=_flag(query, "accel", d.accel),
    )
    caps = (
        ("events", plan.events, limits.max_events),
        ("size", plan.size, limits.max_size),
        ("pause", plan.pause, limits.max_pause),
        ("duration", plan.duration, limits.max_duration),
    )
    for name, value, cap in caps:
        if value > cap:
            raise PlanError(f"{name} {value:g} is over this canary's cap of {cap:g}")
    if plan.events and plan.every < limits.min_every:
        raise PlanError(
            f"every {plan.every:g} is under this canary's floor of {limits.min_every:g}"
        )
    if plan.heartbeat and plan.heartbeat < limits.min_heartbeat:
        raise PlanError(
            f"heartbeat {plan.heartbeat:g} is under this canary's floor of {limits.min_heartbeat:g}"
        )
    return plan


@dataclass(slots=True)
class Record:
    """What the canary saw of one request; times in seconds since it arrived."""

    id: str
    plan: Plan
    arrived: float
    #: `(t, bytes, kind)` per write; kind is `event`, `comment`, `heartbeat` or `end`.
    writes: list[tuple[float, int, str]] = field(default_factory=list)
    rows_dropped: int = 0
    disconnected: float | None = None
    finished: float | None = None
    #: Why the canary ended the stream itself, if it did.
    error: str | None = None

    def write(self, t: float, size: int, kind: str, max_rows: int) -> None:
        if len(self.writes) < max_rows:
            self.writes.append((round(t, 6), size, kind))
        else:
            self.rows_dropped += 1

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "plan": asdict(self.plan),
            "writes": [list(w) for w in self.writes],
            "rows_dropped": self.rows_dropped,
            "disconnected_s": self.disconnected,
            "finished_s": self.finished,
            "error": self.error,
        }


class Records:
    """Reports by request id, bounded in number and age (oldest go first)."""

    def __init__(self, limits: CanaryLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self.clock = clock
        self._items: OrderedDict[str, Record] = OrderedDict()

    def _expire(self) -> None:
        horizon = self.clock() - self.limits.record_ttl
        while self._items:
            oldest = next(iter(self._items.values()))
            if oldest.arrived >= horizon and len(self._items) <= self.limits.max_records:
                break
            self._items.popitem(last=False)

    def new(self, request_id: str, plan: Plan) -> Record | None:
        """A fresh record, or None when the id is taken (ids must not be reused)."""
        self._expire()
        if request_id in self._items:
            return None
        record = Record(request_id, plan, self.clock())
        self._items[request_id] = record
        self._expire()
        return record

    def get(self, request_id: str) -> Record | None:
        self._expire()
        return self._items.get(request_id)

    def __len__(self) -> int:
        return len(self._items)


class _CanaryStream(Response):
    """Plays one plan on the wire and records every write and the client's disconnect."""

    def __init__(self, plan: Plan, record: Record, canary: _Canary) -> None:
        self.plan = plan
        self.record = record
        self.canary = canary
        self.status_code = 200
        self.background = None
        headers = {**STREAM_HEADERS, ID_HEADER.lower(): record.id}
        if plan.accel:
            headers["x-accel-buffering"] = "no"
        self.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]

    def _now(self) -> float:
        return self.canary.records.clock() - self.record.arrived

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.canary.active += 1
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(self._watch_disconnect, receive, group.cancel_scope)
                try:
                    await self._play(send)
                except TimeoutError:  # before OSError, of which it is a subclass
                    self.record.error = (
                        f"a write waited over {self.canary.limits.send_timeout:g} s: "
                        "the client stopped reading"
                    )
                except OSError:  # the server noticed the client left before receive() did
                    if self.record.disconnected is None and self.record.finished is None:
                        self.record.disconnected = self._now()
                group.cancel_scope.cancel()
        finally:
            self.canary.active -= 1

    async def _watch_disconnect(self, receive: Receive, scope: anyio.CancelScope) -> None:
        while True:
            message = await receive()
            # Once the stream is written, servers answer receive() with a disconnect at once:
            # only one before the end means the client left.
            if message["type"] == "http.disconnect":
                if self.record.finished is None:
                    self.record.disconnected = self._now()
                scope.cancel()
                return

    async def _write(self, send: Send, body: bytes, kind: str) -> None:
        with anyio.fail_after(self.canary.limits.send_timeout):
            await send({"type": "http.response.body", "body": body, "more_body": True})
        self.record.write(self._now(), len(body), kind, self.canary.limits.max_rows)

    async def _wait_until(self, send: Send, target: float) -> None:
        """Sleep until `target` (record time), with a heartbeat every `plan.heartbeat` s."""
        beat = self.plan.heartbeat
        while (left := target - self._now()) > 0:
            if beat and left > beat:
                await anyio.sleep(beat)
                await self._write(send, encode_comment("keepalive"), "heartbeat")
            else:
                await anyio.sleep(left)

    def _body(self, index: int) -> tuple[bytes, str]:
        head = f"{index} "
        if self.plan.comments:
            # ": " + head + pad + "\n\n" is `size` bytes.
            pad = "c" * max(self.plan.size - len(head) - 4, 0)
            return encode_comment(head + pad), "comment"
        # "id: N\n" + "data: " + head + pad + "\n\n"
        overhead = len(f"id: {index}\n") + 6 + len(head) + 2
        pad = "x" * max(self.plan.size - overhead, 0)
        return encode(Event(head + pad, id=str(index))), "event"

    async def _play(self, send: Send) -> None:
        plan = self.plan
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        # Scheduled on absolute times, so the pace does not drift with write costs.
        target = 0.0
        for index in range(plan.events):
            if index:
                target += plan.every
            if index == plan.pause_after and plan.pause:
                target += plan.pause
            await self._wait_until(send, target)
            body, kind = self._body(index)
            await self._write(send, body, kind)
        if plan.events == 0 and plan.pause:
            await self._wait_until(send, plan.pause)
        await self._write(send, _END, "end")
        self.record.finished = self._now()
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class _Canary:
    def __init__(
        self, token: str, limits: CanaryLimits, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not token:
            raise ValueError("canary_app needs a non-empty token")
        self.token = token.encode()
        self.limits = limits
        self.records = Records(limits, clock)
        self.active = 0

    def authorised(self, request: Request) -> bool:
        given = request.headers.get(CANARY_HEADER, "").encode()
        return hmac.compare_digest(given, self.token)

    @staticmethod
    def refuse(status: int, message: str) -> JSONResponse:
        return JSONResponse({"error": message}, status_code=status)

    async def info(self, request: Request) -> Response:
        if not self.authorised(request):
            return self._unauthorised()
        return JSONResponse(
            {"canary": "streamwarden", "version": 1, "limits": asdict(self.limits)},
            headers={"cache-control": "no-store"},
        )

    async def stream(self, request: Request) -> Response:
        if not self.authorised(request):
            return self._unauthorised()
        request_id = request.query_params.get("id", "")
        if not _ID.match(request_id):
            return self.refuse(400, "id must be 1-64 letters, digits, '-' or '_'")
        try:
            plan = parse_plan(request.query_params, self.limits)
        except PlanError as exc:
            return self.refuse(400, str(exc))
        if self.active >= self.limits.max_active:
            return self.refuse(503, f"this canary already serves {self.active} streams")
        record = self.records.new(request_id, plan)
        if record is None:
            return self.refuse(409, f"id {request_id!r} was used already: send a fresh one")
        return _CanaryStream(plan, record, self)

    async def report(self, request: Request) -> Response:
        if not self.authorised(request):
            return self._unauthorised()
        record = self.records.get(request.path_params["id"])
        if record is None:
            return self.refuse(404, "no such request id (never seen, or expired)")
        return JSONResponse(record.as_json(), headers={"cache-control": "no-store"})

    def _unauthorised(self) -> JSONResponse:
        return self.refuse(401, f"send the canary's token in the {CANARY_HEADER} header")


def canary_app(
    token: str,
    limits: CanaryLimits | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Starlette:
    """The canary as an ASGI app, to mount: `app.mount("/_streamwarden", canary_app(token=t))`."""
    canary = _Canary(token, limits or CanaryLimits(), clock)
    return Starlette(
        routes=[
            Route("/", canary.info, methods=["GET"]),
            Route("/stream", canary.stream, methods=["GET"]),
            Route("/report/{id}", canary.report, methods=["GET"]),
        ]
    )
