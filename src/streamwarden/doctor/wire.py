"""The doctor's edge: asks the canary for streams through the path and records what arrives.

One `Observation` per stream, seen from the client: status, headers, protocol, and one row
per piece of body as it came off the connection. What the canary saw of the same request
comes from its report (`CanaryClient.report`). Nothing here decides anything.
"""

from __future__ import annotations

import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

import anyio
import httpx

from streamwarden.doctor.canary import CANARY_HEADER, Plan
from streamwarden.sse import Comment, Event, SSEDecoder

__all__ = ["CanaryClient", "CanaryUnavailable", "Observation", "Piece"]

#: One piece of body as the client got it: `(t, wire_bytes, events, comments)`, `t` in
#: seconds since the request was sent. Pieces that arrive together are grouped later.
Piece = tuple[float, int, int, int]


class CanaryUnavailable(Exception):
    """The canary cannot be used: unreachable, wrong token, or no canary at the URL."""


@dataclass(slots=True)
class Observation:
    """One stream as the client saw it; times in seconds since the request was sent."""

    id: str
    plan: Plan
    status: int | None = None
    http_version: str = ""
    #: The TLS version the client negotiated with the first hop, or None for plain HTTP.
    tls: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    ttfb: float | None = None
    pieces: list[Piece] = field(default_factory=list)
    #: The canary's `event: end` arrived: nothing cut the stream.
    completed: bool = False
    #: When the body ended, cleanly or not (or when the client left).
    end: float | None = None
    #: When the client left on purpose (the disconnect experiment).
    left: float | None = None
    error: str | None = None

    @property
    def events(self) -> int:
        return sum(p[2] for p in self.pieces)

    @property
    def comments(self) -> int:
        return sum(p[3] for p in self.pieces)

    @property
    def last_byte(self) -> float | None:
        return self.pieces[-1][0] if self.pieces else self.ttfb

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "http_version": self.http_version,
            "ttfb_s": self.ttfb,
            "completed": self.completed,
            "end_s": self.end,
            "left_s": self.left,
            "error": self.error,
            "events": self.events,
            "comments": self.comments,
            "pieces": [[round(p[0], 4), p[1], p[2], p[3]] for p in self.pieces],
        }


def _query(plan: Plan, request_id: str) -> dict[str, str]:
    return {
        "id": request_id,
        "events": str(plan.events),
        "size": str(plan.size),
        "every": f"{plan.every:g}",
        "pause": f"{plan.pause:g}",
        "pause_after": str(plan.pause_after),
        "heartbeat": f"{plan.heartbeat:g}",
        "comments": "1" if plan.comments else "0",
        "accel": "1" if plan.accel else "0",
    }


