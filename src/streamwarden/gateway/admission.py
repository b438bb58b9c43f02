"""Admission control: a bounded number of streams, a bounded queue, per-key limits.

Overload is never a hang: past the limits, or after the queue timeout, `acquire` raises
`Rejected` at once with the status and the Retry-After to answer with.

With `--workers N`, `SharedStreams` makes `--max-streams` one limit for all the workers.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, deque
from collections.abc import Callable, MutableSequence
from typing import Any

__all__ = ["Admission", "Rejected", "SharedStreams", "Slot"]

logger = logging.getLogger("streamwarden.gateway")

#: How often a worker's queue looks for a slot another worker freed (its own releases hand
#: theirs over at once).
SHARED_POLL = 0.02


class SharedStreams:
    """The stream count of several worker processes, against one limit.

    The supervisor makes `cells` (a `multiprocessing` `RawArray("i", workers)`) and `lock`
    (a plain, non-recursive `Lock`) and gives each worker its index. A worker counts its
    streams in its own cell; taking a slot sums the cells under the lock, so the limit holds
    across workers. The lock is held for microseconds and never waited on for long: a worker
    that cannot get it within `LOCK_WAIT` treats the limit as reached (a 503, never a hang).
    A worker that dies leaves its count behind, and the lock too if it died holding it; the
    supervisor's `clear` zeroes its cell and frees the lock.
    """

    #: Seconds a worker waits for the lock before it answers "full".
    LOCK_WAIT = 0.1

    def __init__(self, cells: Any, lock: Any, index: int, limit: int) -> None:
        self.cells = cells
        self.lock = lock
        self.index = index
        self.limit = limit

    def take(self) -> bool:
        if not self.lock.acquire(timeout=self.LOCK_WAIT):
            return False
        try:
            counts: MutableSequence[int] = self.cells
            if sum(counts) >= self.limit:
                return False
            counts[self.index] += 1
            return True
        finally:
            self.lock.release()

    def give(self) -> None:
        # Waits longer than `take`: a count not given back would shrink the limit.
        if not self.lock.acquire(timeout=1.0):
            return
        try:
            self.cells[self.index] = max(0, self.cells[self.index] - 1)
        finally:
            self.lock.release()

    @staticmethod
    def clear(cells: Any, lock: Any, index: int) -> None:
        """After worker `index` died: zero its count. A lock still taken a second later is
        the dead worker's (the others hold it for microseconds), so it is released here."""
        held = lock.acquire(timeout=1.0)
        cells[index] = 0
        lock.release()
        if not held:
            logger.warning("a worker died holding the shared stream count's lock; released")


