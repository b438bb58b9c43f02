"""The stream guard as pure ASGI middleware: hardens the SSE endpoints an app already has.

`StreamGuardMiddleware` wraps any ASGI app. A response whose content type is
`text/event-stream` gets what `stream_response` gives a source: anti-buffering headers,
heartbeats in silences, deadlines, cancellation on disconnect and exactly one outcome. Every
other response passes through byte for byte, headers untouched.

The app writes the bytes, so the middleware reads them with the SSE decoder's line rules
(`streamwarden.sse`) only to know where the app's events begin and end: it writes its own
comments and error events only between two of them, never inside one.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel

from streamwarden.guard import (
    HEARTBEAT,
    Due,
    ErrorFormatter,
    OnClose,
    Outcome,
    StreamPolicy,
    StreamStats,
    Timeline,
    default_error_events,
    report_close,
)
from streamwarden.sse import encode, encode_comment

if TYPE_CHECKING:
    from anyio.abc import TaskGroup
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from streamwarden.metrics import GatewayMetrics

__all__ = ["StreamGuardMiddleware"]

logger = logging.getLogger("streamwarden.middleware")

_OPENING = encode_comment("stream open")
_HEARTBEAT = encode_comment("keepalive")
_BOM = b"\xef\xbb\xbf"
#: Hop-by-hop or length headers that a stream must not carry: HTTP/2 forbids `Connection`,
#: and heartbeats and error events change the length.
_DROPPED = {b"connection", b"keep-alive", b"content-length"}
#: What servers raise from `send` once the client is gone (uvicorn; Starlette's wrapper).
_DISCONNECT_ERRORS = {"ClientDisconnected", "ClientDisconnect"}
#: How long an app that listens for `http.disconnect` has to stop on its own once told.
_LISTEN_GRACE = 0.05
#: The app's own comments (sse-starlette's pings) are heartbeats too: once it sends one, the
#: middleware only steps in after this many heartbeat periods of silence, as a backstop.
_APP_PINGS_FACTOR = 2.0
#: Before that, a heartbeat waits a tenth longer than `heartbeat`, so that an app pinging at
#: the same interval (sse-starlette's 15 s against the guard's 15 s) is seen first.
_GRACE_FACTOR = 1.1
#: The timer's look at the app's common-path writes, as a share of the shortest interval.
_SAMPLE_SHARE = 0.25

_ERROR_MESSAGES = {
    Outcome.FIRST_TOKEN_TIMEOUT: "no first event within {limit:g}s",
    Outcome.IDLE_TIMEOUT: "stream silent for more than {limit:g}s",
    Outcome.MAX_DURATION: "stream exceeded its maximum duration of {limit:g}s",
}


def whole_events(data: bytes) -> bool:
    """Whether `data`, written at a boundary with no CR pending, is whole events that carry
    content: it ends in a blank line (its last LF ends an empty line, whatever ended the line
    before) and starts with a field. The stream is at a boundary again after it."""
    return data[-2:] == b"\n\n" and data[0] not in b":\r\n"


class SSEFraming:
    """Where a stream of SSE bytes stands: inside an event, or between two.

    The decoder's rules, without building events: lines end at CRLF, LF or CR; a line that
    starts with `:` is a comment; a blank line ends the event. `at_boundary` holds when no
    field is pending and a new line would start, so a comment block or a whole event written
    there cannot change what the client decodes.
    """

    __slots__ = (
        "_fields",
        "_line_kind",
        "_line_start",
        "_pending_cr",
        "clean",
        "comments",
        "events",
    )

    def __init__(self) -> None:
        self._line_start = True
        #: The partial line's kind, once it has started: True for a comment.
        self._line_kind = False
        self._pending_cr = False
        #: A field line (data, event, id, retry...) since the last blank line.
        self._fields = False
        #: Events the bytes dispatched so far, and whether the app wrote comments itself.
        self.events = 0
        self.comments = False
        #: At a boundary with no CR pending: whole events can be taken without a scan.
        self.clean = True

    @property
    def at_boundary(self) -> bool:
        return self._line_start and not self._fields

    def feed(self, data: bytes) -> bool:
        """Track `data`; True when it carries content (a field), not only comments."""
        if self.clean and whole_events(data):
            # The common write: whole events, starting where an event may start. Counted as
            # one: a scan to count them costs as much as the rest of a write's bookkeeping.
            self.events += 1
            return True
        if not data:
            return False
        content = self._feed_lines(data)
        self.clean = self._line_start and not self._fields and not self._pending_cr
        return content

    def _feed_lines(self, data: bytes) -> bool:
        content = False
        start = 0
        size = len(data)
        if self._pending_cr:
            self._pending_cr = False
            if data[0] == 0x0A:  # the LF of a CRLF split across writes
                start = 1
        while start < size:
            lf = data.find(b"\n", start)
            cr = data.find(b"\r", start)
            if lf == -1 and cr == -1:
                end = -1
            elif lf == -1 or (cr != -1 and cr < lf):
                end = cr
            else:
                end = lf
            if self._line_start and start != end:
                # A line begins here; its first byte says what it is.
                self._line_kind = data[start] == 0x3A
                if self._line_kind:
                    self.comments = True
            if end == -1:  # the line goes on in the next write
                if start < size:
                    self._line_start = False
                    content = content or not self._line_kind
                break
            if self._line_start and start == end:  # a blank line: the event is dispatched
                if self._fields:
                    self.events += 1
                self._fields = False
            elif not self._line_kind:
                self._fields = True
                content = True
            self._line_start = True
            start = end + 1
            if data[end] == 0x0D:
                if start < size:
                    if data[start] == 0x0A:
                        start += 1
                else:
                    self._pending_cr = True
        return content


def _is_event_stream(headers: Sequence[tuple[bytes, bytes]]) -> bool:
    for name, value in headers:
        if name.lower() == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"text/event-stream"
    return False


def _stream_headers(headers: Sequence[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]] | None:
    """The app's headers with the guard's anti-buffering ones; None when it compressed."""
    out: list[tuple[bytes, bytes]] = []
    cache_control: bytes | None = None
    for name, value in headers:
        lower = name.lower()
        if lower == b"content-encoding" and value.strip().lower() not in (b"", b"identity"):
            return None
        if lower in _DROPPED or lower == b"x-accel-buffering":
            continue
        if lower == b"cache-control":
            cache_control = value
            continue
        out.append((name, value))
    if cache_control is None:
        cache_control = b"no-cache, no-transform"
    elif b"no-transform" not in cache_control.lower():
        cache_control += b", no-transform"
    out.append((b"cache-control", cache_control))
    # Turns nginx buffering off for this response, unless proxy_ignore_headers lists it.
    out.append((b"x-accel-buffering", b"no"))
    return out


class _Ended(Exception):
    """Internal: a write of the middleware's own found the client gone."""


