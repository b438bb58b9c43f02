"""Connection-level protection: deadlines for a request's head and body, and a cap on open
connections that sheds idle ones first.

uvicorn's keep-alive timer stops at the first byte of a request, so a client that sends its
headers one byte at a time (slowloris), or connects and sends nothing, would hold a socket
forever; enough of them exhaust the open-file limit and every new client fails.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, replace
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["Listen", "guarded_protocol"]

#: File descriptors kept free of client connections: upstream requests, logs, metrics.
_RESERVED_FDS = 64

_FULL_BODY = json.dumps(
    {
        "error": {
            "message": "the server has too many open connections; retry shortly",
            "type": "overloaded_error",
            "param": None,
            "code": None,
        }
    }
).encode()
_FULL = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
    b"retry-after: 1\r\nconnection: close\r\ncontent-length: "
    + str(len(_FULL_BODY)).encode()
    + b"\r\n\r\n"
    + _FULL_BODY
)


@dataclass(frozen=True, slots=True)
class Listen:
    """How the listening side treats connections. None turns a limit off."""

    #: Seconds from a connection's first byte (or its opening) to the end of a request head.
    header_timeout: float | None = 10.0
    #: Seconds from the end of the head to the end of the body.
    body_timeout: float | None = 30.0
    #: Connections open at once; None: derived from the open-file limit by `sized_for`.
    max_connections: int | None = None

    def __post_init__(self) -> None:
        if self.max_connections is not None and self.max_connections < 1:
            raise ValueError(
                f"--max-connections must be >= 0 (0: from the open-file limit), got {self.max_connections}"
            )

    def sized_for(self, open_files: int) -> Listen:
        """With the connection cap filled in: half the descriptors left after a reserve, so
        each client connection can have an upstream connection too."""
        if self.max_connections is not None:
            return self
        return replace(self, max_connections=max(16, (open_files - _RESERVED_FDS) // 2))


def guarded_protocol(base: type[Any], listen: Listen) -> type[Any]:
    """uvicorn's httptools protocol class with `listen`'s deadlines and cap."""
    if not issubclass(base, HttpToolsProtocol):
        return base

    class GuardedProtocol(base):  # type: ignore[misc]
        # One timer per connection, moved lazily: a request re-arms its deadline three
        # times, and a timer made and cancelled each time costs more than the check below.
        _timer: asyncio.TimerHandle | None = None
        #: When the current phase's deadline falls (loop time); None: no deadline now.
        _due: float | None = None
        _busy = False
        _opened = 0.0

        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self._opened = self.loop.time()
            self._arm(listen.header_timeout)
            cap = listen.max_connections
            if cap is not None and len(self.connections) > cap and not self._shed_idle():
                # Every connection is busy: refuse this one at once, in a shape clients parse.
                transport.write(_FULL)
                transport.close()

        def connection_lost(self, exc: Exception | None) -> None:
            self._due = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            super().connection_lost(exc)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._busy = True
            self._arm(listen.header_timeout)

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self._arm(listen.body_timeout)

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._arm(None)

        def on_response_complete(self) -> None:
            self._busy = False
            super().on_response_complete()

        def _arm(self, limit: float | None) -> None:
            """The deadline for the phase that begins now. A timer already set for later
            is replaced; one set for earlier stays and looks again when it fires."""
            if limit is None:
                self._due = None
                return
            self._due = due = self.loop.time() + limit
            timer = self._timer
            if timer is not None:
                if timer.when() <= due:
                    return
                timer.cancel()
            self._timer = self.loop.call_at(due, self._check)

        def _check(self) -> None:
            self._timer = None
            due = self._due
            if due is None:
                return
            if self.loop.time() < due:
                self._timer = self.loop.call_at(due, self._check)
            elif not self.transport.is_closing():
                self.transport.close()

        def _shed_idle(self) -> bool:
            """Close the oldest connection that is not in a request; False if none is."""
            idle = [
                c
                for c in self.connections
                if c is not self
                and isinstance(c, GuardedProtocol)
                and not c._busy
                and not c.transport.is_closing()
            ]
            if not idle:
                return False
            oldest = min(idle, key=lambda c: c._opened)
            oldest.transport.close()
            return True

    GuardedProtocol.__name__ = GuardedProtocol.__qualname__ = f"Guarded{base.__name__}"
    return GuardedProtocol
