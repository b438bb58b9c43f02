"""Graceful drain: stop admitting, let running streams finish, then end the rest."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from streamwarden.gateway.admission import Admission

__all__ = ["Drain", "Shutdown"]


class Shutdown(asyncio.Event):
    """The drain's "stop now" signal: an `asyncio.Event` (the guard awaits `wait()`) that
    also calls subscribers when set, so a wait can watch it without a task of its own."""

    def __init__(self) -> None:
        super().__init__()
        self._subscribers: dict[int, Callable[[], None]] = {}
        self._next = 0

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` once when the event is set (at once if it is); returns the
        function that unsubscribes."""
        if self.is_set():
            callback()
            return _nothing
        token = self._next
        self._next += 1
        self._subscribers[token] = callback

        def unsubscribe() -> None:
            self._subscribers.pop(token, None)

        return unsubscribe

    def set(self) -> None:
        super().set()
        subscribers, self._subscribers = self._subscribers, {}
        for callback in subscribers.values():
            callback()


def _nothing() -> None:
    pass


class Drain:
    """SIGTERM starts `begin()`. `/readyz` and new requests then answer 503; streams run
    on for up to `timeout` seconds, after which `shutdown` is set and the guard ends them
    with outcome `shutdown`. `on_done` is called once nothing is left, or `grace` seconds
    after that (streams told to stop only write their error event), so the drain ends at most
    `timeout + grace` after it began."""

    def __init__(self, admission: Admission, timeout: float = 30.0, grace: float = 2.0) -> None:
        self.admission = admission
        self.timeout = timeout
        self.grace = grace
        self.draining = False
        self.shutdown = Shutdown()
        #: Called once when the drain begins (resumable streams move their clients on).
        self.on_begin: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None

    def begin(self, on_done: Callable[[], None]) -> None:
        if self.draining:
            return
        self.draining = True
        # Requests still queued would otherwise start new streams after SIGTERM.
        self.admission.reject_waiters()
        for hook in self.on_begin:
            hook()
        self._task = asyncio.get_running_loop().create_task(self._run(on_done))

    async def _run(self, on_done: Callable[[], None]) -> None:
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.timeout):
                    await self.admission.wait_idle()
            self.shutdown.set()
            # Streams were told to stop: give them a moment to write their error event.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.grace):
                    await self.admission.wait_idle()
        finally:
            on_done()
