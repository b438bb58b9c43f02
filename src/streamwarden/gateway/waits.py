"""Waits before and around a response: each one has a deadline and watches the client.

The guard covers a stream once it runs. Before that (a queued request, the upstream's
connect and response headers) and for a non-streaming answer, nothing else would notice a
client that left or an upstream that stays silent; these helpers do.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import anyio
from starlette.types import Receive

from streamwarden.gateway.drain import Shutdown
from streamwarden.guard import Outcome, ShutdownSignal, StreamPolicy, Timeline
from streamwarden.upstreams.base import ItemStream, UpstreamItem

__all__ = ["ClientLeft", "Expired", "ShuttingDown", "TimedItems", "first_within", "while_connected"]

T = TypeVar("T")


class ClientLeft(Exception):
    """The client disconnected while the gateway was waiting on its behalf."""


class ShuttingDown(Exception):
    """The drain ran out of time while the gateway was waiting on the client's behalf."""


class Expired(Exception):
    """A deadline passed; `outcome` says which."""

    def __init__(self, outcome: Outcome, limit: float) -> None:
        super().__init__(f"{outcome.value} after {limit:g}s")
        self.outcome = outcome
        self.limit = limit


async def while_connected(
    receive: Receive, work: Callable[[], Awaitable[T]], shutdown: ShutdownSignal | None = None
) -> T:
    """`await work()`, cancelled at once if the client disconnects (then `ClientLeft`) or
    `shutdown` is set (then `ShuttingDown`).

    Call it only once the request body has been read: `receive` then yields nothing until
    `http.disconnect`. asyncio only (the gateway runs on uvicorn): `work` runs in the calling
    task, one watcher task waits for the client, and an ending cancels the calling task
    directly; it is on every stream's path, and an anyio task group there costs a second
    task, a cancel scope and the task's repr on every `cancel()`.
    """
    task = asyncio.current_task()
    assert task is not None, "while_connected runs inside an asyncio task"
    if isinstance(shutdown, Shutdown) and shutdown.is_set():
        # Before any wait: a cancellation requested now might only land after `work`.
        raise ShuttingDown
    ended: list[type[Exception]] = []
    running = True

    def stop(why: type[Exception]) -> None:
        if running and not ended:
            ended.append(why)
            task.cancel()

    loop = asyncio.get_running_loop()
    watchers = [loop.create_task(_watch_client(receive, stop))]
    unsubscribe: Callable[[], None] | None = None
    if isinstance(shutdown, Shutdown):
        unsubscribe = shutdown.subscribe(lambda: stop(ShuttingDown))
    elif shutdown is not None:
        watchers.append(loop.create_task(_watch_shutdown(shutdown, stop)))
    try:
        result = await work()
    except BaseException:
        # Our cancellation comes out of `work` as CancelledError (or whatever `work` made
        # of it): withdrawn here, and reported as why the wait ended, unless another
        # cancellation from outside is pending too.
        if ended and task.uncancel() == 0:
            raise ended[0]() from None
        raise
    finally:
        running = False
        for watcher in watchers:
            watcher.cancel()
        if unsubscribe is not None:
            unsubscribe()
    if ended:
        # Finished as the client left (`work` swallowed the cancellation): the caller owns
        # what it got (a slot, an upstream request) and sees the disconnect at its next wait.
        task.uncancel()
    return result


async def _watch_client(receive: Receive, stop: Callable[[type[Exception]], None]) -> None:
    try:
        while (await receive())["type"] != "http.disconnect":
            pass
    except asyncio.CancelledError:
        return  # the wait ended first; returning leaves no exception -> frame cycle
    stop(ClientLeft)


async def _watch_shutdown(signal: ShutdownSignal, stop: Callable[[type[Exception]], None]) -> None:
    try:
        await signal.wait()
    except asyncio.CancelledError:
        return
    stop(ShuttingDown)


class TimedItems:
    """Upstream items under the stream deadlines (first token, idle, total), for answers the
    guard does not run: a deadline that passes raises `Expired` from `__anext__`."""

    def __init__(
        self,
        inner: ItemStream,
        policy: StreamPolicy,
        started: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.inner = inner
        self.timeline = Timeline(policy, started)
        self.clock = clock

    def __aiter__(self) -> AsyncIterator[UpstreamItem]:
        return self

    async def __anext__(self) -> UpstreamItem:
        now = self.clock()
        due = self.timeline.deadline(now)
        with anyio.move_on_after(due.at - now if due.at != math.inf else math.inf) as scope:
            item = await self.inner.__anext__()
        if scope.cancelled_caught:
            assert isinstance(due.action, Outcome)
            raise Expired(due.action, due.at - self._since(due.action))
        now = self.clock()
        if self.timeline.first_item is None:
            self.timeline.first_item = now
        self.timeline.last_item = now
        return item

    def _since(self, outcome: Outcome) -> float:
        timeline = self.timeline
        if outcome is Outcome.IDLE_TIMEOUT:
            return timeline.last_item or timeline.started
        return timeline.started

    async def aclose(self) -> None:
        await self.inner.aclose()


async def first_within(limit: float | None, work: Callable[[], Awaitable[T]]) -> T:
    """`await work()` within `limit` seconds (None: no limit), else `Expired(first_token_timeout)`."""
    if limit is None:
        return await work()
    # asyncio's own timeout: no anyio cancel scope on every stream's path.
    deadline = asyncio.timeout(limit)
    try:
        async with deadline:
            return await work()
    except TimeoutError:
        if not deadline.expired():
            raise
    raise Expired(Outcome.FIRST_TOKEN_TIMEOUT, limit)
