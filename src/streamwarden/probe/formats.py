"""Content events and terminators of each stream format, on top of `SSEDecoder`.

A `StreamReader` is fed the body bytes of one response, read by read, and counts what
each read carried: events, heartbeat comments, content events (the ones that carry tokens,
for TTFT), error events, and whether the protocol's terminator arrived.

Formats: `openai` (`data: {"choices":[{"delta":{"content":...}}]}` ... `data: [DONE]`),
`anthropic` (`event: content_block_delta` ... `event: message_stop`), `sse` (any event
is content; the stream is complete when the body ends cleanly), `raw` (chunked or plain
text: each non-empty body piece is content). `auto` decides from the Content-Type first
(anything but `text/event-stream` is `raw`: a non-streaming JSON answer is complete when its
body is), then from the URL path (`/chat/completions` is openai, `/messages` anthropic), then
from the first events.
"""

from __future__ import annotations

import json
from typing import Any

from streamwarden.sse import _BOM as _BOM_TEXT
from streamwarden.sse import Comment, Event, SSEDecoder

__all__ = ["FORMATS", "StreamReader", "detect_from_url"]

FORMATS = ("auto", "openai", "anthropic", "sse", "raw")

_ONE_EVENT = (1, 0)

# The decoder's byte-order mark (a private name of the sibling module, on purpose: one
# definition), as the bytes the fast path compares against.
_BOM = _BOM_TEXT.encode()

_ANTHROPIC_TYPES = frozenset(
    {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
        "ping",
        "error",
    }
)


def detect_from_url(path: str) -> str:
    """A guess from the endpoint's path, used when the body does not settle it."""
    if path.rstrip("/").endswith(("/chat/completions", "/completions")):
        return "openai"
    if path.rstrip("/").endswith("/messages"):
        return "anthropic"
    return "auto"


