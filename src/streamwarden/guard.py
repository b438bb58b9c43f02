"""The stream guard: time and liveness for one streamed response.

The guard knows nothing about protocols. It turns an async source of `str` / `Event` into
SSE bytes, adds heartbeats, enforces deadlines, notices a client that left or stopped
reading, cancels and closes the source on every exit path, and reports exactly one outcome.
"""

from __future__ import annotations

import enum
import inspect
import json
import logging
import math
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from streamwarden.sse import Event, encode, encode_comment

__all__ = [
    "ErrorFormatter",
    "GuardedStreamResponse",
    "OnClose",
    "Outcome",
    "ShutdownSignal",
    "StreamPolicy",
    "StreamStats",
    "default_error_events",
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

    heartbeat: float | None = 15.0
    first_token_timeout: float | None = 120.0
    idle_timeout: float | None = 60.0
    max_duration: float | None = 900.0
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
    """Anything with `async wait()`, such as `asyncio.Event` or `anyio.Event`."""

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


class _Ended(Exception):
    """Internal: the pump was stopped; `outcome` on the stream says why."""


class GuardedStreamResponse(Response):
    """A Starlette response that runs one guarded stream. Build it with `stream_response`."""

    def __init__(
        self,
        source: AsyncIterable[Event | str],
        *,
        policy: StreamPolicy,
        on_close: OnClose | None = None,
        format_error: ErrorFormatter = default_error_events,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        shutdown: ShutdownSignal | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.source = source
        self.policy = policy
        self.on_close = on_close
        self.format_error = format_error
        self.shutdown = shutdown
        self.clock = clock
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


class _StreamRun:
    """The state of one running stream. Owns the watcher tasks and the source."""

    def __init__(self, response: GuardedStreamResponse, send: Send) -> None:
        self.response = response
        # One iterator for the whole run: the pump reads it and cleanup closes that same one.
        self.iterator: AsyncIterator[Event | str] = aiter(response.source)
        self.policy = response.policy
        self.clock = response.clock
        self._send = send
        self.stats = StreamStats()
        self.outcome: Outcome | None = None
        self.message = ""
        self.started = self.clock()
        self.last_write = self.started
        self.last_item = self.started
        self.first_item: float | None = None
        self.sending_since: float | None = None
        self.writes_in_flight = 0
        self.client_gone = False
        self.pump_scope = anyio.CancelScope()

    # -- ending ---------------------------------------------------------------------------
    def end(self, outcome: Outcome, message: str = "") -> None:
        """Record why the stream ends (first caller wins) and stop the pump."""
        if self.outcome is None:
            self.outcome = outcome
            self.message = message
        self.pump_scope.cancel()

    # -- writing --------------------------------------------------------------------------
    async def write(self, data: bytes) -> None:
        # Writes may come from the pump and the watchdog at once. Each message is a whole
        # SSE block, so ordering at block granularity is all that matters.
        # `sending_since` is when the oldest write still in flight began.
        if self.writes_in_flight == 0:
            self.sending_since = self.clock()
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
                self.sending_since = None
        self.last_write = self.clock()
        self.stats.bytes += len(data)

    # -- tasks ----------------------------------------------------------------------------
    async def run(self, receive: Receive) -> None:
        response = self.response
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
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._watch_client, receive)
                    tg.start_soon(self._watchdog)
                    if response.shutdown is not None:
                        tg.start_soon(self._watch_shutdown, response.shutdown)
                    with self.pump_scope:
                        await self._pump()
                    await self._finish()
                    tg.cancel_scope.cancel()
        except BaseException:
            # Cancelled from outside (server shutdown): still exactly one outcome.
            if self.outcome is None:
                self.outcome = Outcome.SHUTDOWN
            self.client_gone = True
            raise
        finally:
            # Every exit path closes the source and reports, cancelled or not.
            await self._close_source()
            await self._report()

    async def _pump(self) -> None:
        iterator = self.iterator
        try:
            async for item in iterator:
                now = self.clock()
                if self.first_item is None:
                    self.first_item = now
                    self.stats.ttft = now - self.started
                self.last_item = now
                await self.write(encode(item))
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
        self.end(Outcome.SHUTDOWN, _ERROR_MESSAGES[Outcome.SHUTDOWN])

    def _stop_quietly(self) -> None:
        """A watcher cancelled because the stream ended returns instead of re-raising.

        A task that ends in CancelledError leaves a reference cycle behind in anyio's task
        bookkeeping (exception -> traceback -> frame -> exception), so every finished
        stream's objects would wait for a full GC pass, and with thousands of streams those
        passes pause the server (docs/BENCHMARKS.md). Only when the stream has an outcome;
        a cancellation from outside still propagates.
        """
        if self.outcome is None:
            raise

    async def _watchdog(self) -> None:
        try:
            await self._watch_time()
        except anyio.get_cancelled_exc_class():
            self._stop_quietly()

    async def _watch_time(self) -> None:
        """One timer for heartbeats and every deadline: sleep to the nearest, then act."""
        policy = self.policy
        while True:
            now = self.clock()
            due = math.inf
            if policy.max_duration is not None:
                at = self.started + policy.max_duration
                if now >= at:
                    return self._expire(Outcome.MAX_DURATION, policy.max_duration)
                due = min(due, at)
            if self.first_item is None:
                if policy.first_token_timeout is not None:
                    at = self.started + policy.first_token_timeout
                    if now >= at:
                        return self._expire(Outcome.FIRST_TOKEN_TIMEOUT, policy.first_token_timeout)
                    due = min(due, at)
            elif policy.idle_timeout is not None:
                at = self.last_item + policy.idle_timeout
                if now >= at:
                    return self._expire(Outcome.IDLE_TIMEOUT, policy.idle_timeout)
                due = min(due, at)
            sending_since = self.sending_since
            if sending_since is not None and policy.send_timeout is not None:
                at = sending_since + policy.send_timeout
                if now >= at:
                    self.client_gone = True  # it stopped reading: nothing more can reach it
                    self.end(Outcome.SEND_TIMEOUT, "client stopped reading")
                    return
                due = min(due, at)
            if policy.heartbeat is not None:
                if sending_since is not None:
                    # A write is blocked on a slow client; look again soon instead of
                    # queueing a heartbeat behind it.
                    due = min(due, now + policy.heartbeat / 4)
                else:
                    at = self.last_write + policy.heartbeat
                    if now >= at:
                        # The heartbeat write itself may block on a client that stopped
                        # reading: bound it, or every deadline would wait behind it.
                        bound = due - now
                        if policy.send_timeout is not None:
                            bound = min(bound, policy.send_timeout)
                        try:
                            with anyio.move_on_after(bound) as scope:
                                await self.write(_HEARTBEAT)
                        except _Ended:
                            return
                        if not scope.cancelled_caught:
                            self.stats.heartbeats += 1
                        elif policy.send_timeout is not None and bound >= policy.send_timeout:
                            self.client_gone = True
                            self.end(Outcome.SEND_TIMEOUT, "client stopped reading")
                            return
                        continue  # a deadline may have come due meanwhile
                    due = min(due, at)
            if due == math.inf:
                await anyio.sleep_forever()
            await anyio.sleep(max(due - self.clock(), 0.0))

    def _expire(self, outcome: Outcome, limit: float) -> None:
        self.end(outcome, _ERROR_MESSAGES[outcome].format(limit=limit))

    # -- cleanup --------------------------------------------------------------------------
    async def _close_source(self) -> None:
        # The pump awaited the source in this task and has returned, so no `__anext__` is
        # pending: aclose() cannot hit "asynchronous generator is already running".
        aclose = getattr(self.iterator, "aclose", None)
        if aclose is None:
            return
        with anyio.CancelScope(shield=True), anyio.move_on_after(self.policy.close_timeout):
            try:
                await aclose()
            except Exception as exc:
                logger.warning("stream source failed while closing: %s", exc)

    async def _report(self) -> None:
        stats = self.stats
        stats.outcome = self.outcome or Outcome.COMPLETED
        stats.duration = self.clock() - self.started
        if self.message and stats.error is None and stats.outcome is not Outcome.COMPLETED:
            stats.error = self.message
        if self.outcome is not Outcome.CLIENT_DISCONNECTED and not self.client_gone:
            with (
                anyio.CancelScope(shield=True),
                anyio.move_on_after(self.policy.send_timeout or 1.0),
            ):
                try:
                    await self._send(
                        {"type": "http.response.body", "body": b"", "more_body": False}
                    )
                except OSError:
                    pass
        on_close = self.response.on_close
        if on_close is not None:
            with anyio.CancelScope(shield=True):
                try:
                    result = on_close(stats)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    logger.exception("on_close callback failed")


def stream_response(
    request: Request | None,
    source: AsyncIterable[Event | str] | AsyncIterator[Event | str],
    *,
    policy: StreamPolicy | None = None,
    on_close: OnClose | None = None,
    format_error: ErrorFormatter = default_error_events,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
    shutdown: ShutdownSignal | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> GuardedStreamResponse:
    """Wrap an async token source in a hardened SSE response.

    `source` yields `str` (one `data:` event; newlines become several `data:` lines) or
    `Event`. The request is accepted for symmetry with Starlette and future use (it is
    where the disconnect is observed, through the ASGI `receive` channel).
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
    )
