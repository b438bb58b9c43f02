"""Resumable streams in the gateway: generation decoupled from the client's connection.

With resume on, a streamed answer is produced by a task of its own that numbers each
encoded event and writes it to the event store; the client's response, and any later
`GET /v1/streams/{id}`, follow the store. A client that disconnects therefore does not
cancel the upstream at once: the generation goes on for `--resume-grace` seconds and is
cancelled if nobody follows it by then.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import anyio
import anyio.abc
from prometheus_client import Counter
from starlette.requests import Request

from streamwarden.gateway.ids import (
    HEARTBEAT_LINE,
    STREAM_ID_HEADER,
    Numbering,
    parse_event_id,
    valid_stream_id,
)
from streamwarden.gateway.waits import Expired
from streamwarden.guard import (
    ErrorFormatter,
    GuardedStreamResponse,
    Outcome,
    StreamPolicy,
    StreamStats,
    stream_response,
)
from streamwarden.resume.store import MemoryStore, Moved, StoreError, StreamInfo, StreamLost
from streamwarden.sse import Event, encode

if TYPE_CHECKING:
    from streamwarden.gateway.admission import Slot
    from streamwarden.gateway.app import Gateway
    from streamwarden.resume.redis import Mirror, RedisStore
    from streamwarden.resume.slots import SharedSlots

__all__ = ["GRACE_EXPIRED", "RESUME_HEADER", "GloballyFull", "NotResumable", "Resume"]

logger = logging.getLogger("streamwarden.gateway")

#: Says where a response can be resumed: `replica` (this one), `shared` (any replica
#: sharing the Redis) or `off`.
RESUME_HEADER = "X-Stream-Resume"

#: The outcome of a generation nobody came back for within `--resume-grace`.
GRACE_EXPIRED = "resume_grace_expired"
#: The error event a follower gets when the stream will never end normally.
STREAM_LOST = "stream_lost"
#: What a follower of a draining replica gets last: reconnect soon (EventSource waits this
#: many ms), to another replica.
MOVE_ON = b"retry: 250\n\n"
#: The error event a follower on another replica gets when Redis fails under it.
STORE_UNAVAILABLE = "store_unavailable"


class _Framing(Protocol):
    """What the resume flow needs of a protocol (`gateway.app._Protocol`)."""

    @property
    def name(self) -> str: ...

    @property
    def error_events(self) -> ErrorFormatter: ...


class _Counters(Protocol):
    """What the producer reads of its upstream (`_Counted` or `RawRelay`)."""

    tokens: int
    finished: bool

    def aclose(self) -> Awaitable[None]: ...


class NotResumable(Exception):
    """A resume request answered with an error: `status` and a one-line message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class GloballyFull(Exception):
    """Every slot of `--global-max-streams` (or of this key's `--key-max-streams`) is taken,
    across all replicas: `status` 503 or 429."""

    def __init__(self, message: str, status: int = 503) -> None:
        super().__init__(message)
        self.status = status


def protocol_error(protocol: str, kind: str, message: str) -> Event | str:
    """An error event in the protocol's own shape, for endings the guard has no outcome for."""
    if protocol == "anthropic":
        body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message}}
        return Event(json.dumps(body, separators=(",", ":")), event="error")
    body = {"error": {"message": message, "type": kind, "param": None, "code": kind}}
    return json.dumps(body, separators=(",", ":"))


@dataclass(slots=True)
class _Production:
    """One generation running in its own task."""

    stream_id: str
    protocol: _Framing
    key: str | None
    events: AsyncIterator[Event | str | bytes]
    upstream: _Counters
    slot: Slot
    started: float
    numbering: Numbering
    #: The copy to Redis, when there is one.
    mirror: Mirror | None = None
    #: The original response counts as a follower until it closes.
    followers: int = 1
    #: Why it was stopped from outside (grace expired, shutdown); None while it runs.
    stopped: str | None = None
    outcome: str | None = None
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    _changed: anyio.Event = field(default_factory=anyio.Event)

    def attach(self) -> None:
        self.followers += 1
        self._notify()

    def detach(self) -> None:
        self.followers -= 1
        self._notify()

    def stop(self, why: str) -> None:
        if self.stopped is None:
            self.stopped = why
        self.scope.cancel()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = anyio.Event()

    async def changed(self) -> None:
        await self._changed.wait()


