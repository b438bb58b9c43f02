"""The stream reader counts exactly what the WHATWG decoder sees, however reads split it."""

from __future__ import annotations

import json
import random
import re

import pytest

from streamwarden.probe.formats import StreamReader
from streamwarden.sse import Comment, Event, SSEDecoder


def reference(body: bytes) -> tuple[int, int]:
    items = SSEDecoder().feed(body)
    return sum(isinstance(i, Event) for i in items), sum(isinstance(i, Comment) for i in items)


def openai_body(rng: random.Random, crlf: bool) -> bytes:
    parts = [b": keepalive\n\n", b"\n"]
    for i in range(rng.randint(1, 30)):
        delta = {"content": f"tok{i} é ✓"} if rng.random() < 0.9 else {"role": "assistant"}
        parts.append(b"data: " + json.dumps({"choices": [{"delta": delta}]}).encode() + b"\n\n")
        if rng.random() < 0.2:
            parts.append(b":\n\n")
        if rng.random() < 0.1:
            parts.append(b"event: note\ndata: a\ndata:b\nid: 3\n\n")
        if rng.random() < 0.1:
            parts.append(b"data\n\n\n\n")
    parts.append(b"data: [DONE]\n\n")
    body = b"".join(parts)
    return body.replace(b"\n", b"\r\n") if crlf else body


def split(body: bytes, rng: random.Random) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(body)), min(len(body) - 1, rng.randint(0, 12))))
    return [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]


@pytest.mark.parametrize("seed", range(60))
def test_counts_match_the_whatwg_decoder(seed: int) -> None:
    rng = random.Random(seed)
    body = openai_body(rng, crlf=seed % 5 == 0)
    reader = StreamReader("openai")
    reader.start("text/event-stream")
    events = heartbeats = 0
    for piece in split(body, rng):
        e, h = reader.feed(piece)
        events += e
        heartbeats += h
    assert (events, heartbeats) == reference(body)
    assert reader.terminated
    # After the first token, every non-terminator event counts as content (no JSON parsing).
    assert body.count(b'"content"') <= reader.content_events <= events - 1


def test_anthropic_and_detection() -> None:
    body = (
        b"event: message_start\ndata: {}\n\n"
        b'event: content_block_delta\ndata: {"delta":{"text":"hi"}}\n\n'
        b"event: ping\ndata: {}\n\n"
        b"event: message_stop\ndata: {}\n\n"
    )
    reader = StreamReader("auto")
    reader.start("text/event-stream; charset=utf-8")
    assert reader.feed(body) == (4, 0)
    assert reader.format == "anthropic" and reader.terminated and reader.content_events == 1


def test_error_events_are_counted() -> None:
    reader = StreamReader("openai")
    reader.start("text/event-stream")
    reader.feed(b'data: {"error": {"message": "upstream"}}\n\ndata: [DONE]\n\n')
    assert reader.error_events == 1 and reader.content_events == 0


def test_bom_is_the_decoders_own() -> None:
    from streamwarden import sse

    reader = StreamReader("sse")
    reader.start("text/event-stream")
    assert reader.feed(sse._BOM.encode() + b"data: a\n\n") == (1, 0)


def reference_openai(body: bytes) -> tuple[int, int, int, int, bool]:
    """(events, heartbeats, content, errors, terminated) by the documented rules, from the
    WHATWG decoder: after the first content event, every event but `[DONE]` and errors is
    content."""
    events = heartbeats = content = errors = 0
    terminated = False
    for item in SSEDecoder().feed(body):
        if isinstance(item, Comment):
            heartbeats += 1
            continue
        events += 1
        if item.data == "[DONE]":
            terminated = True
        elif item.data.startswith('{"error"') or item.event == "error":
            errors += 1
        elif content or '"content"' in item.data:
            content += 1
    return events, heartbeats, content, errors, terminated


def many_events_body(rng: random.Random) -> bytes:
    """Long runs of one-line events (the counting fast path) broken by everything that
    must leave it: comments, multi-line and named events, errors, `[DONE]`, blank runs."""
    parts = [b'data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n']
    for i in range(rng.randint(20, 200)):
        roll = rng.random()
        if roll < 0.75:
            parts.append(b'data: {"choices":[{"delta":{"content":"t%d"}}]}\n\n' % i)
        elif roll < 0.82:
            parts.append(b": keepalive\n\n")
        elif roll < 0.86:
            parts.append(b'data: {"error": {"message": "x"}}\n\n')
        elif roll < 0.89:
            parts.append(b"event: error\ndata: {}\n\n")
        elif roll < 0.92:
            parts.append(b"data: [DONE]\n\n")
        elif roll < 0.95:
            parts.append(b"id: 7\n\n")  # a block that dispatches nothing
        elif roll < 0.96:
            parts.append(b"\n\n")
        elif roll < 0.97:
            parts.append(b": note\ndata: {}\n\n")  # a comment line, then an event
        elif roll < 0.98:
            parts.append(b"data: {}\nevent: error\n\n")  # named after its data line
        else:
            parts.append(b"data:a\ndata:b\n\n")
    return b"".join(parts)


def by_block(body: bytes) -> list[bytes]:
    """One read per blank-line-terminated block."""
    return [piece for piece in re.split(rb"(?<=\n\n)", body) if piece]


def feed_random_body(fmt: str, seed: int) -> tuple[StreamReader, bytes, tuple[int, int]]:
    """A fresh reader fed a random many-event body: odd seeds a read per block, as from a
    paced server; even seeds a few cuts, reads of dozens of events each, as from a fast
    one. Returns the reader, the body, and the sums of what `feed` returned."""
    rng = random.Random(seed)
    body = many_events_body(rng)
    reader = StreamReader(fmt)
    reader.start("text/event-stream")
    events = heartbeats = 0
    for piece in by_block(body) if seed % 2 else split(body, rng):
        e, h = reader.feed(piece)
        events += e
        heartbeats += h
    return reader, body, (events, heartbeats)


@pytest.mark.parametrize("seed", range(80))
def test_fast_counting_matches_the_rules(seed: int) -> None:
    reader, body, returned = feed_random_body("openai", seed)
    got = (*returned, reader.content_events, reader.error_events, reader.terminated)
    assert got == reference_openai(body)
    assert (reader.events, reader.heartbeats) == returned


@pytest.mark.parametrize("seed", range(20))
def test_generic_sse_counts_every_event_as_content(seed: int) -> None:
    reader, body, returned = feed_random_body("sse", seed)
    named_errors = body.count(b"event: error\n")
    assert returned == (reader.events, reader.heartbeats) == reference(body)
    assert reader.content_events == reader.events - named_errors
    assert reader.error_events == named_errors


def test_raw_counts_body_pieces() -> None:
    reader = StreamReader("raw")
    reader.start("text/plain")
    assert reader.feed(b"abc", pieces=3) == (3, 0)
    assert reader.feed(b"", pieces=0) == (0, 0)
    assert reader.events == reader.content_events == 3
