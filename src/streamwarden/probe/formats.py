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
import re
from typing import Any

from streamwarden.sse import Comment, Event, SSEDecoder

__all__ = ["FORMATS", "StreamReader", "detect_from_url"]

FORMATS = ("auto", "openai", "anthropic", "sse", "raw")

# The fast path's shape of a content event per format: how its block starts, and how many
# newlines the block holds with its blank-line separator. An openai stream's shape is
# learnt from its first token (`_token_start`).
_FAST_SHAPES = {
    "sse": (b"data:", 2),
    "anthropic": (b"event: content_block_delta\ndata:", 3),
}

# The start of a JSON object up to its first key, e.g. `{"id"` or `{ "choices"`.
_FIRST_KEY = re.compile(r'\{\s*"[a-z_]+"')

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
    """Per-response state. `feed` returns `(events, heartbeats)` for one read.

    Every read goes to the WHATWG decoder (`SSEDecoder`) but one kind, the fast path: a
    read of whole blocks that are each a content event in the format's plainest shape
    (`data: {...}` for openai once its first token is in, `data: ...` for sse, `event:
    content_block_delta` + `data: ...` for anthropic) or, for the one-line formats, a
    comment; taken only when the decoder holds nothing (its last read ended on a blank
    line). Those reads are counted with C-level `bytes` scans: the decoder would see exactly
    those events and comments, and its state stays as it was. A Python loop per event was
    most of the probe's CPU on fast streams.
    """

    __slots__ = (
        "_clean",
        "_counting",
        "_decoder",
        "_fast_read",
        "_lines",
        "_next",
        "_start",
        "_url_hint",
        "body_complete_terminates",
        "content_events",
        "error_events",
        "events",
        "format",
        "heartbeats",
        "lead_events",
        "output_tokens",
        "terminated",
    )

    def __init__(self, fmt: str = "auto", url_hint: str = "auto") -> None:
        """`url_hint` (from `detect_from_url`) is used by `auto` once the response is SSE."""
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
        self._url_hint = url_hint
        self._decoder = SSEDecoder()
        #: The decoder has seen a read and holds nothing: its last read ended on `\n\n`.
        self._clean = False
        #: The last read the fast path counted, until the decoder takes the next one.
        self._fast_read: bytes | None = None
        self.events = 0
        self.content_events = 0
        self.error_events = 0
        self.heartbeats = 0
        #: Events of the first token's read that came before it (an OpenAI role chunk,
        #: Anthropic's `message_start`…): not tokens, though they share the token's read.
        self.lead_events = 0
        self.terminated = False
        #: The server's own count of output tokens (`usage`), when the stream carried one.
        self.output_tokens: int | None = None
        self._set_format(fmt)

    def _set_format(self, fmt: str) -> None:
        self.format = fmt
        #: The fast path is open: `sse` and `anthropic` always, `openai` after a token.
        self._counting = fmt in _FAST_SHAPES
        #: How a fast-path content event starts, and how many newlines its block holds
        #: with its separator.
        self._start, self._lines = _FAST_SHAPES.get(fmt, (b"", 2))
        self._next = b"\n\n" + self._start
        #: For formats without a terminator, a cleanly ended body is the end of the stream.
        self.body_complete_terminates = fmt in ("sse", "raw")

    def start(self, content_type: str) -> None:
        """Called once the response headers are in."""
        is_sse = content_type.split(";")[0].strip().lower() == "text/event-stream"
        if self.format == "auto":
            # The Content-Type first: a JSON (non-streaming) answer on /chat/completions is
            # complete when its body is, not an openai stream missing its `[DONE]`.
            if not is_sse:
                self._set_format("raw")
            elif self._url_hint in ("openai", "anthropic"):
                self._set_format(self._url_hint)
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
            and self._clean
            and data[-2:] == b"\n\n"
            and 13 not in data
            # The decoder reads the server's token count. Only a usage object: OpenAI sends
            # `"usage": null` on every chunk when usage is asked for.
            and b'"usage":{' not in data
            and b'"usage": {' not in data
        ):
            # Every newline must belong to a block of the fast shape: a block start found
            # for each `lines` newlines leaves none over, as each start but the first
            # follows a blank line and the read ends on one. `bytes.count` matches left
            # to right without overlap, as the decoder splits lines. `[DONE]` and errors
            # never start as a token does: they are the decoder's to count.
            newlines = data.count(10)
            events = data.count(self._next) + data.startswith(self._start)
            heartbeats = 0
            if events * self._lines != newlines and self._lines == 2:
                heartbeats = data.count(b"\n\n:") + (data[:1] == b":")
            if (events + heartbeats) * self._lines == newlines:
                self.events += events
                self.content_events += events
                self.heartbeats += heartbeats
                if events:
                    # Its last block may be a closing chunk, seen once the stream goes on.
                    self._fast_read = data
                return events, heartbeats
        return self._decode(data)

    def _decode(self, data: bytes) -> tuple[int, int]:
        if self._fast_read is not None:
            self._uncount_closing_chunk(self._fast_read)
            self._fast_read = None
        events = 0
        heartbeats = 0
        for item in self._decoder.feed(data):
            if isinstance(item, Comment):
                heartbeats += 1
            else:
                events += 1
                before = self.content_events
                self._event(item)
                if not before and self.content_events:
                    self.lead_events = events - 1
        self._clean = data[-2:] == b"\n\n"
        self.events += events
        self.heartbeats += heartbeats
        return events, heartbeats

    def _event(self, event: Event) -> None:
        fmt = self.format
        if fmt == "auto":
            fmt = self._detect(event)
        data = event.data
        kind = event.event
        if fmt == "openai":
            if data == "[DONE]":
                self.terminated = True
            elif data.startswith('{"error"') or kind == "error":
                self.error_events += 1
            elif ('"usage":{' in data or '"usage": {' in data) and not self._openai_usage(data):
                pass  # a usage-only chunk (`stream_options.include_usage`) carries no token
            elif self.content_events:
                # TTFT is known: counting is all that is left, and JSON parsing is costly.
                # Only a closing chunk (a finish reason, its delta often empty) is parsed:
                # it carries a token only when its delta has content.
                if not _closing_chunk(data) or _openai_has_content(data):
                    self.content_events += 1
            elif _openai_has_content(data):
                self.content_events += 1
                self._open_token_path(data)
        elif fmt == "anthropic":
            if kind == "content_block_delta":
                self.content_events += 1
            elif kind == "message_stop":
                self.terminated = True
            elif kind == "message_delta" and '"usage"' in data:
                usage = _json_object(data).get("usage")
                if isinstance(usage, dict) and _is_count(usage.get("output_tokens")):
                    self.output_tokens = usage["output_tokens"]
            elif kind == "error":
                self.error_events += 1
        elif kind == "error":
            self.error_events += 1
        else:
            self.content_events += 1

    def _uncount_closing_chunk(self, data: bytes) -> None:
        """The fast path counted every block of `data` as a token. Its last block may be
        the closing chunk (a finish reason, its delta often empty), which only the chunks
        after it reveal by coming through the decoder: taken back when it has no content.
        Checked here, once per stream, instead of scanning every read for it."""
        if self.format != "openai":
            return
        block = data[data.rfind(self._start) :].partition(b"\n")[0]
        text = block.decode("utf-8", "replace").removeprefix("data:").strip()
        if _closing_chunk(text) and not _openai_has_content(text):
            self.content_events -= 1

    def _open_token_path(self, data: str) -> None:
        """Open the fast path for blocks that start as this first token does, up to its
        first key (`data: {"id"`): `[DONE]` and `{"error"` never match it."""
        key = _FIRST_KEY.match(data)
        if key is not None and key.group() != '{"error"':
            self._start = b"data: " + key.group().encode()
            self._next = b"\n\n" + self._start
            self._counting = True

    def _openai_usage(self, data: str) -> bool:
        """Keep a chunk's `usage.completion_tokens`; True when the chunk also has content."""
        obj = _json_object(data)
        usage = obj.get("usage")
        if isinstance(usage, dict) and _is_count(usage.get("completion_tokens")):
            self.output_tokens = usage["completion_tokens"]
        return bool(obj.get("choices")) and _openai_has_content(data)

    def _detect(self, event: Event) -> str:
        if event.event in _ANTHROPIC_TYPES and event.event != "error":
            self._set_format("anthropic")
        elif event.data == "[DONE]" or event.data.startswith('{"id"'):
            self._set_format("openai")
        else:
            try:
                obj = json.loads(event.data)
            except ValueError:
                obj = None
            if isinstance(obj, dict) and ("choices" in obj or "object" in obj):
                self._set_format("openai")
            elif isinstance(obj, dict) and obj.get("type") in _ANTHROPIC_TYPES:
                self._set_format("anthropic")
            else:
                self._set_format("sse")
        return self.format


def _json_object(data: str) -> dict[str, Any]:
    try:
        obj = json.loads(data)
    except ValueError:
        return {}
    return obj if isinstance(obj, dict) else {}


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _closing_chunk(data: str) -> bool:
    """An OpenAI chunk with a finish reason (`"finish_reason":"stop"`, not `null`)."""
    return '"finish_reason":"' in data or '"finish_reason": "' in data


def _openai_has_content(data: str) -> bool:
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