class StreamGuardMiddleware:
    """Pure ASGI middleware that guards every `text/event-stream` response of `app`.

    `app.add_middleware(StreamGuardMiddleware, policy=StreamPolicy(heartbeat=15.0))`, or
    `StreamGuardMiddleware(app, ...)` around any ASGI app.

    - `policy`: heartbeat and deadlines, as for `stream_response`. The first-token deadline
      and `max_duration` count from the request's arrival; "a token" is an app write that
      carries an SSE field (comments do not count).
    - `on_close(stats)`: called once per event stream with its outcome.
    - `format_error(outcome, message)`: the events written when a deadline or an app error
      ends a stream (default `event: error`), only at an event boundary.
    - `paths` / `exclude`: path prefixes the middleware applies to (default all) and skips.
    - `opt_out_header`: a request carrying this header with the value `off` is not guarded;
      None turns the opt-out off.
    - `metrics=True`: the gateway's Prometheus metrics, served at `metrics_path` (needs
      the `metrics` extra: `pip install 'streamwarden[metrics]'`).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        policy: StreamPolicy | None = None,
        on_close: OnClose | None = None,
        format_error: ErrorFormatter = default_error_events,
        paths: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        opt_out_header: str | None = "x-streamwarden-guard",
        metrics: bool = False,
        metrics_path: str | None = "/metrics",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.policy = policy or StreamPolicy()
        self.on_close = on_close
        self.format_error = format_error
        self.paths = tuple(_prefix(p, "paths") for p in paths) if paths is not None else None
        self.exclude = tuple(_prefix(p, "exclude") for p in exclude)
        self.opt_out_header = opt_out_header.lower().encode("latin-1") if opt_out_header else None
        self.clock = clock
        self.metrics: GatewayMetrics | None = None
        self.metrics_path = metrics_path
        if metrics:
            # Imported here: the core install (starlette + anyio) has no prometheus-client.
            try:
                from streamwarden.metrics import GatewayMetrics
            except ImportError:
                raise RuntimeError(
                    "StreamGuardMiddleware(metrics=True) needs prometheus-client: "
                    "pip install 'streamwarden[metrics]'"
                ) from None
            self.metrics = GatewayMetrics()

    def guards(self, scope: Scope) -> bool:
        """Whether a request is guarded: its path is selected and it did not opt out."""
        if scope.get("method") == "HEAD":
            return False  # headers only: nothing to keep alive, no body to write into
        path: str = scope.get("path", "")
        if self.paths is not None and not any(_under(path, p) for p in self.paths):
            return False
        if any(_under(path, p) for p in self.exclude):
            return False
        if self.opt_out_header is not None:
            for name, value in scope.get("headers", ()):
                if name.lower() == self.opt_out_header and value.strip().lower() == b"off":
                    return False
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if (
            self.metrics is not None
            and self.metrics_path is not None
            and scope["path"] == self.metrics_path
            and scope["method"] == "GET"
        ):
            await self._serve_metrics(send)
            return
        if not self.guards(scope):
            await self.app(scope, receive, send)
            return
        await _GuardedRequest(self, scope, receive, send).run()

    async def _serve_metrics(self, send: Send) -> None:
        from streamwarden.metrics import CONTENT_TYPE_LATEST

        assert self.metrics is not None
        body = self.metrics.render()
        headers = [
            (b"content-type", CONTENT_TYPE_LATEST.encode("latin-1")),
            (b"content-length", str(len(body)).encode("latin-1")),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _sample_period(policy: StreamPolicy) -> float:
    """How often the timer looks at the app's common-path writes while they may flow: a
    quarter of the shortest interval that counts from them, so that a heartbeat or deadline
    comes at most that much late."""
    intervals = [
        value
        for value in (policy.heartbeat, policy.idle_timeout, policy.send_timeout)
        if value is not None
    ]
    return min(intervals) * _SAMPLE_SHARE if intervals else math.inf


def _prefix(path: str, option: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"StreamGuardMiddleware {option}: {path!r} must start with '/'")
    return path.rstrip("/") or "/"


def _under(path: str, prefix: str) -> bool:
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


class _GuardedRequest:
    """One guarded request: runs the app, and guards its response if it is an event stream.

    The app runs in this task under `app_scope`; the watchers (client and timer) start only
    once the app has started an event stream, under `watch_scope`. Anything that ends the
    stream records its outcome (first caller wins) and cancels the app.
    """

    # Slots: `send` reads several of these once per event.
    __slots__ = (
        "_receive",
        "_send",
        "app_receiving",
        "app_running",
        "app_scope",
        "arrival",
        "body_done",
        "bytes",
        "client_gone",
        "clock",
        "direct_receives",
        "disconnected",
        "events",
        "first_item",
        "framing",
        "fresh",
        "hot",
        "inbox",
        "last_event",
        "last_item",
        "last_write",
        "message",
        "mw",
        "outcome",
        "own_write",
        "pending",
        "policy",
        "scope",
        "seen_events",
        "started",
        "stats",
        "stopping",
        "streaming",
        "task_group",
        "watch_scope",
        "watching",
        "writing",
    )

    def __init__(
        self, middleware: StreamGuardMiddleware, scope: Scope, receive: Receive, send: Send
    ) -> None:
        self.mw = middleware
        self.policy = middleware.policy
        self.clock = middleware.clock
        self.scope = scope
        self._receive = receive
        self._send = send
        self.started = self.clock()
        # None until the response starts; then True for a guarded event stream.
        self.streaming: bool | None = None
        self.framing = SSEFraming()
        #: No app body yet: a BOM here is the stream's own.
        self.fresh = True
        self.stats = StreamStats()
        self.outcome: Outcome | None = None
        self.message = ""
        self.client_gone = False
        self.body_done = False
        self.first_item: float | None = None
        #: When the last write began (the app's or the middleware's), and the last content.
        self.last_write = self.started
        self.last_item = self.started
        #: Writes on `send`'s common path, how many of them the timer has seen, and when
        #: it saw the last one: one time for both `last_write` and `last_item` (see
        #: `_sample_events`, `_last_write`, `_last_item`).
        self.events = 0
        self.seen_events = 0
        self.last_event = self.started
        #: Writes in flight through the middleware's own coroutines, and the server's
        #: awaitable for the app's last common write (see `_in_flight`).
        self.writing = 0
        self.pending: Awaitable[None] | None = None
        self.bytes = 0
        #: See `_update_hot`.
        self.hot = False
        #: Set while the middleware writes a block of its own; the app's next write waits.
        self.own_write: anyio.Event | None = None
        self.app_scope = anyio.CancelScope()
        self.watch_scope = anyio.CancelScope()
        self.task_group: TaskGroup | None = None
        # The receive channel, shared by the client watcher and the app.
        self.watching = False
        self.disconnected = False
        self.inbox: deque[Message] = deque()
        self.arrival: anyio.Event | None = None
        #: App `receive` calls in progress, and the scopes of those waiting on the server.
        self.app_receiving = 0
        self.direct_receives: set[anyio.CancelScope] = set()
        #: The stream was ended: the app sees `http.disconnect`, its writes are dropped.
        self.stopping = False
        self.app_running = True

    # -- ending ---------------------------------------------------------------------------
    def end(self, outcome: Outcome, message: str = "") -> None:
        """Record why the stream ends (first caller wins) and stop the app.

        The app is told first, the way a server tells it: its `receive` returns
        `http.disconnect`. An app listening there (Starlette's `StreamingResponse`, Django)
        then stops through its own cleanup, which an outside cancellation could skip
        (Django's handler would leave its view's task running); it gets `_LISTEN_GRACE`
        seconds for that. An app that is not listening is cancelled at once.
        """
        if self.outcome is None:
            self.outcome = outcome
            self.message = message
        if self.stopping:
            return
        self.stopping = True
        self.hot = False
        self._wake_receivers()
        for scope in tuple(self.direct_receives):
            scope.cancel()
        if self.app_receiving and self.app_running and self.task_group is not None:
            self.task_group.start_soon(self._cancel_app_after, _LISTEN_GRACE)
        else:
            self.app_scope.cancel()

    async def _cancel_app_after(self, grace: float) -> None:
        await anyio.sleep(grace)
        self.app_scope.cancel()

    # -- the flow -------------------------------------------------------------------------
    async def run(self) -> None:
        app_error: Exception | None = None
        try:
            async with anyio.create_task_group() as tg:
                self.task_group = tg
                with self.app_scope:
                    try:
                        await self.mw.app(self.scope, self.receive, self.send)
                    except Exception as exc:
                        app_error = exc
                    finally:
                        self.app_running = False
                tg.cancel_scope.cancel()  # the watchers, and a pending cancellation
            if self.streaming:
                app_error = await self._finish(app_error)
        except BaseException:
            # Cancelled from outside (server shutdown): still exactly one outcome.
            if self.streaming and self.outcome is None:
                self.outcome = Outcome.SHUTDOWN
                self.client_gone = True
            raise
        finally:
            if self.streaming:
                await self._report()
        if app_error is not None:
            raise app_error

    async def _finish(self, app_error: Exception | None) -> Exception | None:
        """After the app: the error events, then the end of the body, where they are due.

        Returns the app's error to raise on, if any: the server logs it as usual.
        """
        if (isinstance(app_error, OSError) and self.client_gone) or (
            type(app_error).__name__ in _DISCONNECT_ERRORS
        ):
            # The server's send failed because the client left: not the app's error.
            self.client_gone = True
            if self.outcome is None:
                self.outcome = Outcome.CLIENT_DISCONNECTED
                self.message = "client went away"
            app_error = None
        if app_error is not None and not self.body_done:
            logger.warning("stream handler failed: %s", app_error)
            self.stats.error = f"{type(app_error).__name__}: {app_error}"
            if self.outcome is None:
                self.outcome = Outcome.UPSTREAM_ERROR
                self.message = str(app_error) or type(app_error).__name__
        if self.outcome is None:
            self.outcome = Outcome.COMPLETED
        if self.client_gone or self.body_done:
            return app_error
        bound = self.policy.send_timeout or math.inf
        with anyio.move_on_after(bound, shield=True):
            try:
                if self.outcome is not Outcome.COMPLETED and self.framing.at_boundary:
                    for item in self.mw.format_error(self.outcome, self.message):
                        await self._write(encode(item))
                await self._send({"type": "http.response.body", "body": b"", "more_body": False})
            except (_Ended, OSError):
                pass
        return app_error

    async def _report(self) -> None:
        stats = self.stats
        stats.outcome = self.outcome or Outcome.COMPLETED
        stats.duration = self.clock() - self.started
        stats.events = self.framing.events + self.events
        stats.bytes = self.bytes
        if self.message and stats.error is None and stats.outcome is not Outcome.COMPLETED:
            stats.error = self.message
        metrics = self.mw.metrics
        if metrics is not None:
            metrics.active_streams.dec()
            metrics.stream_finished(stats, stats.events, stats.outcome is Outcome.COMPLETED)
        await report_close(self.mw.on_close, stats)

    # -- what the app sees ----------------------------------------------------------------
    def send(self, message: Message) -> Awaitable[None]:
        """The app's send. A plain function: the common write (whole events that start with
        a field name, with more to come, on a running stream) is counted and handed straight
        to the server, whose awaitable the app then awaits, so the middleware adds no
        coroutine of its own per event. Everything else goes through `_send_other`.

        The common path reads no clock: the timer notices the count moving (see
        `_sample_events`). `more_body` is only ever set on body messages, and a write that
        ends in a blank line leaves the stream at an event boundary whatever came before."""
        if self.hot and message.get("more_body"):
            body: bytes = message.get("body", b"")
            # Inlined, each check costs as much as the rest of this path: a call would double
            # it. Bytes above `:` start a field name, so the write carries content.
            if body[-2:] == b"\n\n" and body[0] > 0x3A:
                self.events += 1
                self.bytes += len(body)
                self.pending = pending = self._send(message)
                return pending
        return self._send_other(message)

    def _sample_events(self, now: float) -> None:
        """The timer's view of the common path: writes since its last look began at the
        latest `now`, which is late by at most the time since that look (`_sample_period`
        bounds it); a deadline computed from it is late, never early."""
        if self.events != self.seen_events:
            self.seen_events = self.events
            self.last_event = now

    def _last_write(self) -> float:
        return max(self.last_write, self.last_event)

    def _last_item(self) -> float:
        return max(self.last_item, self.last_event)

    def _track(self, body: bytes, now: float) -> None:
        """Note a write of the app's, begun at `now`: whether it carried content, and where
        the stream stands after it."""
        self.last_write = now
        if self.framing.feed(body):
            self.last_item = now
            if self.first_item is None:
                self._first_item(now)
        self._update_hot()

    def _first_item(self, now: float) -> None:
        self.first_item = now
        self.stats.ttft = now - self.started

    def _in_flight(self) -> bool:
        """Whether a write has begun and not finished (it began at `last_write`)."""
        if self.writing:
            return True
        # The server's send is a coroutine (uvicorn's, Hypercorn's): it has a frame until it
        # finishes. Another awaitable cannot be watched, and counts as finished.
        return getattr(self.pending, "cr_frame", None) is not None

    async def _relay(self, message: Message) -> None:
        """A write of the app's off the common path: the first, the last, one that is not
        whole events, or one that waited for the middleware's own."""
        body: bytes = message.get("body", b"")
        self._track(body, self.clock())
        self.writing += 1
        try:
            await self._send(message)
        except OSError:
            # uvicorn raises ClientDisconnected (an OSError) once the peer is gone.
            self.client_gone = True
            self.end(Outcome.CLIENT_DISCONNECTED, "client went away")
            raise
        finally:
            self.writing -= 1
        self.bytes += len(body)
        if not message.get("more_body", False):
            self.body_done = True
            if self.outcome is None:
                self.outcome = Outcome.COMPLETED
            self.watch_scope.cancel()

    def _update_hot(self) -> None:
        """`send`'s common path needs none of the checks: an event stream, running, its
        first body and first content written, at a boundary with no CR pending, and no
        write of the middleware's own in progress."""
        self.hot = bool(
            self.streaming
            and not self.stopping
            and not self.fresh
            and self.own_write is None
            and self.first_item is not None
            and self.framing.clean
        )

    async def _send_other(self, message: Message) -> None:
        """Everything but the common write: the response start, other responses, the
        stream's first body, a write that waits for the middleware's own, an ended stream."""
        if not self.streaming or message["type"] != "http.response.body":
            if self.streaming is None and message["type"] == "http.response.start":
                await self._start(message)
            else:
                await self._send(message)
            return
        if self.stopping:
            return  # ended: what the app still writes would land after the error event
        if self.own_write is not None:
            await self.own_write.wait()
        body: bytes = message.get("body", b"")
        if self.fresh and body:
            self.fresh = False
            self._update_hot()
            if body.startswith(_BOM):
                # The BOM is dropped at the very start of a stream only: after the opening
                # comment it would corrupt the first field's name.
                message = {**message, "body": body[3:]}
        await self._relay(message)

    async def _start(self, message: Message) -> None:
        headers = message.get("headers", ())
        guarded = _is_event_stream(headers)
        new_headers = _stream_headers(headers) if guarded else None
        if new_headers is None:
            if guarded:
                logger.warning("event stream left unguarded: the app compressed it")
            self.streaming = False
            await self._send(message)
            return
        self.streaming = True
        self._update_hot()
        if self.mw.metrics is not None:
            self.mw.metrics.active_streams.inc()
        await self._send({**message, "headers": new_headers})
        assert self.task_group is not None
        self.task_group.start_soon(self._watch)
        # Headers and a first comment at once, before the app's first event: a proxy passes
        # them on, so the client knows the stream is open.
        try:
            await self._write(_OPENING)
        except _Ended:
            raise OSError("client went away") from None

    async def receive(self) -> Message:
        """The app's receive. `http.disconnect` once the stream is ended, whoever ended it;
        while the client watcher runs, the messages it read."""
        self.app_receiving += 1
        try:
            while True:
                if self.inbox:
                    return self.inbox.popleft()
                if self.stopping or self.disconnected:
                    return {"type": "http.disconnect"}
                if self.watching:
                    if self.arrival is None:
                        self.arrival = anyio.Event()
                    await self.arrival.wait()
                    continue
                # Straight from the server, in a scope the watcher (one reader from then
                # on) or a stream's end can interrupt; no message is lost to it.
                with anyio.CancelScope() as scope:
                    self.direct_receives.add(scope)
                    try:
                        message: Message = await self._receive()
                    finally:
                        self.direct_receives.discard(scope)
                    return message
        finally:
            self.app_receiving -= 1

    def _wake_receivers(self) -> None:
        if self.arrival is not None:
            self.arrival.set()
            self.arrival = None

    # -- the middleware's own writes --------------------------------------------------------
    async def _write(self, data: bytes) -> None:
        done = self.own_write = anyio.Event()
        self.hot = False
        self.last_write = self.clock()
        self.writing += 1
        try:
            await self._send({"type": "http.response.body", "body": data, "more_body": True})
        except OSError:
            self.client_gone = True
            self.end(Outcome.CLIENT_DISCONNECTED, "client went away")
            raise _Ended from None
        finally:
            self.writing -= 1
            self.own_write = None
            self._update_hot()
            done.set()
        self.bytes += len(data)

    # -- watchers ---------------------------------------------------------------------------
    async def _watch(self) -> None:
        with self.watch_scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch_client)
                await self._watch_time()
                tg.cancel_scope.cancel()

    async def _watch_client(self) -> None:
        self.watching = True
        for scope in tuple(self.direct_receives):
            scope.cancel()  # the app's pending receive moves to the inbox
        try:
            while True:
                message = await self._receive()
                if message["type"] == "http.disconnect":
                    self.disconnected = True
                    if not self.body_done:
                        self.client_gone = True
                        self.end(Outcome.CLIENT_DISCONNECTED, "client went away")
                    return
                self.inbox.append(message)
                self._wake_receivers()
        finally:
            self.watching = False
            self._wake_receivers()

    async def _watch_time(self) -> None:
        """One timer for heartbeats and every deadline, on the guard's `Timeline`: sleep to
        the nearest, then act."""
        policy = self.policy
        period = _sample_period(policy)
        while True:
            now = self.clock()
            self._sample_events(now)
            # Writes begin in order, so one in flight is the last one, begun at `last_write`.
            last_write = self._last_write()
            heartbeat = policy.heartbeat
            if heartbeat is not None:
                heartbeat *= _APP_PINGS_FACTOR if self.framing.comments else _GRACE_FACTOR
            timeline = Timeline(
                policy=replace(policy, heartbeat=heartbeat),
                started=self.started,
                first_item=self.first_item,
                last_item=self._last_item(),
                last_write=last_write,
                sending_since=last_write if self._in_flight() else None,
            )
            due = timeline.next_deadline(now)
            if due.action == HEARTBEAT and heartbeat is not None and not self.framing.at_boundary:
                # The app is in the middle of an event: look again soon instead of writing
                # into it, unless a deadline comes first.
                deadline = timeline.deadline(now)
                again = max(due.at, now + heartbeat / 4)
                due = deadline if deadline.at <= again else Due(again, None)
            if due.at > now:
                # While the common path may be writing, look at least every `period`.
                wake = min(due.at, now + period) if self.hot else due.at
                if wake == math.inf:
                    await anyio.sleep_forever()
                await anyio.sleep(wake - now)
            elif due.action == HEARTBEAT:
                if await self._heartbeat(timeline.deadline(now).at - now):
                    return
            elif due.action is Outcome.SEND_TIMEOUT:
                self.client_gone = True  # it stopped reading: nothing more can reach it
                self.end(Outcome.SEND_TIMEOUT, "client stopped reading")
                return
            elif isinstance(due.action, Outcome):
                return self._expire(due.action)
            else:
                await anyio.lowlevel.checkpoint()

    async def _heartbeat(self, bound: float) -> bool:
        """Write one heartbeat within `bound` seconds; True when the stream ended."""
        send_timeout = self.policy.send_timeout
        if send_timeout is not None:
            bound = min(bound, send_timeout)
        try:
            with anyio.move_on_after(bound) as scope:
                await self._write(_HEARTBEAT)
        except _Ended:
            return True
        if not scope.cancelled_caught:
            self.stats.heartbeats += 1
        elif send_timeout is not None and bound >= send_timeout:
            self.client_gone = True
            self.end(Outcome.SEND_TIMEOUT, "client stopped reading")
            return True
        return False

    def _expire(self, outcome: Outcome) -> None:
        limit = {
            Outcome.FIRST_TOKEN_TIMEOUT: self.policy.first_token_timeout,
            Outcome.IDLE_TIMEOUT: self.policy.idle_timeout,
            Outcome.MAX_DURATION: self.policy.max_duration,
        }[outcome]
        self.end(outcome, _ERROR_MESSAGES[outcome].format(limit=limit))
