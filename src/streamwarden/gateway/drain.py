"""Graceful drain: stop admitting, let running streams finish, then end the rest."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from streamwarden.gateway.admission import Admission

__all__ = ["Drain"]


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
        self.shutdown = asyncio.Event()
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
