"""Waits before and around a response: each one has a deadline and watches the client.

The guard covers a stream once it runs. Before that (a queued request, the upstream's
connect and response headers) and for a non-streaming answer, nothing else would notice a
client that left or an upstream that stays silent; these helpers do.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import anyio
from starlette.types import Receive

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
    `http.disconnect`.
    """
    ended: type[Exception] | None = None
    done = False
    result: T | None = None
    error: Exception | None = None
    async with anyio.create_task_group() as tg:

        async def watch_client() -> None:
            nonlocal ended
            while (await receive())["type"] != "http.disconnect":
                pass
            ended = ended or ClientLeft
            tg.cancel_scope.cancel()

        async def watch_shutdown(signal: ShutdownSignal) -> None:
            nonlocal ended
            await signal.wait()
            ended = ended or ShuttingDown
            tg.cancel_scope.cancel()

        tg.start_soon(watch_client)
        if shutdown is not None:
            tg.start_soon(watch_shutdown, shutdown)
        try:
            result = await work()
            done = True
        except Exception as exc:
            # Raised past the task group, it would come out wrapped in an ExceptionGroup.
            error = exc
        tg.cancel_scope.cancel()
    if done:
        # Finished as the client left: the caller owns what it got (a slot, an upstream
        # request) and will see the disconnect at its next wait.
        return result  # type: ignore[return-value]
    if ended is not None:
        raise ended
    if error is not None:
        try:
            raise error
        finally:
            error = None  # no frame -> exception -> traceback -> frame cycle
    return result  # type: ignore[return-value]


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
    with anyio.move_on_after(limit if limit is not None else math.inf) as scope:
        return await work()
    assert scope.cancelled_caught and limit is not None
    raise Expired(Outcome.FIRST_TOKEN_TIMEOUT, limit)