class _Deadlines:
    """The stream's deadlines (first token, idle, total) for a generation, on one cancel
    scope whose deadline moves with each item: the guard enforces them for a plain stream;
    here the producer must, at a cost of a few arithmetic operations per event."""

    def __init__(self, policy: StreamPolicy, started: float) -> None:
        self.policy = policy
        # The policy's times are on time.monotonic(); the scope's on the event loop's clock.
        self.offset = anyio.current_time() - time.monotonic()
        self.total_end = started + policy.max_duration if policy.max_duration else math.inf
        first = policy.first_token_timeout
        self.first_end = started + first if first else math.inf
        self.got_item = False
        self.scope = anyio.CancelScope(deadline=self.offset + min(self.total_end, self.first_end))

    def item(self) -> None:
        self.got_item = True
        idle = self.policy.idle_timeout
        end = min(self.total_end, time.monotonic() + idle) if idle else self.total_end
        self.scope.deadline = self.offset + end

    def expired(self) -> Expired:
        policy = self.policy
        if time.monotonic() >= self.total_end:
            return Expired(Outcome.MAX_DURATION, policy.max_duration or 0.0)
        if not self.got_item:
            return Expired(Outcome.FIRST_TOKEN_TIMEOUT, policy.first_token_timeout or 0.0)
        return Expired(Outcome.IDLE_TIMEOUT, policy.idle_timeout or 0.0)