class _Inflater:
    """Undoes gzip/deflate as it arrives, so that events can still be counted."""

    def __init__(self, encoding: str) -> None:
        wbits = {"gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}.get(encoding)
        self._z = zlib.decompressobj(wbits) if wbits is not None else None
        self.opaque = encoding not in ("", "identity") and self._z is None

    def feed(self, data: bytes) -> bytes:
        if self._z is None:
            return b"" if self.opaque else data
        try:
            return self._z.decompress(data)
        except zlib.error:
            self.opaque = True
            self._z = None
            return b""


class CanaryClient:
    """The canary at `base` (its mount point), asked through whatever lies in between."""

    def __init__(self, base: str, token: str, timeout: float = 10.0) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.http2 = _has_h2()
        # No pool limit: the concurrency experiment opens many streams at once on purpose.
        self._client = httpx.AsyncClient(
            headers={CANARY_HEADER: token},
            timeout=httpx.Timeout(timeout, read=None),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=0),
            http2=self.http2,
            follow_redirects=False,
            trust_env=False,
        )
        self._slots: anyio.CapacityLimiter | None = None

    async def __aenter__(self) -> CanaryClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def info(self) -> dict[str, Any]:
        """The canary's greeting; `CanaryUnavailable` with the reason when there is none."""
        url = self.base + "/"
        try:
            response = await self._client.get(url)
        except httpx.HTTPError as exc:
            raise CanaryUnavailable(f"cannot reach {url} ({type(exc).__name__}: {exc})") from None
        if response.status_code == 401:
            raise CanaryUnavailable(f"the canary at {url} refused the token (401)")
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200 or not isinstance(body, dict) or "canary" not in body:
            raise CanaryUnavailable(
                f"no streamwarden canary at {url} (HTTP {response.status_code})"
            )
        return body

    async def report(self, request_id: str) -> dict[str, Any] | None:
        """What the canary saw of `request_id`, or None when it has no such record."""
        try:
            response = await self._client.get(f"{self.base}/report/{request_id}")
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        body = response.json()
        return body if isinstance(body, dict) else None

    def limit_streams(self, most: int | None) -> None:
        """Keep at most `most` streams open at once (None: no limit). A path that admits only
        so many refuses or queues the rest, and the experiments would measure that instead."""
        self._slots = anyio.CapacityLimiter(most) if most else None

    async def stream(
        self,
        plan: Plan,
        *,
        accept_encoding: str = "identity",
        leave_after_events: int | None = None,
        deadline: float | None = None,
    ) -> Observation:
        """One stream through the path, recorded piece by piece until it ends.

        `leave_after_events`: close the connection once that many events arrived.
        `deadline`: give up (and close) after that many seconds, once the stream has a slot.
        """
        if self._slots is None:
            return await self._stream(plan, accept_encoding, leave_after_events, deadline)
        async with self._slots:
            return await self._stream(plan, accept_encoding, leave_after_events, deadline)

    async def _stream(
        self,
        plan: Plan,
        accept_encoding: str,
        leave_after_events: int | None,
        deadline: float | None,
    ) -> Observation:
        request_id = uuid.uuid4().hex
        seen = Observation(request_id, plan)
        started = time.monotonic()
        limit = deadline if deadline is not None else plan.duration + 60.0

        def now() -> float:
            return time.monotonic() - started

        decoder = SSEDecoder()
        request_headers = {"accept": "text/event-stream", "accept-encoding": accept_encoding}
        with anyio.move_on_after(limit):
            try:
                async with self._client.stream(
                    "GET",
                    self.base + "/stream",
                    params=_query(plan, request_id),
                    headers=request_headers,
                ) as response:
                    seen.ttfb = now()
                    seen.status = response.status_code
                    seen.http_version = response.http_version
                    seen.tls = _tls_version(response)
                    seen.headers = {k.lower(): v for k, v in response.headers.items()}
                    inflate = _Inflater(seen.headers.get("content-encoding", "").lower())
                    clean_end = True
                    async for raw in response.aiter_raw():
                        items = decoder.feed(inflate.feed(raw))
                        events = sum(1 for i in items if isinstance(i, Event) and i.event != "end")
                        comments = sum(1 for i in items if isinstance(i, Comment))
                        seen.pieces.append((now(), len(raw), events, comments))
                        if any(isinstance(i, Event) and i.event == "end" for i in items):
                            seen.completed = True
                        if leave_after_events is not None and seen.events >= leave_after_events:
                            seen.left = now()
                            clean_end = False
                            break
                    if inflate.opaque and clean_end:
                        # Cannot count what we cannot decode (br, zstd): a clean end counts.
                        seen.completed = True
            except httpx.HTTPError as exc:
                seen.error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if seen.end is None:
            seen.end = now()
        if seen.end >= limit and not seen.completed and seen.left is None and seen.error is None:
            seen.error = f"client deadline ({limit:g} s)"
        return seen


def _tls_version(response: httpx.Response) -> str | None:
    stream = response.extensions.get("network_stream")
    ssl_object = stream.get_extra_info("ssl_object") if stream is not None else None
    version = ssl_object.version() if ssl_object is not None else None
    return str(version) if version else None


def _has_h2() -> bool:
    try:
        import h2  # noqa: F401
    except ImportError:
        return False
    return True