class StreamReader:
    """Per-response state. `feed` returns `(events, heartbeats)` for one read."""

    __slots__ = (
        "_counting",
        "_decoder",
        "_fast",
        "_pending",
        "_url_hint",
        "body_complete_terminates",
        "content_events",
        "error_events",
        "events",
        "format",
        "heartbeats",
        "output_tokens",
        "terminated",
    )

    def __init__(self, fmt: str = "auto", url_hint: str = "auto") -> None:
        """`url_hint` (from `detect_from_url`) is used by `auto` once the response is SSE."""
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
        self.format = fmt
        self._url_hint = url_hint
        self._decoder: SSEDecoder | None = None
        # LF-only streams (nearly all) take a bytes-level path; a CR or a BOM hands the
        # rest of the stream to the full WHATWG decoder, at an event boundary.
        self._fast = True
        #: Set while every plain `data:` event is a content event: `sse`, or `openai` once
        #: its first token is in. `feed`'s shortest path is for these only.
        self._counting = fmt == "sse"
        self._pending = b""
        self.events = 0
        self.content_events = 0
        self.error_events = 0
        self.heartbeats = 0
        self.terminated = False
        #: The server's own count of output tokens (`usage`), when the stream carried one.
        self.output_tokens: int | None = None
        #: For formats without a terminator, a cleanly ended body is the end of the stream.
        self.body_complete_terminates = fmt in ("sse", "raw")

    def start(self, content_type: str) -> None:
        """Called once the response headers are in."""
        is_sse = content_type.split(";")[0].strip().lower() == "text/event-stream"
        if self.format == "auto":
            # The Content-Type first: a JSON (non-streaming) answer on /chat/completions is
            # complete when its body is, not an openai stream missing its `[DONE]`.
            if not is_sse:
                self.format = "raw"
                self.body_complete_terminates = True
            elif self._url_hint in ("openai", "anthropic"):
                self.format = self._url_hint
            # Otherwise decided for good once the first event shows which protocol this is.

    def feed(self, data: bytes, pieces: int = 1) -> tuple[int, int]:
        """Count one read's body bytes; `pieces` is how many body chunks `data` joins
        (`raw` counts each non-empty one as an event)."""
        if self.format == "raw":
            n = pieces if data else 0
            self.events += n
            self.content_events += n
            return n, 0
        if (
            self._counting
            and data[-2:] == b"\n\n"
            and data.count(10) == 2
            and data[:7] == b"data: {"
            and data[7:14] != b'"error"'
            and 13 not in data
            and not _has_usage(data)
            and not self._pending
        ):
            # The commonest read of a paced stream: one whole one-line `data: {...}` event,
            # neither `[DONE]` nor an error. Slices and single-byte scans, as the general
            # path below cost a third of the probe's own CPU per read.
            self.events += 1
            self.content_events += 1
            return _ONE_EVENT
        if not self._fast or b"\r" in data or (not self.events and data.startswith(_BOM)):
            return self._slow(data)
        if self._pending:
            data = self._pending + data
        end = data.rfind(b"\n\n")
        if end == -1:
            self._pending = data
            return 0, 0
        self._pending = data[end + 2 :]
        counted = self._count(data, end)
        if counted is None:
            counted = self._blocks(data[:end].split(b"\n\n"))
        events, heartbeats = counted
        self.events += events
        self.heartbeats += heartbeats
        return events, heartbeats

    def _count(self, data: bytes, end: int) -> tuple[int, int] | None:
        """Count `data[:end]` with C-level scans when every block is one line, `data:` or
        a comment, and nothing in it changes state but counts; None: look at each block.

        Why: a fast stream packs dozens of events into one read, and a Python loop over
        them was most of the probe's CPU (bench/probe_bench.py throughput, 4,000-event
        streams). Separators and block starts are found with `bytes.count`, which matches
        left to right without overlap exactly as `split` does, so the counts are the
        blocks' own: no newline outside a separator means one-line blocks, and block
        starts that are all `data:` or `:` leave no empty or unknown block.
        """
        if not self._counting:
            return None  # anthropic, auto, or openai before its first token (needs JSON)
        if self.format == "openai" and (
            data.find(b"[DONE]", 0, end) != -1
            or data.find(b'{"error"', 0, end) != -1
            or _has_usage(data[:end])
        ):
            return None
        separators = data.count(b"\n\n", 0, end)
        if data.count(b"\n", 0, end) != 2 * separators:
            return None
        events = data.count(b"\n\ndata:", 0, end) + data.startswith(b"data:")
        heartbeats = data.count(b"\n\n:", 0, end) + data.startswith(b":")
        if events + heartbeats != separators + 1:
            return None
        # Every event is a content event here: `[DONE]` and errors took the other path.
        self.content_events += events
        return events, heartbeats

    def _blocks(self, blocks: list[bytes]) -> tuple[int, int]:
        events = 0
        heartbeats = 0
        for block in blocks:
            if block[:6] == b"data: " and b"\n" not in block:
                events += 1
                self._event(block[6:], None)
                continue
            if block[:1] == b":" and b"\n" not in block:
                heartbeats += 1
                continue
            lines: list[bytes] = []
            kind: bytes | None = None
            for line in block.split(b"\n"):
                if not line:
                    continue  # a blank line before this block: nothing to dispatch
                if line[:1] == b":":
                    heartbeats += 1
                    continue
                name, sep, value = line.partition(b":")
                if sep and value[:1] == b" ":
                    value = value[1:]
                if name == b"data":
                    lines.append(value)
                elif name == b"event":
                    kind = value
            if lines:
                events += 1
                self._event(b"\n".join(lines), kind)
        return events, heartbeats

    def _slow(self, data: bytes) -> tuple[int, int]:
        if self._decoder is None:  # the first read off the fast path: switch for good
            self._fast = False
            self._counting = False
            self._decoder = SSEDecoder()
            data, self._pending = self._pending + data, b""
        events = 0
        heartbeats = 0
        for item in self._decoder.feed(data):
            if isinstance(item, Comment):
                heartbeats += 1
            else:
                events += 1
                kind = None if item.event is None else item.event.encode()
                self._event(item.data.encode(), kind)
        self.events += events
        self.heartbeats += heartbeats
        return events, heartbeats

    def _event(self, data: bytes, kind: bytes | None) -> None:
        fmt = self.format
        if fmt == "auto":
            fmt = self._detect(Event(data.decode("utf-8", "replace"), _str(kind)))
        if fmt == "openai":
            if data == b"[DONE]":
                self.terminated = True
            elif data.startswith(b'{"error"') or kind == b"error":
                self.error_events += 1
            elif _has_usage(data) and not self._openai_usage(data):
                pass  # a usage-only chunk (`stream_options.include_usage`) carries no token
            elif self.content_events:
                # TTFT is known: counting is all that is left, and JSON parsing is costly.
                self.content_events += 1
            elif _openai_has_content(data):
                self.content_events += 1
                self._counting = self._fast
        elif fmt == "anthropic":
            if kind == b"content_block_delta":
                self.content_events += 1
            elif kind == b"message_stop":
                self.terminated = True
            elif kind == b"message_delta" and b'"usage"' in data:
                usage = _json_object(data).get("usage")
                if isinstance(usage, dict) and _is_count(usage.get("output_tokens")):
                    self.output_tokens = usage["output_tokens"]
            elif kind == b"error":
                self.error_events += 1
        elif kind == b"error":
            self.error_events += 1
        else:
            self.content_events += 1

    def _openai_usage(self, data: bytes) -> bool:
        """Keep a chunk's `usage.completion_tokens`; True when the chunk also has content."""
        obj = _json_object(data)
        usage = obj.get("usage")
        if isinstance(usage, dict) and _is_count(usage.get("completion_tokens")):
            self.output_tokens = usage["completion_tokens"]
        return bool(obj.get("choices")) and _openai_has_content(data)

    def _detect(self, event: Event) -> str:
        if event.event in _ANTHROPIC_TYPES and event.event != "error":
            self.format = "anthropic"
        elif event.data == "[DONE]" or event.data.startswith('{"id"'):
            self.format = "openai"
        else:
            try:
                obj = json.loads(event.data)
            except ValueError:
                obj = None
            if isinstance(obj, dict) and ("choices" in obj or "object" in obj):
                self.format = "openai"
            elif isinstance(obj, dict) and obj.get("type") in _ANTHROPIC_TYPES:
                self.format = "anthropic"
            else:
                self.format = "sse"
                self._counting = self._fast
                self.body_complete_terminates = True
        return self.format


def _str(value: bytes | None) -> str | None:
    return None if value is None else value.decode("utf-8", "replace")


def _has_usage(data: bytes) -> bool:
    """A usage object in the event: OpenAI sends `"usage": null` on every chunk when usage
    is asked for, and those need no parsing; only the object carries the count."""
    return b'"usage":{' in data or b'"usage": {' in data


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except ValueError:
        return {}
    return obj if isinstance(obj, dict) else {}


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _openai_has_content(data: bytes) -> bool:
    try:
        obj: Any = json.loads(data)
    except ValueError:
        return False
    if not isinstance(obj, dict):
        return False
    for choice in obj.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta") or {}
        if isinstance(delta, dict) and (
            delta.get("content") or delta.get("tool_calls") or delta.get("reasoning_content")
        ):
            return True
        if choice.get("text"):
            return True
    return False