class Resume:
    """The gateway's resumable streams: the store, the running generations and the
    `GET /v1/streams/{id}` flow. Off unless `--resume` (or `--redis`) is given."""

    def __init__(self, gateway: Gateway) -> None:
        settings = gateway.settings
        self.gateway = gateway
        self.enabled = settings.resume
        self.grace = settings.resume_grace
        self.local = MemoryStore(settings.resume_max_bytes, settings.resume_ttl)
        #: This process, as the holder of its streams' leases in Redis.
        self.replica = f"{uuid.uuid4().hex[:12]}"
        self.shared: RedisStore | None = None
        if settings.redis_url is not None:
            self.enabled = True
            from streamwarden.resume.redis import RedisStore

            self.shared = RedisStore(
                settings.redis_url,
                ttl=settings.resume_ttl,
                lease=settings.resume_lease,
                timeout=settings.redis_timeout,
                on_error=self._store_failed,
            )
        gateway.drain.on_begin.append(self._draining)
        self.slots: SharedSlots | None = None
        self.global_max = settings.global_max_streams
        self.key_max = settings.key_max_streams
        if self.shared is not None and (self.global_max or self.key_max):
            from streamwarden.resume.slots import SharedSlots

            self.slots = SharedSlots(self.shared)
        self._tasks: anyio.abc.TaskGroup | None = None
        self._running: dict[str, _Production] = {}
        registry = gateway.metrics.registry
        self.resumes_total = Counter(
            "streamwarden_resumes_total",
            "Resume requests (GET /v1/streams/{id}) by result",
            ["result"],
            registry=registry,
        )
        self.grace_expired_total = Counter(
            "streamwarden_resume_grace_expired_total",
            "Generations cancelled because no client resumed within --resume-grace",
            registry=registry,
        )
        self.store_errors_total = Counter(
            "streamwarden_resume_store_errors_total",
            "Calls to the shared event store (Redis) that failed or timed out",
            registry=registry,
        )

    @property
    def moving(self) -> bool:
        """Draining with a shared store: clients read on at another replica."""
        return self.gateway.drain.draining and self.mode == "shared"

    def _draining(self) -> None:
        """SIGTERM: with Redis, the generations go on into it while the followers are sent
        elsewhere (a `retry:` hint, then the connection ends) to read on."""
        if self.shared is None or not self.shared.healthy:
            return
        self.shared.moving = True
        self.local.move_followers()

    def _store_failed(self, exc: Exception) -> None:
        self.store_errors_total.inc()
        if self.shared is not None and self.shared.healthy:
            logger.warning("redis failed, streams go on without shared resume: %s", exc)

    @property
    def degraded(self) -> bool:
        """The shared store is configured but not answering."""
        return self.shared is not None and not self.shared.healthy

    @property
    def mode(self) -> str:
        """Where a stream started now can be resumed: `shared`, `replica` or `off`."""
        if not self.on:
            return "off"
        return "shared" if self.shared is not None and self.shared.healthy else "replica"

    @property
    def on(self) -> bool:
        """Resume is asked for and the app is running (its lifespan owns the generations)."""
        return self.enabled and self._tasks is not None

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """For the app's lifespan: owns every generation; on exit, stops them with
        `shutdown` and waits for each to write its ending."""
        try:
            async with anyio.create_task_group() as tasks:
                self._tasks = tasks
                watch = anyio.CancelScope()
                if self.shared is not None:
                    tasks.start_soon(self._watch_store, self.shared, watch)
                try:
                    yield
                finally:
                    self._tasks = None
                    watch.cancel()
                    for production in list(self._running.values()):
                        production.stop(Outcome.SHUTDOWN.value)
        finally:
            if self.shared is not None:
                with anyio.CancelScope(shield=True):
                    await self.shared.aclose()

    async def _watch_store(self, shared: RedisStore, scope: anyio.CancelScope) -> None:
        """Keeps `healthy` (and so `/readyz`) current while no stream uses the store, and
        the leases of this replica's shared slots alive."""
        every = min(shared.lease / 4, 2.0)
        pinged = -math.inf
        with scope:
            while True:
                if self.slots is not None:
                    with contextlib.suppress(StoreError):
                        await self.slots.refresh()
                if time.monotonic() - pinged >= 2.0:
                    await shared.ping()
                    pinged = time.monotonic()
                await anyio.sleep(every)

    # -- shared admission -----------------------------------------------------------------
    async def admit(self, slot: Slot) -> None:
        """Slots of `--global-max-streams` and of the key's `--key-max-streams` across all
        replicas, for a stream this replica admitted; the local limits alone while Redis is
        not answering. Released with `slot`."""
        slots = self.slots
        if slots is None:
            return
        wanted: list[tuple[str, int, GloballyFull]] = []
        if self.global_max:
            full = GloballyFull(
                f"all {self.global_max} streams of the service are taken "
                "(--global-max-streams); retry shortly"
            )
            wanted.append(("global", self.global_max, full))
        if self.key_max and slot.key is not None:
            full = GloballyFull(
                f"this API key already has {self.key_max} streams open (--key-max-streams)", 429
            )
            wanted.append((f"key:{slot.key}", self.key_max, full))
        taken: list[tuple[str, str]] = []
        try:
            for name, limit, full in wanted:
                member = await slots.acquire(name, limit)
                if member is None:
                    raise full
                taken.append((name, member))
        except StoreError:
            pass  # Redis down: the local limits hold on their own
        except BaseException:
            self._release_all(slots, taken)
            raise

        def release() -> None:
            self._release_all(slots, taken)

        slot.on_release = release

    def _release_all(self, slots: SharedSlots, taken: list[tuple[str, str]]) -> None:
        for name, member in taken:
            slots.forget(name, member)
            if self._tasks is not None:
                self._tasks.start_soon(self._release_slot, slots, name, member)

    async def _release_slot(self, slots: SharedSlots, name: str, member: str) -> None:
        with contextlib.suppress(StoreError):
            await slots.release(name, member)

    # -- producing ------------------------------------------------------------------------
    def start(
        self,
        request: Request,
        *,
        stream_id: str,
        protocol: _Framing,
        key: str | None,
        events: AsyncIterator[Event | str | bytes],
        upstream: _Counters,
        slot: Slot,
        started: float,
        on_close: Callable[[StreamStats, str | None, int], None],
    ) -> GuardedStreamResponse:
        """Start the generation and answer with its first follower."""
        assert self._tasks is not None
        production = _Production(
            stream_id, protocol, key, events, upstream, slot, started, Numbering(stream_id)
        )
        info = StreamInfo(key, protocol.name)
        self.local.open(stream_id, info)
        mode = self.mode
        if self.shared is not None and mode == "shared":
            production.mirror = self.shared.mirror(stream_id, info, self.replica)
            self._tasks.start_soon(production.mirror.run)
        self._running[stream_id] = production
        self._tasks.start_soon(self._produce, production)
        source = self._replay(stream_id, protocol, 0)
        return self._follower(request, source, stream_id, protocol, production, on_close, mode)

    async def _produce(self, production: _Production) -> None:
        policy = self.gateway.settings.policy
        outcome = Outcome.COMPLETED.value
        message = ""
        try:
            with production.scope:
                async with anyio.create_task_group() as watchers:
                    watchers.start_soon(self._watch_followers, production)
                    watchers.start_soon(self._watch_shutdown, production)
                    deadlines = _Deadlines(policy, production.started)
                    try:
                        with deadlines.scope:
                            async for item in production.events:
                                deadlines.item()
                                self._append(production, production.numbering.encode(item))
                        if deadlines.scope.cancelled_caught:
                            raise deadlines.expired()
                    except Expired as exc:
                        outcome, message = exc.outcome.value, str(exc)
                    except Exception as exc:  # the source failed: that is the upstream's error
                        outcome, message = (
                            Outcome.UPSTREAM_ERROR.value,
                            str(exc) or "upstream error",
                        )
                    watchers.cancel_scope.cancel()
        finally:
            if production.stopped is not None:
                outcome = production.stopped
            with anyio.CancelScope(shield=True):
                await self._end(production, outcome, message)

    def _append(self, production: _Production, data: bytes) -> None:
        self.local.append(production.stream_id, data)
        if production.mirror is not None:
            production.mirror.put(production.numbering.last, data)

    async def _end(self, production: _Production, outcome: str, message: str) -> None:
        """Store the ending (error events, then the end mark), close the upstream, release
        the slot, count and log: on every path, exactly once."""
        production.outcome = outcome
        stream_id = production.stream_id
        protocol = production.protocol
        endings: list[Event | str] = []
        if outcome == GRACE_EXPIRED:
            text = f"generation stopped: no client resumed within {self.grace:g}s (--resume-grace)"
            endings.append(protocol_error(protocol.name, GRACE_EXPIRED, text))
        elif outcome != Outcome.COMPLETED.value:
            ending = Outcome(outcome)
            endings += protocol.error_events(ending, message or ending.value)
        for item in endings:
            production.numbering.last += 1
            event = production.numbering.event(item, production.numbering.last)
            self._append(production, encode(event))
        self.local.end(stream_id)
        if production.mirror is not None:
            production.mirror.end(production.numbering.last + 1)
        upstream = production.upstream
        try:
            with anyio.move_on_after(self.gateway.settings.policy.close_timeout):
                aclose = getattr(production.events, "aclose", None)
                if aclose is not None and not _same(production.events, upstream):
                    await aclose()
                await upstream.aclose()
        except Exception as exc:
            logger.warning("upstream failed while closing: %s", exc)
        finally:
            production.slot.release()
            self._running.pop(stream_id, None)
            metrics = self.gateway.metrics
            metrics.tokens_total.inc(upstream.tokens)
            if outcome == GRACE_EXPIRED:
                self.grace_expired_total.inc()
            if outcome != Outcome.COMPLETED.value:
                metrics.upstream_cancelled(upstream.finished)

    async def _watch_followers(self, production: _Production) -> None:
        """Stop the generation once it has had no follower for `grace` seconds."""
        while True:
            while production.followers > 0:
                await production.changed()
            with anyio.move_on_after(self.grace):
                while production.followers == 0:
                    await production.changed()
            if production.followers == 0 and not await self._followed_elsewhere(production):
                production.stop(GRACE_EXPIRED)
                return

    async def _followed_elsewhere(self, production: _Production) -> bool:
        """A follower on another replica keeps its presence key fresh in Redis."""
        shared = self.shared
        if shared is None or production.mirror is None or production.mirror.failed:
            return False
        key = shared.key("f", production.stream_id)
        try:
            return bool(await shared.call(lambda: shared.client.exists(key)))
        except StoreError:
            return False

    async def _watch_shutdown(self, production: _Production) -> None:
        await self.gateway.drain.shutdown.wait()
        production.stop(Outcome.SHUTDOWN.value)

    # -- following ------------------------------------------------------------------------
    async def _replay(
        self, stream_id: str, protocol: _Framing, after: int, shared: RedisStore | None = None
    ) -> AsyncIterator[bytes]:
        """The stored events after `after` (from Redis when `shared`), until the end mark."""
        batches = shared.follow(stream_id, after) if shared else self.local.follow(stream_id, after)
        try:
            async for batch in batches:
                yield b"".join(batch)
        except Moved:
            yield MOVE_ON
        except StreamLost:
            text = f"stream {stream_id} was lost before its end (its producer went away)"
            yield encode(protocol_error(protocol.name, STREAM_LOST, text))
        except StoreError:
            text = f"the shared event store failed; resume {stream_id} again with Last-Event-ID"
            yield encode(protocol_error(protocol.name, STORE_UNAVAILABLE, text))

    def _follower(
        self,
        request: Request,
        source: AsyncIterator[bytes],
        stream_id: str,
        protocol: _Framing,
        production: _Production | None,
        on_close: Callable[[StreamStats, str | None, int], None],
        mode: str,
    ) -> GuardedStreamResponse:
        settings = self.gateway.settings
        # The generation keeps the first-token and idle deadlines; a follower only waits.
        policy = dataclasses.replace(settings.policy, first_token_timeout=None, idle_timeout=None)

        async def closed(stats: StreamStats) -> None:
            if production is not None:
                production.detach()
                ended = production.outcome
                tokens = production.upstream.tokens
            else:
                ended, tokens = None, 0
            on_close(stats, ended, tokens)

        response = stream_response(
            request,
            source,
            policy=policy,
            on_close=closed,
            # No ids on the guard's own endings: the client's last id stays the last stored
            # event's, so that it can read on elsewhere.
            format_error=protocol.error_events,
            shutdown=self.gateway.drain.shutdown,
            headers={STREAM_ID_HEADER: stream_id, RESUME_HEADER: mode},
        )
        response.heartbeat = HEARTBEAT_LINE
        return response

    async def follow(
        self,
        request: Request,
        stream_id: str,
        protocol: _Framing,
        key: str | None,
        on_close: Callable[[StreamStats, str | None, int], None],
    ) -> GuardedStreamResponse:
        """`GET /v1/streams/{id}`: what the client missed, then the live stream."""
        if not self.on:
            raise NotResumable(
                404, "resume is off on this gateway: start it with --resume or --redis URL"
            )
        if self.moving:
            raise NotResumable(503, "this replica is shutting down; resume on another one")
        after = _after(request, stream_id)
        info = await self.local.info(stream_id) if valid_stream_id(stream_id) else None
        shared = None
        if info is None and self.shared is not None and valid_stream_id(stream_id):
            try:
                info = await self.shared.info(stream_id)
            except StoreError:
                raise NotResumable(
                    503,
                    "the shared event store (Redis) is not answering; retry, or resume on the "
                    "replica that started the stream",
                ) from None
            shared = self.shared
        if info is None or info.owner != key:
            # Another key's stream gets the same answer as an unknown one.
            self.resumes_total.labels(result="not_found").inc()
            raise NotResumable(
                404, f"no stream {stream_id}: it is unknown, expired, or not this key's"
            )
        self.resumes_total.labels(result="resumed").inc()
        production = self._running.get(stream_id)
        if production is not None:
            production.attach()
        source = self._replay(stream_id, protocol, after, shared)
        mode = "shared" if shared is not None else self.mode
        return self._follower(request, source, stream_id, protocol, production, on_close, mode)


def _same(a: object, b: object) -> bool:
    return a is b


def _after(request: Request, stream_id: str) -> int:
    """The last event the client has: `Last-Event-ID` (as EventSource sends it), else
    `?after=N`, else none (the whole stream)."""
    header = request.headers.get("last-event-id")
    if header:
        parsed = parse_event_id(header)
        if parsed is None or parsed[0] != stream_id:
            raise NotResumable(
                400,
                f"Last-Event-ID must be an event id of this stream ('{stream_id}:N'), "
                f"not {header[:80]!r}",
            )
        return parsed[1]
    after = request.query_params.get("after")
    if after is None:
        return 0
    if not (after.isascii() and after.isdigit()):
        raise NotResumable(400, f"?after must be an event number (0 or more), not {after[:40]!r}")
    return int(after)
