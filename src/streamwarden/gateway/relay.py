"""Pass-through: an OpenAI client in front of an OpenAI upstream gets the upstream's event
bytes as they came, with no JSON decoded or re-encoded per chunk.

The request body goes up as the client sent it (every field, `stream_options` included), and
each read of the upstream body goes down as whole SSE events. Only what the gateway needs is
scanned for in the bytes: text deltas (to count tokens), the `[DONE]` terminator, error
chunks (which end the stream with the client protocol's error event, as on the translated
path), and comment-only events (the upstream's own heartbeats: the guard sends its own).
Translation between protocols keeps the full path (`upstreams` items, `protocols` framing).
"""

from __future__ import annotations

import json
import re
from typing import Any

from streamwarden.upstreams.base import Upstream, UpstreamError
from streamwarden.upstreams.http1 import HTTPError, Response
from streamwarden.upstreams.openai import OpenAIUpstream

__all__ = ["RawRelay", "open_passthrough", "passes_through"]

#: A delta with text in it: `"content":"x…` (the role chunk's empty content does not count).
_TEXT = re.compile(rb'"content"\s*:\s*"[^"]')
_DONE = re.compile(rb"^data: ?\[DONE\]\s*$", re.MULTILINE)


def passes_through(upstream: Upstream, protocol: str, body: Any) -> bool:
    """The client speaks the upstream's protocol and wants a stream."""
    return protocol == "openai" and isinstance(upstream, OpenAIUpstream) and bool(body.stream)


async def open_passthrough(upstream: OpenAIUpstream, body: bytes) -> RawRelay:
    """Send the client's own body (its bytes, checked as JSON already) upstream; errors
    before the stream raise `UpstreamError`."""
    return RawRelay(await upstream.open_raw(body))


class RawRelay:
    """The upstream body as whole SSE events (bytes), counted as they pass.

    Has the counters `gateway.app` reads when a stream closes (`tokens`, `finished`) and an
    idempotent `aclose()`.
    """

    def __init__(self, response: Response) -> None:
        self._response = response
        self._pending = b""
        self.tokens = 0
        self.finished = False

    def __aiter__(self) -> RawRelay:
        return self

    async def __anext__(self) -> bytes:
        while True:
            try:
                data = await self._response.receive()
            except HTTPError as exc:
                raise UpstreamError(f"upstream connection failed mid-stream: {exc}") from None
            if not data:
                if not self.finished:
                    # A body that ends without `[DONE]` was cut somewhere.
                    raise UpstreamError("upstream stream ended without its terminator")
                raise StopAsyncIteration
            events = self._complete_events(data)
            if events and not self.finished:
                events = self._scan(events)
                if events:
                    return events

    def _complete_events(self, data: bytes) -> bytes:
        """The whole events in what has arrived; a partial one waits for the next read."""
        buffer = self._pending + data if self._pending else data
        if b"\r" in buffer:
            # CRLF or CR line ends (rare): hold a trailing CR that may be half of a CRLF.
            keep = buffer.endswith(b"\r")
            body = buffer[:-1] if keep else buffer
            buffer = body.replace(b"\r\n", b"\n").replace(b"\r", b"\n") + (b"\r" if keep else b"")
        cut = buffer.rfind(b"\n\n")
        if cut < 0:
            self._pending = buffer
            return b""
        self._pending = buffer[cut + 2 :]
        return buffer[: cut + 2]

    def _scan(self, events: bytes) -> bytes:
        # `find` on bytes is a C scan; `in` costs twice as much on this path, once per event.
        if events.find(b'"error"') >= 0:
            _raise_on_error(events)
        # One event of one data line (the common read) holds no comment: no search for one.
        one_line = events.count(b"\n") == 2 and events[:5] == b"data:"
        if not one_line and (events[:1] == b":" or events.find(b"\n:") >= 0):
            events = _drop_comments(events)
        self.tokens += len(_TEXT.findall(events))
        if events.find(b"[DONE]") >= 0 and _DONE.search(events):
            self.finished = True
        return events

    async def aclose(self) -> None:
        await self._response.aclose()


def _drop_comments(events: bytes) -> bytes:
    kept = [
        block
        for block in events.split(b"\n\n")
        if block and not all(line.startswith(b":") for line in block.split(b"\n"))
    ]
    return b"".join(block + b"\n\n" for block in kept)


def _raise_on_error(events: bytes) -> None:
    """An OpenAI error chunk (`{"error": …}`) ends the stream as an upstream error."""
    for block in events.split(b"\n\n"):
        data = b"\n".join(
            line[5:].lstrip(b" ") for line in block.split(b"\n") if line.startswith(b"data:")
        )
        if b'"error"' not in data:
            continue
        try:
            chunk = json.loads(data)
        except ValueError:
            continue
        if isinstance(chunk, dict) and chunk.get("error"):
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else str(error)
            raise UpstreamError(f"upstream error mid-stream: {message}")