class Rejected(Exception):
    def __init__(self, status: int, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class Slot:
    """One admitted stream. `release()` is idempotent, so every exit path may call it."""

    def __init__(self, admission: Admission, key: str | None) -> None:
        self._admission = admission
        self.key = key
        self.released = False
        #: Called once on release: what else the stream held (a slot shared by replicas).
        self.on_release: Callable[[], None] | None = None

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._admission._release(self)
            if self.on_release is not None:
                self.on_release()


class Admission:
    def __init__(
        self,
        max_streams: int | None = None,
        queue: int = 0,
        queue_timeout: float = 10.0,
        key_max_streams: int | None = None,
        retry_after: int = 1,
        on_change: Callable[[], None] | None = None,
        shared: SharedStreams | None = None,
    ) -> None:
        if queue_timeout <= 0:
            raise ValueError("queue_timeout must be > 0: a queued request must not wait forever")
        if queue < 0 or (max_streams is not None and max_streams < 0):
            raise ValueError("max_streams and queue must be >= 0")
        self.max_streams = max_streams
        self.queue = queue
        #: Set by the drain: everything new is refused.
        self.closed = False
        self.queue_timeout = queue_timeout
        self.key_max_streams = key_max_streams
        self.retry_after = retry_after
        self.active = 0
        self.per_key: Counter[str] = Counter()
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._on_change = on_change
        self._idle = asyncio.Event()
        self._idle.set()
        self.shared = shared
        self._poll: asyncio.TimerHandle | None = None

    @property
    def queued(self) -> int:
        return len(self._waiters)

    def _changed(self) -> None:
        if self.active == 0:
            self._idle.set()
        else:
            self._idle.clear()
        if self._on_change is not None:
            self._on_change()

    async def wait_idle(self) -> None:
        await self._idle.wait()

    def _reserve(self) -> bool:
        """Count one more stream if there is room for it, here and across the workers."""
        if self.max_streams is not None and self.active >= self.max_streams:
            return False
        if self.shared is not None and not self.shared.take():
            return False
        self.active += 1
        return True

    def _unreserve(self) -> None:
        self.active -= 1
        if self.shared is not None:
            self.shared.give()

    def try_acquire(self, key: str | None = None) -> Slot | None:
        """A slot now if one is free and nobody is queued; None if the request would have
        to wait (then `acquire` queues it). Raises `Rejected` as `acquire` does. Lets the
        common case skip the disconnect watcher that a wait in the queue needs."""
        self._check(key)
        if self._waiters or not self._reserve():
            return None
        if key is not None:
            self.per_key[key] += 1
        self._changed()
        return Slot(self, key)

    def _check(self, key: str | None) -> None:
        if self.closed:
            raise Rejected(
                503, "the server is shutting down; retry on another instance", self.retry_after
            )
        if key is not None and self.key_max_streams is not None:
            if self.per_key[key] >= self.key_max_streams:
                raise Rejected(
                    429,
                    f"this API key already has {self.key_max_streams} streams open; "
                    "wait for one to finish",
                    self.retry_after,
                )

    async def acquire(self, key: str | None = None) -> Slot:
        self._check(key)
        if key is not None:
            # Counted before any wait, so that queued requests count against the key too.
            self.per_key[key] += 1
        try:
            if self._waiters or not self._reserve():
                await self._wait_in_queue()  # returns with our slot already counted
        except BaseException:
            self._forget_key(key)
            raise
        self._changed()
        return Slot(self, key)

    def reject_waiters(self) -> None:
        """Refuse every queued request and all new ones (the drain has begun)."""
        self.closed = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(
                    Rejected(
                        503,
                        "the server is shutting down; retry on another instance",
                        self.retry_after,
                    )
                )
        self._changed()

    async def _wait_in_queue(self) -> None:
        if len(self._waiters) >= self.queue:
            raise Rejected(503, "the server is full; retry shortly", self.retry_after)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._changed()
        if self.shared is not None and self._poll is None:
            self._poll = asyncio.get_running_loop().call_later(SHARED_POLL, self._look_again)
        try:
            async with asyncio.timeout(self.queue_timeout):
                await waiter
        except TimeoutError:
            if not (waiter.done() and not waiter.cancelled() and waiter.exception() is None):
                raise Rejected(
                    503,
                    f"the server stayed full for {self.queue_timeout:g}s; retry shortly",
                    self.retry_after,
                ) from None
            # A slot was handed over just as the timeout fired: keep it.
        except BaseException:
            # Cancelled while queued (client left): hand a slot we were given to the next.
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._unreserve()
                self._wake_next()
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            self._changed()

    def _forget_key(self, key: str | None) -> None:
        if key is not None:
            self.per_key[key] -= 1
            if self.per_key[key] <= 0:
                del self.per_key[key]

    def _release(self, slot: Slot) -> None:
        self._unreserve()
        self._forget_key(slot.key)
        self._wake_next()
        self._changed()

    def _wake_next(self) -> None:
        while self._waiters:
            if self._waiters[0].done():
                self._waiters.popleft()
                continue
            # Reserve the slot now so that a newcomer cannot take it first.
            if not self._reserve():
                return
            self._waiters.popleft().set_result(None)
            return

    def _look_again(self) -> None:
        """While requests are queued here, a slot freed by another worker is taken too."""
        self._poll = None
        self._wake_next()
        if self._waiters:
            self._poll = asyncio.get_running_loop().call_later(SHARED_POLL, self._look_again)
