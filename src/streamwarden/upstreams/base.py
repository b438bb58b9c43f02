"""What every upstream produces: text deltas, then one finish. Protocol-neutral."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "ChatRequest",
    "Finish",
    "ItemStream",
    "TextDelta",
    "Upstream",
    "UpstreamError",
    "UpstreamItem",
    "collect",
]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A chat request, whichever protocol it came in by."""

    model: str
    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    #: Per-request overrides for the simulated model (the body's `sim` object).
    sim: dict[str, Any] = field(default_factory=dict)
    temperature: float | None = None
    system: str | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class Finish:
    reason: str = "stop"
    input_tokens: int = 0
    output_tokens: int = 0


UpstreamItem = TextDelta | Finish


async def collect(items: AsyncIterator[UpstreamItem]) -> tuple[str, Finish]:
    """The whole answer and its finish, for non-streaming responses."""
    parts: list[str] = []
    finish = Finish()
    async for item in items:
        if isinstance(item, TextDelta):
            parts.append(item.text)
        else:
            finish = item
    return "".join(parts), finish


class UpstreamError(Exception):
    """The upstream failed. `status` is the HTTP status to answer with before streaming."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 502,
        kind: str = "upstream_error",
        retry_after: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        #: `invalid_request` and `model_not_found` are the client's mistakes, found by the
        #: upstream; `timeout` is an upstream too slow to answer; anything else its failure.
        self.kind = kind
        #: The upstream's `Retry-After`, passed on to the client.
        self.retry_after = retry_after


class ItemStream(Protocol):
    """What `Upstream.open` returns: items, and an `aclose()` that releases the request."""

    def __aiter__(self) -> AsyncIterator[UpstreamItem]: ...

    def __anext__(self) -> Awaitable[UpstreamItem]: ...

    async def aclose(self) -> None: ...


class Upstream(Protocol):
    """An async token source for one chat request."""

    name: str

    async def open(self, request: ChatRequest) -> ItemStream:
        """Start the request. Errors before the first byte raise `UpstreamError` here, so
        the gateway can still answer with a status code instead of a broken stream."""
        ...

    async def list_models(self) -> list[str]:
        """The model names this upstream serves, for `GET /v1/models`."""
        ...
