"""The stream every lab app sends: paced OpenAI chunks of the simulated model's words,
identical across frameworks; and the counts the cancellation scenarios keep of it."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from streamwarden.protocols.openai import DONE, chunk_json
from streamwarden.upstreams.sim import word

__all__ = ["DONE", "GRACE", "DisconnectWatch", "Pace", "Tally", "chunk", "sse"]

#: The guard's contract: a stream's source is stopped within 100 ms of a disconnect.
GRACE = 0.1


@dataclass(frozen=True, slots=True)
class Pace:
    """How one stream is paced: `tokens` chunks at `tps` per second after `ttft` seconds."""

    tokens: int = 40
    tps: float = 20.0
    ttft: float = 0.1

    @property
    def interval(self) -> float:
        return 1.0 / self.tps if self.tps > 0 else 0.0

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Pace:
        default = cls()
        return cls(
            tokens=int(query.get("tokens", default.tokens)),
            tps=float(query.get("tps", default.tps)),
            ttft=float(query.get("ttft", default.ttft)),
        )


def chunk(index: int) -> str:
    """The `index`th OpenAI `chat.completion.chunk`, as the `data:` of an SSE event."""
    return chunk_json("chatcmpl-lab", 0, "lab", {"content": word(index) + " "}, None)


def sse(data: str) -> bytes:
    return f"data: {data}\n\n".encode()


@dataclass(slots=True)
class Tally:
    """One route's counts: streams, disconnects, tokens generated, and tokens generated more
    than `GRACE` seconds after their client disconnected."""

    streams: int = 0
    disconnects: int = 0
    generated: int = 0
    after_disconnect: int = 0


class DisconnectWatch:
    """When one request's client went away mid-answer, as seen on the ASGI `receive`
    channel, counted in `tally`."""

    __slots__ = ("disconnected_at", "generating", "tally")

    def __init__(self, tally: Tally) -> None:
        self.tally = tally
        self.disconnected_at: float | None = None
        #: A client that leaves after the whole answer is not one that left mid-stream.
        self.generating = True

    def receive(
        self, receive: Callable[[], Awaitable[dict[str, Any]]]
    ) -> Callable[[], Awaitable[dict[str, Any]]]:
        """`receive`, noting the disconnect it reports."""

        async def watched() -> dict[str, Any]:
            message = await receive()
            gone = message["type"] == "http.disconnect"
            if gone and self.generating and self.disconnected_at is None:
                self.disconnected_at = time.monotonic()
                self.tally.disconnects += 1
            return message

        return watched

    def generated(self) -> None:
        """Count one token, and whether it came more than `GRACE` after the disconnect."""
        self.tally.generated += 1
        gone = self.disconnected_at
        if gone is not None and time.monotonic() - gone > GRACE:
            self.tally.after_disconnect += 1
