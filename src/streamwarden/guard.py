"""The stream guard: time and liveness for one streamed response.

The guard knows nothing about protocols. It turns an async source of `str` / `Event` into
SSE bytes, adds heartbeats, enforces deadlines, notices a client that left or stopped
reading, cancels and closes the source on every exit path, and reports exactly one outcome.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import json
import logging
import math
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import anyio
import anyio.lowlevel
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from streamwarden import defaults
from streamwarden.sse import Event, encode, encode_comment

__all__ = [
    "Due",
    "ErrorFormatter",
    "GuardedStreamResponse",
    "OnClose",
    "Outcome",
    "ShutdownSignal",
    "StreamPolicy",
    "StreamStats",
    "Timeline",
    "default_error_events",
    "report_close",
    "stream_response",
]

logger = logging.getLogger("streamwarden.guard")


class Outcome(enum.StrEnum):
    """How a stream ended. Every stream ends with exactly one."""

    COMPLETED = "completed"
    CLIENT_DISCONNECTED = "client_disconnected"
    FIRST_TOKEN_TIMEOUT = "first_token_timeout"
    IDLE_TIMEOUT = "idle_timeout"
    MAX_DURATION = "max_duration"
    SEND_TIMEOUT = "send_timeout"
    UPSTREAM_ERROR = "upstream_error"
    SHUTDOWN = "shutdown"
    REJECTED = "rejected"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class StreamPolicy:
    """Time limits for one stream, in seconds. `None` turns a limit off.

    - heartbeat: send `: keepalive` after this long without writing anything. 15 s keeps
      every common idle timeout (nginx/ALB 60 s, Cloudflare 100 s) fed with 4x margin.
    - first_token_timeout: give up if the source yields nothing for this long. Reasoning
      models can think for a minute or more before the first token, hence 120 s.
    - idle_timeout: give up if the source goes silent this long after its first token.
    - max_duration: hard cap on a stream's life, so a runaway source cannot hold a slot.
    - send_timeout: drop a client whose socket accepts nothing for this long (it stopped
      reading); the guard's other streams are unaffected.
    """

    heartbeat: float | None = defaults.HEARTBEAT
    first_token_timeout: float | None = 120.0
    idle_timeout: float | None = 60.0
    max_duration: float | None = defaults.MAX_DURATION
    send_timeout: float | None = 30.0
    #: Bounded wait for the source's `aclose()`; a source that hangs while closing must not
    #: hold the request forever.
    close_timeout: float = 5.0

    def __post_init__(self) -> None:
        for name in ("heartbeat", "first_token_timeout", "idle_timeout", "max_duration"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"StreamPolicy.{name} must be > 0 or None, got {value!r}")
        if self.send_timeout is not None and not self.send_timeout > 0:
            raise ValueError(
                f"StreamPolicy.send_timeout must be > 0 or None, got {self.send_timeout!r}"
            )


@dataclass(slots=True)
class StreamStats:
    """What the guard measured for one stream, handed to `on_close`."""

    outcome: Outcome = Outcome.COMPLETED
    ttft: float | None = None
    duration: float = 0.0
    events: int = 0
    heartbeats: int = 0
    bytes: int = 0
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ShutdownSignal(Protocol):
    """Anything with `async wait()`, such as `asyncio.Event` or `anyio.Event`. One that also
    has `subscribe(callback) -> unsubscribe` (call `callback` once when set, at once if it
    is) is watched through that on asyncio, without a task per stream."""

    async def wait(self) -> Any: ...


#: Turns an ending (deadline, upstream error, shutdown) into the protocol's error events.
ErrorFormatter = Callable[[Outcome, str], Sequence[Event | str]]
OnClose = Callable[[StreamStats], Awaitable[None] | None]

_ERROR_MESSAGES = {
    Outcome.FIRST_TOKEN_TIMEOUT: "no first token within {limit:g}s",
    Outcome.IDLE_TIMEOUT: "upstream silent for more than {limit:g}s",
    Outcome.MAX_DURATION: "stream exceeded its maximum duration of {limit:g}s",
    Outcome.SHUTDOWN: "server is shutting down",
}


def default_error_events(outcome: Outcome, message: str) -> Sequence[Event | str]:
    """A generic `event: error` with a JSON body, for sources that have no protocol."""
    body = {"error": {"type": outcome.value, "message": message}}
    return [Event(json.dumps(body), event="error")]


_HEADERS = {
    "content-type": "text/event-stream",
    "cache-control": "no-cache, no-transform",
    # Turns nginx buffering off for this response, unless proxy_ignore_headers lists it.
    "x-accel-buffering": "no",
}
_OPENING = encode_comment("stream open")
_HEARTBEAT = encode_comment("keepalive")


#: `Due.action` for a heartbeat that is due.
HEARTBEAT = "heartbeat"


class Due(NamedTuple):
    """The next thing a stream's timer must do: at time `at`, `action` (an outcome that ends
    the stream, `HEARTBEAT`, or None: nothing, just look again then)."""

    at: float
    action: Outcome | str | None


# Which policy limit each deadline outcome comes from (for its error message).
_DEADLINE_LIMITS = {
    Outcome.MAX_DURATION: "max_duration",
    Outcome.FIRST_TOKEN_TIMEOUT: "first_token_timeout",
    Outcome.IDLE_TIMEOUT: "idle_timeout",
    Outcome.SEND_TIMEOUT: "send_timeout",
}


@dataclass(slots=True)
class Timeline:
    """When a stream started, last produced and last wrote: everything its deadlines count
    from. `next_deadline` is pure, so deadlines are tested with plain numbers as the clock."""

    policy: StreamPolicy
    started: float
    first_item: float | None = None
    last_item: float | None = None
    last_write: float | None = None
    #: When the oldest write still in flight began; None while nothing is being written.
    sending_since: float | None = None

    def deadline(self, now: float) -> Due:
        """The earliest deadline (heartbeats left out): `Due(math.inf, None)` if none."""
        policy = self.policy
        best = Due(math.inf, None)
        candidates: list[tuple[Outcome, float, float | None]] = [
            (Outcome.MAX_DURATION, self.started, policy.max_duration)
        ]
        if self.first_item is None:
            candidates.append(
                (Outcome.FIRST_TOKEN_TIMEOUT, self.started, policy.first_token_timeout)
            )
        elif self.sending_since is None:
            # Only while nothing is being written: a pump blocked on a slow client is not
            # reading the source, so the source's silence is not its own (send_timeout rules).
            last_item = self.last_item if self.last_item is not None else self.first_item
            candidates.append((Outcome.IDLE_TIMEOUT, last_item, policy.idle_timeout))
        if self.sending_since is not None:
            candidates.append((Outcome.SEND_TIMEOUT, self.sending_since, policy.send_timeout))
        for outcome, since, limit in candidates:
            if limit is not None and since + limit < best.at:
                best = Due(since + limit, outcome)
        return best

    def next_deadline(self, now: float) -> Due:
        """What the timer does next: a deadline wins over a heartbeat due at the same time."""
        best = self.deadline(now)
        heartbeat = self.policy.heartbeat
        if heartbeat is None:
            return best
        if self.sending_since is not None:
            # A write is blocked on a slow client: look again soon instead of queueing a
            # heartbeat behind it.
            return best if best.at <= now + heartbeat / 4 else Due(now + heartbeat / 4, None)
        last_write = self.last_write if self.last_write is not None else self.started
        at = last_write + heartbeat
        return best if best.at <= at else Due(at, HEARTBEAT)


class _Ended(Exception):
    """Internal: the pump was stopped; `outcome` on the stream says why."""


class GuardedStreamResponse(Response):
    """A Starlette response that runs one guarded stream. Build it with `stream_response`."""

    #: The keepalive written when the stream is quiet. A stream whose events carry ids sets
    #: it to a comment line with no blank line after it: for a client that keeps the last
    #: event id (as EventSource does), a blank line would dispatch an empty event, which the
    #: OpenAI SDK then fails to read as JSON.
    heartbeat: bytes = _HEARTBEAT
    #: Turns each item of the source into the bytes written: None for the default (`str` and
    #: `Event` through `sse.encode`, `bytes` as they are). A stream whose events carry ids
    #: sets it to its numbering, which then sees every item, bytes included.
    encoder: Callable[[Event | str | bytes], bytes] | None = None

    def __init__(
        self,
        source: AsyncIterable[Event | str | bytes],
        *,
        policy: StreamPolicy,
        on_close: OnClose | None = None,
        format_error: ErrorFormatter = default_error_events,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        shutdown: ShutdownSignal | None = None,
        clock: Callable[[], float] = time.monotonic,
        started: float | None = None,
    ) -> None:
        self.source = source
        self.policy = policy
        self.on_close = on_close
        self.format_error = format_error
        self.shutdown = shutdown
        self.clock = clock
        self.started = started
        self.status_code = status_code
        self.background = None
        merged = dict(_HEADERS)
        if headers:
            merged.update({k.lower(): v for k, v in headers.items()})
        self.body = b""
        self.init_headers(merged)
        # Starlette adds content-length for an empty body; a stream has none.
        self.raw_headers = [(k, v) for k, v in self.raw_headers if k != b"content-length"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        run = _StreamRun(self, send)
        await run.run(receive)


def _source_name(source: object) -> str:
    name = getattr(source, "__qualname__", None) or type(source).__qualname__
    module = getattr(source, "__module__", None) or type(source).__module__
    return f"{module}.{name}"


class _StreamRun:
    """The state of one running stream. Owns the watcher tasks and the source."""

    def __init__(self, response: GuardedStreamResponse, send: Send) -> None:
        self.response = response
        # One iterator for the whole run: the pump reads it and cleanup closes that same one.
        self.iterator: AsyncIterator[Event | str | bytes] = aiter(response.source)
        self.policy = response.policy
        self.clock = response.clock
        self._send = send
        self.stats = StreamStats()
        self.outcome: Outcome | None = None
        self.message = ""
        started = response.started if response.started is not None else self.clock()
        self.timeline = Timeline(self.policy, started)
        self.writes_in_flight = 0
        self.client_gone = False
        # The pump runs in its own task so that a source which ignores cancellation can be
        # abandoned after `close_timeout` instead of holding the request (and its slot).
        self._pump_task: asyncio.Task[None] | None = None
        self._pump_done = anyio.Event()
        self._pump_inline: anyio.CancelScope | None = None
        self.abandoned = False
        #: When the timer will next look; `_poke` wakes it for anything due earlier.
        self._timer_at = math.inf
        #: On asyncio: the loop, the future the timer sleeps on and the one `run` waits on
        #: for the pump, in place of anyio's cancel scopes and events, which cost several
        #: times more and are made for every stream. On trio the loop stays None and the
        #: timer sleeps on `_wake` instead (made in `run`).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake_future: asyncio.Future[None] | None = None
        self._pump_waiter: asyncio.Future[None] | None = None
        self._wake: anyio.Event | None = None

    # -- ending ---------------------------------------------------------------------------
    def end(self, outcome: Outcome, message: str = "") -> None:
        """Record why the stream ends (first caller wins) and stop the pump."""
        if self.outcome is None:
            self.outcome = outcome
            self.message = message
        if self._pump_inline is not None:
            self._pump_inline.cancel()
        task = self._pump_task
        if task is not None and not task.done() and asyncio.current_task() is not task:
            task.cancel()
            waiter = self._pump_waiter
            if waiter is not None and self._loop is not None:
                # Past this bound the pump is abandoned: see `_run_pump`.
                self._loop.call_later(self.policy.close_timeout, _resolve, waiter)

    def _poke(self, at: float) -> None:
        """A deadline at `at` began to count (first item, a write): wake the timer if it
        would otherwise sleep past it."""
        if at < self._timer_at:
            self._timer_at = at
            if self._wake is not None:
                self._wake.set()
            elif self._wake_future is not None:
                _resolve(self._wake_future)

    # -- writing --------------------------------------------------------------------------
    async def write(self, data: bytes) -> None:
        # Writes may come from the pump and the watchdog at once. Each message is a whole
        # SSE block, so ordering at block granularity is all that matters.
        timeline = self.timeline
        if self.writes_in_flight == 0:
            timeline.sending_since = self.clock()
            if self.policy.send_timeout is not None:
                self._poke(timeline.sending_since + self.policy.send_timeout)
        self.writes_in_flight += 1
        try:
            await self._send({"type": "http.response.body", "body": data, "more_body": True})
        except OSError:
            # uvicorn raises ClientDisconnected (an OSError) once the peer is gone.
            self.client_gone = True
            self.end(Outcome.CLIENT_DISCONNECTED, "client went away")
            raise _Ended from None
        finally:
            self.writes_in_flight -= 1
            if self.writes_in_flight == 0:
                timeline.sending_since = None
        timeline.last_write = self.clock()
        self.stats.bytes += len(data)

    # -- tasks ----------------------------------------------------------------------------
    async def run(self, receive: Receive) -> None:
        response = self.response
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            self._wake = anyio.Event()  # trio: anyio's primitives
        try:
            try:
                await self._send(
                    {
                        "type": "http.response.start",
                        "status": response.status_code,
                        "headers": response.raw_headers,
                    }
                )
                await self.write(_OPENING)
            except (_Ended, OSError):
                self.client_gone = True
                self.outcome = Outcome.CLIENT_DISCONNECTED
            if self.outcome is None:
                await self._supervise(receive)
        except BaseException:
            # Cancelled from outside (server shutdown): still exactly one outcome.
            if self.outcome is None:
                self.outcome = Outcome.SHUTDOWN
            self.client_gone = True
            raise
        finally:
            # Every exit path stops the pump, closes the source and reports, cancelled or not.
            await self._stop_pump()
            await self._close_source()
            await self._report()

    async def _supervise(self, receive: Receive) -> None:
        """The pump, with the watchers beside it until it is done."""
        shutdown = self.response.shutdown
        loop = self._loop
        if loop is None:
            # Not asyncio (trio): an anyio task group.
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch_client, receive)
                tg.start_soon(self._watchdog)
                if shutdown is not None:
                    tg.start_soon(self._watch_shutdown, shutdown)
                await self._run_pump()
                await self._finish()
                tg.cancel_scope.cancel()
            return
        # On asyncio, plain tasks owned here, with a task group's rules: a watcher that fails
        # stops the stream and its error comes out of here; none outlives this call. This
        # runs for every stream, and an anyio task group costs several times more (its
        # `cancel()` formats the task's repr each time).
        host = asyncio.current_task()
        failed: list[BaseException] = []

        def watcher_done(task: asyncio.Task[None]) -> None:
            if not task.cancelled() and task.exception() is not None and not failed:
                failed.append(task.exception())  # type: ignore[arg-type]
                if host is not None:
                    host.cancel()

        watchers = [
            loop.create_task(self._watch_client(receive)),
            loop.create_task(self._watchdog()),
        ]
        subscribe = getattr(shutdown, "subscribe", None)
        unsubscribe: Callable[[], None] | None = None
        if subscribe is not None:
            unsubscribe = subscribe(self._shut_down)
        elif shutdown is not None:
            watchers.append(loop.create_task(self._watch_shutdown(shutdown)))
        for watcher in watchers:
            watcher.add_done_callback(watcher_done)
        withdrawn = False
        try:
            await self._run_pump()
            await self._finish()
        except asyncio.CancelledError:
            if not failed or host is None or host.uncancel() > 0:
                raise
            withdrawn = True
        finally:
            if unsubscribe is not None:
                unsubscribe()
            for watcher in watchers:
                watcher.remove_done_callback(watcher_done)
                watcher.cancel()
            # Cancelled watchers end at their next step; none outlives the stream.
            pending = [watcher for watcher in watchers if not watcher.done()]
            if pending:
                await asyncio.wait(pending)
            for watcher in watchers:
                if not watcher.cancelled():
                    watcher.exception()  # seen: asyncio would log it as never retrieved
        if failed:
            if not withdrawn and host is not None:
                host.uncancel()  # the pump swallowed the cancellation that stopped it
            error = failed.pop()
            try:
                raise error
            finally:
                del error  # no frame -> exception -> traceback -> frame cycle

    async def _run_pump(self) -> None:
        if self.outcome is not None:
            return  # ended before it began (a shutdown already signalled)
        loop = self._loop
        if loop is None:
            # Not asyncio (trio): the pump runs inline, without the abandon bound.
            with anyio.CancelScope() as self._pump_inline:
                await self._pump()
            return
        self._pump_waiter = waiter = loop.create_future()
        self._pump_task = task = loop.create_task(self._pump_owned())
        # A callback, not the coroutine's `finally`: a task cancelled before its first step
        # never runs its body.
        task.add_done_callback(self._pump_finished)
        await waiter  # resolved when the pump is done, or at the bound `end()` sets
        if not self._pump_done.is_set():
            self._abandon()

    async def _pump_owned(self) -> None:
        try:
            await self._pump()
        except asyncio.CancelledError:
            # Only `end()` cancels this task; ending quietly leaves no exception cycle.
            pass

    def _pump_finished(self, task: asyncio.Task[None]) -> None:
        self._pump_done.set()
        if self._pump_waiter is not None:
            _resolve(self._pump_waiter)

    async def _stop_pump(self) -> None:
        task = self._pump_task
        if task is None or self._pump_done.is_set() or self.abandoned:
            return
        task.cancel()
        with anyio.move_on_after(self.policy.close_timeout, shield=True):
            await self._pump_done.wait()
        if not self._pump_done.is_set():
            self._abandon()

    def _abandon(self) -> None:
        self.abandoned = True
        self.stats.extra["abandoned_source"] = True
        logger.warning(
            "stream source %s ignored cancellation for %gs; abandoned (it still runs). "
            "A source must let CancelledError propagate.",
            _source_name(self.iterator),
            self.policy.close_timeout,
        )

    async def _pump(self) -> None:
        iterator = self.iterator
        timeline = self.timeline
        encoder = self.response.encoder
        try:
            async for item in iterator:
                if self.outcome is not None:
                    return  # it swallowed a cancellation and went on; the stream has ended
                if type(item) is not str and not isinstance(item, (Event, bytes)):
                    raise TypeError(
                        f"stream source yielded {type(item).__name__}; yield str, Event or bytes"
                    )
                now = self.clock()
                if timeline.first_item is None:
                    timeline.first_item = now
                    self.stats.ttft = now - timeline.started
                    if self.policy.idle_timeout is not None:
                        self._poke(now + self.policy.idle_timeout)
                if encoder is not None:
                    await self.write(encoder(item))
                else:
                    # bytes are events already encoded (a pass-through relay): written as is.
                    await self.write(item if isinstance(item, bytes) else encode(item))
                # Silence counts from when the pump is ready for the next item.
                timeline.last_item = self.clock()
                self.stats.events += 1
        except _Ended:
            return
        except anyio.get_cancelled_exc_class():
            raise
        except Exception as exc:  # the source failed: that is the upstream's error
            logger.warning("stream source failed: %s", exc)
            self.stats.error = f"{type(exc).__name__}: {exc}"
            self.end(Outcome.UPSTREAM_ERROR, str(exc) or type(exc).__name__)
            return
        if self.outcome is None:
            self.outcome = Outcome.COMPLETED

    async def _finish(self) -> None:
        """After the pump: the error events for endings the client should hear about."""
        outcome = self.outcome
        if outcome is None or outcome in (
            Outcome.COMPLETED,
            Outcome.CLIENT_DISCONNECTED,
            Outcome.SEND_TIMEOUT,
        ):
            return
        if self.client_gone:
            return
        try:
            with anyio.move_on_after(self.policy.send_timeout or math.inf):
                for item in self.response.format_error(outcome, self.message):
                    await self.write(encode(item))
        except _Ended:
            pass

    async def _watch_client(self, receive: Receive) -> None:
        try:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    self.client_gone = True
                    self.end(Outcome.CLIENT_DISCONNECTED, "client went away")
                    return
        except anyio.get_cancelled_exc_class():
            self._stop_quietly()

    async def _watch_shutdown(self, shutdown: ShutdownSignal) -> None:
        try:
            await shutdown.wait()
        except anyio.get_cancelled_exc_class():
            self._stop_quietly()
            return
        self._shut_down()

    def _shut_down(self) -> None:
        self.end(Outcome.SHUTDOWN, _ERROR_MESSAGES[Outcome.SHUTDOWN])

    def _stop_quietly(self) -> None:
        """A watcher cancelled because the stream ended returns instead of re-raising: a
        task that ends in CancelledError leaves a reference cycle in anyio's task bookkeeping
        (exception -> traceback -> frame -> exception), so every finished stream would wait
        for a full GC pass, and those passes pause the whole server. Only when the stream has
        an outcome; a cancellation from outside still propagates."""
        if self.outcome is None:
            raise

    async def _watchdog(self) -> None:
        try:
            await self._watch_time()
        except anyio.get_cancelled_exc_class():
            self._stop_quietly()

    async def _watch_time(self) -> None:
        """One timer for heartbeats and every deadline: sleep to the nearest, then act."""
        while True:
            now = self.clock()
            due = self.timeline.next_deadline(now)
            if due.at > now:
                # Sleep to the nearest deadline, unless `_poke` brings a nearer one.
                self._timer_at = due.at
                await self._sleep(due.at - now)
            elif due.action == HEARTBEAT:
                if not await self._heartbeat(now):
                    return
            elif isinstance(due.action, Outcome):
                return self._expire(due.action)
            else:
                await anyio.lowlevel.checkpoint()

    async def _sleep(self, delay: float) -> None:
        """Sleep `delay` seconds, or until `_poke` wakes the timer."""
        loop = self._loop
        if loop is None:
            assert self._wake is not None
            with anyio.move_on_after(delay):
                await self._wake.wait()
            if self._wake.is_set():
                self._wake = anyio.Event()
            return
        self._wake_future = future = loop.create_future()
        handle = loop.call_later(delay, _resolve, future) if delay != math.inf else None
        try:
            await future
        finally:
            self._wake_future = None
            if handle is not None:
                handle.cancel()

    async def _heartbeat(self, now: float) -> bool:
        """Write one heartbeat; False once the stream has ended."""
        policy = self.policy
        # The write may block on a client that stopped reading: bound it, or every deadline
        # would wait behind it.
        bound = self.timeline.deadline(now).at - now
        if policy.send_timeout is not None:
            bound = min(bound, policy.send_timeout)
        try:
            with anyio.move_on_after(bound) as scope:
                await self.write(self.response.heartbeat)
        except _Ended:
            return False
        if not scope.cancelled_caught:
            self.stats.heartbeats += 1
        elif policy.send_timeout is not None and bound >= policy.send_timeout:
            self._expire(Outcome.SEND_TIMEOUT)
            return False
        return True

    def _expire(self, outcome: Outcome) -> None:
        if outcome is Outcome.SEND_TIMEOUT:
            self.client_gone = True  # it stopped reading: nothing more can reach it
            self.end(outcome, "client stopped reading")
            return
        limit = getattr(self.policy, _DEADLINE_LIMITS[outcome])
        self.end(outcome, _ERROR_MESSAGES[outcome].format(limit=limit))

    # -- cleanup --------------------------------------------------------------------------
    async def _close_source(self) -> None:
        # The pump has returned (or was abandoned), so no `__anext__` of ours is pending:
        # aclose() cannot hit "asynchronous generator is already running".
        aclose = getattr(self.iterator, "aclose", None)
        if aclose is None or self.abandoned:
            return
        with anyio.move_on_after(self.policy.close_timeout, shield=True):
            try:
                await aclose()
            except Exception as exc:
                logger.warning("stream source failed while closing: %s", exc)

    async def _report(self) -> None:
        stats = self.stats
        stats.outcome = self.outcome or Outcome.COMPLETED
        stats.duration = self.clock() - self.timeline.started
        if self.message and stats.error is None and stats.outcome is not Outcome.COMPLETED:
            stats.error = self.message
        if self.outcome is not Outcome.CLIENT_DISCONNECTED and not self.client_gone:
            with anyio.move_on_after(self.policy.send_timeout or 1.0, shield=True):
                try:
                    await self._send(
                        {"type": "http.response.body", "body": b"", "more_body": False}
                    )
                except OSError:
                    pass
        await report_close(self.response.on_close, stats)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def report_close(on_close: OnClose | None, stats: StreamStats) -> None:
    """Hand a stream's outcome to `on_close`, shielded from the cancellation that may be
    ending the stream; a callback that fails is logged, never raised into the response."""
    if on_close is None:
        return
    with anyio.CancelScope(shield=True):
        try:
            result = on_close(stats)
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("on_close callback failed")


def stream_response(
    request: Request | None,
    source: AsyncIterable[Event | str | bytes] | AsyncIterator[Event | str | bytes],
    *,
    policy: StreamPolicy | None = None,
    on_close: OnClose | None = None,
    format_error: ErrorFormatter = default_error_events,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    shutdown: ShutdownSignal | None = None,
    clock: Callable[[], float] = time.monotonic,
    started: float | None = None,
) -> GuardedStreamResponse:
    """Wrap an async token source in a hardened SSE response.

    `source` yields `str` (one `data:` event; newlines become several `data:` lines),
    `Event`, or `bytes` (whole events already encoded, written as they are). The request is accepted for symmetry with Starlette and future use (it is
    where the disconnect is observed, through the ASGI `receive` channel).

    `started` (a time on `clock`) is when the caller began waiting for this stream, such as
    a gateway connecting to its upstream: the first-token and total deadlines and the time to
    first token count from it instead of from now.
    """
    return GuardedStreamResponse(
        source,
        policy=policy or StreamPolicy(),
        on_close=on_close,
        format_error=format_error,
        status_code=status_code,
        headers=headers,
        shutdown=shutdown,
        clock=clock,
        started=started,
    )
