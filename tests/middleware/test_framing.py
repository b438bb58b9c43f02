"""The middleware's framing tracker against the shared SSE decoder, on random streams."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from streamwarden.middleware import SSEFraming, whole_events
from streamwarden.sse import SSEDecoder

HEARTBEAT = b": keepalive\n\n"

_ends = st.sampled_from([b"\n", b"\r\n", b"\r"])
_lines = st.one_of(
    st.builds(lambda v: b"data: " + v, st.sampled_from([b"", b"x", b"two words", b"\xc3\xa9"])),
    st.builds(lambda v: b"event: " + v, st.sampled_from([b"delta", b"error"])),
    st.builds(lambda v: b"id: " + v, st.sampled_from([b"1", b"7"])),
    st.just(b"retry: 100"),
    st.just(b": a comment"),
    st.just(b":"),
    st.just(b"data"),
    st.just(b""),  # a blank line: dispatch
)
_streams = st.lists(st.tuples(_lines, _ends), max_size=30).map(
    lambda pairs: b"".join(line + end for line, end in pairs)
)


def _decode(data: bytes) -> list[object]:
    return [item for item in SSEDecoder().feed(data) if not hasattr(item, "text")]


@settings(max_examples=200, deadline=None)
@given(stream=_streams, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_heartbeats_at_reported_boundaries_never_change_the_events(
    stream: bytes, cuts: list[int]
) -> None:
    """Split the app's bytes into writes anywhere; wherever the tracker reports a boundary,
    a heartbeat goes in. The client must decode exactly the events of the bare stream."""
    points = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    framing = SSEFraming()
    out = bytearray()
    for start, end in itertools.pairwise(points):
        if framing.at_boundary:
            out += HEARTBEAT
        framing.feed(stream[start:end])
        out += stream[start:end]
    if framing.at_boundary:
        out += HEARTBEAT
    assert _decode(bytes(out)) == _decode(stream)


@settings(max_examples=200, deadline=None)
@given(stream=_streams)
def test_a_blank_line_after_whole_events_is_always_a_boundary(stream: bytes) -> None:
    """Completeness: after whole events, written in any pieces, heartbeats are possible."""
    framing = SSEFraming()
    for index in range(len(stream)):
        framing.feed(stream[index : index + 1])
    framing.feed(b"\n\n")
    assert framing.at_boundary


def test_counts_events_and_content() -> None:
    framing = SSEFraming()
    assert framing.feed(b"data: a\n\ndata: b\n\n") is True
    assert framing.feed(b": ping\r\n\r\n") is False
    assert framing.comments
    assert framing.feed(b"data: par") is True
    assert not framing.at_boundary
    assert framing.feed(b"t\r") is True
    assert framing.feed(b"\n") is False  # the LF of a split CRLF: no new line
    assert not framing.at_boundary
    assert framing.feed(b"\r\n") is False
    assert framing.at_boundary
    assert framing.events == 2  # a write of whole events counts once


@settings(max_examples=300, deadline=None)
@given(stream=_streams, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_the_whole_events_shortcut_agrees_with_the_line_scan(
    stream: bytes, cuts: list[int]
) -> None:
    """The check `send` and `feed` take without a scan: wherever it accepts a write, the full
    line scan agrees that the write carries content and leaves a clean boundary, and a
    heartbeat after it leaves the decoded events unchanged."""
    points = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
    framing = SSEFraming()
    out = bytearray()
    for start, end in itertools.pairwise(points):
        write = stream[start:end]
        if framing.clean and whole_events(write):
            scanned = SSEFraming()
            assert scanned._feed_lines(write) is True
            assert scanned.at_boundary and not scanned._pending_cr
            out += write + HEARTBEAT
        else:
            out += write
        framing.feed(write)
    assert _decode(bytes(out)) == _decode(stream)
