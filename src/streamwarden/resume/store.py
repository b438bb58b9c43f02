"""Where a stream's events wait for a client that comes back: the interface, and the
in-process store every gateway has.

A stream is a log of encoded SSE events numbered from 1, then an end mark (the terminator
is stored like any event, so a resumer never waits for an ending that was already written).
A follower reads the log after a number and then waits, without polling, for what comes
next until the end mark.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

import anyio

__all__ = ["EventStore", "MemoryStore", "Moved", "StoreError", "StreamInfo", "StreamLost"]


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """Who may read a stream and how it is framed."""

    #: The hashed API key that created the stream (None: no key was presented).
    owner: str | None
    #: `openai` or `anthropic`: the error shape of its resumes.
    protocol: str


class StreamLost(Exception):
    """The stream will never end normally: its producer went away (a replica that died) or
    its events were evicted while it ran."""


class Moved(Exception):
    """This process stopped serving followers (it is draining): read on elsewhere."""


class StoreError(Exception):
    """The store failed or did not answer in time."""


class EventStore(Protocol):
    """What the gateway needs from a store. `follow` yields the encoded events after `after`,
    in order, several at a time when several are there, and returns at the end mark."""

    async def info(self, stream_id: str) -> StreamInfo | None: ...

    def follow(self, stream_id: str, after: int) -> AsyncIterator[list[bytes]]: ...


@dataclass(slots=True)
class _Log:
    info: StreamInfo
    events: list[bytes] = field(default_factory=list)
    size: int = 0
    ended: bool = False
    lost: bool = False
    touched: float = 0.0
    changed: anyio.Event = field(default_factory=anyio.Event)
    #: Whether a follower waits on `changed`: an event only when one does, since this runs
    #: once per appended event.
    waited: bool = False

    def notify(self) -> None:
        if self.waited:
            self.waited = False
            self.changed.set()
            self.changed = anyio.Event()

    async def wait(self) -> None:
        self.waited = True
        await self.changed.wait()


class MemoryStore:
    """Streams in this process: at most `max_bytes` of events (the least recently used
    stream goes first), each kept `ttl` seconds after its last event."""

    def __init__(
        self,
        max_bytes: int = 64 * 1024 * 1024,
        ttl: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_bytes < 1 or not ttl > 0:
            raise ValueError("MemoryStore needs max_bytes >= 1 and ttl > 0")
        self.max_bytes = max_bytes
        self.ttl = ttl
        self.clock = clock
        self.size = 0
        #: Set by `move_followers`: every follower stops, where it is.
        self.moving = False
        self._logs: OrderedDict[str, _Log] = OrderedDict()

    def __len__(self) -> int:
        return len(self._logs)

    # -- producing ------------------------------------------------------------------------
    def open(self, stream_id: str, info: StreamInfo) -> None:
        self._expire()
        self._logs[stream_id] = _Log(info, touched=self.clock())

    def append(self, stream_id: str, data: bytes) -> int:
        """Store the next event; its number (0 if the stream is gone: evicted or ended)."""
        log = self._logs.get(stream_id)
        if log is None or log.ended:
            return 0
        log.events.append(data)
        log.size += len(data)
        self.size += len(data)
        self._touch(stream_id, log)
        log.notify()
        self._evict(keep=stream_id)
        return len(log.events)

    def end(self, stream_id: str) -> None:
        """The end mark, after the terminator or the error events."""
        log = self._logs.get(stream_id)
        if log is not None and not log.ended:
            log.ended = True
            self._touch(stream_id, log)
            log.notify()

    def move_followers(self) -> None:
        """Stop every follower (`Moved`) after what it has read; producers go on."""
        self.moving = True
        for log in self._logs.values():
            log.waited = True
            log.notify()

    # -- reading --------------------------------------------------------------------------
    async def info(self, stream_id: str) -> StreamInfo | None:
        self._expire()
        log = self._logs.get(stream_id)
        return None if log is None else log.info

    def last(self, stream_id: str) -> int:
        log = self._logs.get(stream_id)
        return 0 if log is None else len(log.events)

    async def follow(self, stream_id: str, after: int) -> AsyncIterator[list[bytes]]:
        log = self._logs.get(stream_id)
        if log is None:
            raise StreamLost(f"stream {stream_id} is gone")
        position = max(after, 0)
        while True:
            if position < len(log.events):
                batch = log.events[position:]
                position += len(batch)
                yield batch
                continue
            if log.ended:
                return
            if log.lost:
                raise StreamLost(f"stream {stream_id} was evicted from memory while it ran")
            if self.moving:
                raise Moved(stream_id)
            await log.wait()

    # -- bounds ---------------------------------------------------------------------------
    def _touch(self, stream_id: str, log: _Log) -> None:
        log.touched = self.clock()
        self._logs.move_to_end(stream_id)

    def _drop(self, stream_id: str) -> None:
        log = self._logs.pop(stream_id)
        self.size -= log.size
        if not log.ended:
            log.lost = True
            log.notify()

    def _expire(self) -> None:
        # Least recently touched first, so the expired ones are at the front.
        horizon = self.clock() - self.ttl
        while self._logs:
            stream_id, log = next(iter(self._logs.items()))
            if log.touched > horizon:
                return
            self._drop(stream_id)

    def _evict(self, keep: str) -> None:
        self._expire()
        while self.size > self.max_bytes and len(self._logs) > 1:
            oldest = next(iter(self._logs))
            if oldest == keep:
                return
            self._drop(oldest)
