"""The Server-Sent Events wire format, in one place.

`encode` / `encode_comment` produce bytes for the guard; `SSEDecoder` is an incremental
parser that follows the WHATWG EventSource rules and is shared by the probe and the tests.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

__all__ = [
    "Comment",
    "Event",
    "SSEDecoder",
    "encode",
    "encode_comment",
]

_BOM = "\ufeff"  # a byte order mark a stream may start with; the decoder drops it


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event. `data` may hold newlines: each line becomes a `data:` field."""

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment line (`: text`), used for heartbeats. Never part of the content."""

    text: str


def _check_field(name: str, value: str) -> None:
    # A line break inside a single-line field would let the value inject new fields.
    if "\n" in value or "\r" in value:
        raise ValueError(f"SSE field {name!r} must not contain a line break: {value!r}")


def encode(event: Event | str) -> bytes:
    """Encode one event, including the blank line that dispatches it."""
    if isinstance(event, str):
        if "\n" not in event and "\r" not in event:
            # The common token, one line, skips the general path: this runs once per event,
            # and the general path costs an order of magnitude more (docs/BENCHMARKS.md).
            return b"data: " + event.encode("utf-8") + b"\n\n"
        event = Event(event)
    parts: list[str] = []
    if event.event is not None:
        _check_field("event", event.event)
        parts.append(f"event: {event.event}\n")
    if event.id is not None:
        _check_field("id", event.id)
        if "\0" in event.id:
            raise ValueError("SSE field 'id' must not contain NUL (clients ignore it)")
        parts.append(f"id: {event.id}\n")
    if event.retry is not None:
        if event.retry < 0:
            raise ValueError("SSE field 'retry' must be a non-negative integer")
        parts.append(f"retry: {int(event.retry)}\n")
    # CRLF and CR are line ends too for the decoder: normalise so that they round-trip as LF.
    data = event.data.replace("\r\n", "\n").replace("\r", "\n")
    for line in data.split("\n"):
        parts.append(f"data: {line}\n")
    parts.append("\n")
    return "".join(parts).encode("utf-8")


def encode_comment(text: str = "") -> bytes:
    """Encode a comment block. Each line of `text` becomes its own comment line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return ("".join(f": {line}\n" if line else ":\n" for line in text.split("\n")) + "\n").encode(
        "utf-8"
    )


class SSEDecoder:
    """Incremental WHATWG EventSource parser.

    Feed it bytes exactly as they come off the socket, split anywhere; it returns the
    events and comments completed by that read. A trailing event with no blank line is
    never dispatched, as the WHATWG rules require.
    """

    def __init__(self) -> None:
        self._buffer = ""
        self._pending_cr = False
        # UTF-8 split across reads is held back until its last byte arrives; "-sig" drops
        # the one byte order mark a stream may start with.
        self._text = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        self._data: list[str] = []
        self._event_type: str | None = None
        self._event_id: str | None = None
        self._retry: int | None = None
        self._has_fields = False
        #: The last event ID buffer: persists across events, as EventSource keeps it.
        self.last_event_id = ""
        #: The reconnection time the stream asked for, if any.
        self.retry: int | None = None

    def feed(self, chunk: bytes) -> list[Event | Comment]:
        text = self._text.decode(chunk)
        if self._pending_cr:
            # A CR ended the previous read: an LF starting this one belongs to it.
            self._pending_cr = False
            if text.startswith("\n"):
                text = text[1:]
        out: list[Event | Comment] = []
        buffer = self._buffer + text
        start = 0
        length = len(buffer)
        while True:
            cr = buffer.find("\r", start)
            lf = buffer.find("\n", start)
            if cr == -1 and lf == -1:
                break
            if cr == -1 or (lf != -1 and lf < cr):
                end, next_start = lf, lf + 1
            else:
                end = cr
                if cr + 1 < length:
                    next_start = cr + 2 if buffer[cr + 1] == "\n" else cr + 1
                else:
                    next_start = cr + 1
                    self._pending_cr = True
            self._line(buffer[start:end], out)
            start = next_start
        self._buffer = buffer[start:]
        return out

    def _line(self, line: str, out: list[Event | Comment]) -> None:
        if not line:
            self._dispatch(out)
            return
        if line[0] == ":":
            text = line[1:]
            out.append(Comment(text[1:] if text.startswith(" ") else text))
            return
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
            self._has_fields = True
        elif name == "event":
            self._event_type = value
        elif name == "id":
            if "\0" not in value:
                self._event_id = value
                self.last_event_id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self._retry = int(value)
                self.retry = self._retry
        # Any other field name is ignored, as EventSource does.

    def _dispatch(self, out: list[Event | Comment]) -> None:
        if self._has_fields:
            out.append(Event("\n".join(self._data), self._event_type, self._event_id, self._retry))
        self._data = []
        self._event_type = None
        self._event_id = None
        self._retry = None
        self._has_fields = False
