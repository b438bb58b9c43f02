"""Stream ids and event ids: what a client needs to find its place in a stream again.

A streamed answer's id is its protocol's own id (`chatcmpl-…`, `msg_…`), sent in the
`X-Stream-Id` header. Each SSE event carries `id: <stream>:<n>`, `n` counting from 1, so
that a browser's `EventSource` sends it back as `Last-Event-ID` when it reconnects.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from streamwarden.guard import ErrorFormatter, Outcome
from streamwarden.sse import Event, encode

__all__ = [
    "HEARTBEAT_LINE",
    "STREAM_ID_HEADER",
    "Numbering",
    "event_id",
    "parse_event_id",
    "valid_stream_id",
]

STREAM_ID_HEADER = "X-Stream-Id"

#: The keepalive of a stream with event ids: a comment line alone, no blank line (see
#: `GuardedStreamResponse.heartbeat`).
HEARTBEAT_LINE = b": keepalive\n"

_STREAM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def event_id(stream_id: str, seq: int) -> str:
    return f"{stream_id}:{seq}"


def valid_stream_id(value: str) -> bool:
    return _STREAM_ID.fullmatch(value) is not None


def parse_event_id(value: str) -> tuple[str, int] | None:
    """`<stream>:<n>` -> (stream, n); None if it is not one of ours."""
    stream, sep, seq = value.strip().rpartition(":")
    if not sep or not valid_stream_id(stream) or not seq.isascii() or not seq.isdigit():
        return None
    return stream, int(seq)


class Numbering:
    """Gives one stream's events their ids, in order, and encodes them."""

    def __init__(self, stream_id: str) -> None:
        self.stream_id = stream_id
        #: The last number given out (0: none yet).
        self.last = 0
        self._id_line = f"id: {stream_id}:"
        self._id_prefix = self._id_line.encode()

    def encode(self, item: Event | str | bytes) -> bytes:
        """One item as SSE bytes with its id. `bytes` (a pass-through relay's events, whole
        and LF-terminated) may hold several events: each gets its own number."""
        if isinstance(item, bytes):
            if item.count(b"\n") == 2 and item[-2:] == b"\n\n" and item[:3] != b"id:":
                # The common read: one event of one line (a JSON chunk). Counting LFs is a
                # memchr; a substring search costs more than the rest of this.
                self.last += 1
                return b"%s%d\n%s" % (self._id_prefix, self.last, item)
            blocks = [block for block in item.split(b"\n\n") if block]
            out = []
            for block in blocks:
                if block.startswith(b"id:") or b"\nid:" in block:
                    # The upstream's own id would win over ours (the last `id:` counts).
                    block = _drop_ids(block)
                self.last += 1
                line = f"id: {event_id(self.stream_id, self.last)}\n".encode()
                out.append(line + block + b"\n\n")
            return b"".join(out)
        self.last += 1
        # The common event is one line (a JSON chunk): written directly, as `sse.encode` does
        # for a plain `str`, since this runs once per token.
        if isinstance(item, str):
            if "\n" not in item and "\r" not in item:
                return f"{self._id_line}{self.last}\ndata: {item}\n\n".encode()
        elif (
            item.event is not None
            and item.id is None
            and item.retry is None
            and "\n" not in item.data
            and "\r" not in item.data
            and "\n" not in item.event
            and "\r" not in item.event
        ):
            return (
                f"event: {item.event}\n{self._id_line}{self.last}\ndata: {item.data}\n\n".encode()
            )
        return encode(self.event(item, self.last))

    def event(self, item: Event | str, seq: int) -> Event:
        ident = event_id(self.stream_id, seq)
        if isinstance(item, str):
            return Event(item, id=ident)
        return dataclasses.replace(item, id=ident)

    def errors(self, format_error: ErrorFormatter) -> ErrorFormatter:
        """`format_error` whose events continue the numbering."""

        def numbered(outcome: Outcome, message: str) -> Sequence[Event | str]:
            events = []
            for item in format_error(outcome, message):
                self.last += 1
                events.append(self.event(item, self.last))
            return events

        return numbered


def _drop_ids(block: bytes) -> bytes:
    return b"\n".join(line for line in block.split(b"\n") if not line.startswith(b"id:"))
