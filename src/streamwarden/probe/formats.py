"""Content events and terminators of each stream format, on top of `SSEDecoder`.

A `StreamReader` is fed the body bytes of one response, read by read, and counts what
each read carried: events, heartbeat comments, content events (the ones that carry tokens,
for TTFT), error events, and whether the protocol's terminator arrived.

Formats: `openai` (`data: {"choices":[{"delta":{"content":...}}]}` ... `data: [DONE]`),
`anthropic` (`event: content_block_delta` ... `event: message_stop`), `sse` (any event
is content; the stream is complete when the body ends cleanly), `raw` (chunked or plain
text: each non-empty body piece is content). `auto` picks from the Content-Type, then
from the first events.
"""

from __future__ import annotations

import json
from typing import Any

from streamwarden.sse import Comment, Event, SSEDecoder

__all__ = ["FORMATS", "StreamReader", "detect_from_url"]

FORMATS = ("auto", "openai", "anthropic", "sse", "raw")

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
        "_decoder",
        "body_complete_terminates",
        "content_events",
        "error_events",
        "events",
        "format",
        "heartbeats",
        "terminated",
    )

    def __init__(self, fmt: str = "auto") -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
        self.format = fmt
        self._decoder: SSEDecoder | None = None
        self.events = 0
        self.content_events = 0
        self.error_events = 0
        self.heartbeats = 0
        self.terminated = False
        #: For formats without a terminator, a cleanly ended body is the end of the stream.
        self.body_complete_terminates = fmt in ("sse", "raw")

    def start(self, content_type: str) -> None:
        """Called once the response headers are in."""
        is_sse = content_type.split(";")[0].strip().lower() == "text/event-stream"
        if self.format == "auto":
            # Decided for good once the first event shows which protocol this is.
            if not is_sse:
                self.format = "raw"
                self.body_complete_terminates = True
        if self.format != "raw":
            self._decoder = SSEDecoder()

    def feed(self, pieces: list[bytes]) -> tuple[int, int]:
        if self._decoder is None:
            n = sum(1 for p in pieces if p)
            self.events += n
            self.content_events += n
            return n, 0
        events = 0
        heartbeats = 0
        for piece in pieces:
            for item in self._decoder.feed(piece):
                if isinstance(item, Comment):
                    heartbeats += 1
                else:
                    events += 1
                    self._event(item)
        self.events += events
        self.heartbeats += heartbeats
        return events, heartbeats

    def _event(self, event: Event) -> None:
        fmt = self.format
        if fmt == "auto":
            fmt = self._detect(event)
        if fmt == "openai":
            data = event.data
            if data == "[DONE]":
                self.terminated = True
            elif data.startswith('{"error"') or event.event == "error":
                self.error_events += 1
            elif self.content_events:
                # TTFT is known: counting is all that is left, and JSON parsing is costly.
                self.content_events += 1
            elif _openai_has_content(data):
                self.content_events += 1
        elif fmt == "anthropic":
            kind = event.event
            if kind == "content_block_delta":
                self.content_events += 1
            elif kind == "message_stop":
                self.terminated = True
            elif kind == "error":
                self.error_events += 1
        else:
            if event.event == "error":
                self.error_events += 1
            else:
                self.content_events += 1

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
                self.body_complete_terminates = True
        return self.format


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
