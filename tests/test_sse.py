"""The SSE encoder and the incremental WHATWG decoder."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamwarden.sse import Comment, Event, SSEDecoder, encode, encode_comment


def feed_all(chunks: list[bytes]) -> list[Event | Comment]:
    decoder = SSEDecoder()
    out: list[Event | Comment] = []
    for chunk in chunks:
        out.extend(decoder.feed(chunk))
    return out


def test_multiline_data_becomes_several_data_lines() -> None:
    assert encode("a\nb") == b"data: a\ndata: b\n\n"
    assert encode(Event("x", event="delta", id="1", retry=10)) == (
        b"event: delta\nid: 1\nretry: 10\ndata: x\n\n"
    )


@pytest.mark.parametrize("field", ["event", "id"])
def test_line_breaks_in_single_line_fields_are_rejected(field: str) -> None:
    def event_with(value: str) -> Event:
        return Event("x", event=value) if field == "event" else Event("x", id=value)

    with pytest.raises(ValueError, match=field):
        encode(event_with("a\ndata: injected"))
    with pytest.raises(ValueError):
        encode(event_with("a\rb"))


def test_comment_encoding() -> None:
    assert encode_comment("keepalive") == b": keepalive\n\n"
    assert feed_all([encode_comment("keepalive")]) == [Comment("keepalive")]


@pytest.mark.parametrize("eol", ["\n", "\r", "\r\n"])
def test_all_line_ends(eol: str) -> None:
    text = f"event: e{eol}data: a{eol}data: b{eol}{eol}"
    assert feed_all([text.encode()]) == [Event("a\nb", event="e")]


def test_cr_at_end_of_one_read_and_lf_at_start_of_next() -> None:
    events = feed_all([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"])
    assert events == [Event("a\nb")]


def test_cr_then_cr_is_two_line_ends() -> None:
    assert feed_all([b"data: a\r", b"\r"]) == [Event("a")]


def test_leading_bom_is_skipped_only_at_the_start() -> None:
    assert feed_all([b"\xef\xbb\xbfdata: x\n\n"]) == [Event("x")]
    assert feed_all([b"\xef\xbb", b"\xbfdata: x\n\n"]) == [Event("x")]


def test_comments_fields_without_colon_and_unknown_fields() -> None:
    items = feed_all([b": hi\nfoo: bar\ndata\n\n"])
    assert items == [Comment("hi"), Event("")]


def test_id_with_nul_is_ignored_and_retry_needs_digits() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 1\ndata: a\n\n") == [Event("a", id="1")]
    assert decoder.feed(b"id: x\x00y\nretry: 12a\ndata: b\n\n") == [Event("b")]
    assert decoder.last_event_id == "1"
    assert decoder.retry is None
    assert decoder.feed(b"retry: 3000\ndata: c\n\n") == [Event("c", retry=3000)]
    assert decoder.retry == 3000


def test_last_event_without_blank_line_is_dropped() -> None:
    assert feed_all([b"data: a\n\ndata: b\n"]) == [Event("a")]


def test_event_without_data_is_not_dispatched() -> None:
    assert feed_all([b"event: ping\n\n"]) == []


def test_space_after_colon_is_removed_once() -> None:
    assert feed_all([b"data:  two\n\n"]) == [Event(" two")]
    assert feed_all([b"data:none\n\n"]) == [Event("none")]


def test_utf8_split_across_reads() -> None:
    raw = encode("héllo ✓ 😀")
    assert feed_all([raw[i : i + 1] for i in range(len(raw))]) == [Event("héllo ✓ 😀")]


single_line = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n\x00"),
    max_size=20,
)
events = st.builds(
    Event,
    data=st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=60),
    event=st.none() | single_line.filter(lambda s: s != ""),
    id=st.none() | single_line,
    retry=st.none() | st.integers(min_value=0, max_value=10**9),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(events, max_size=8), st.lists(st.integers(min_value=1, max_value=30), max_size=40))
def test_round_trip_at_arbitrary_read_boundaries(evs: list[Event], cuts: list[int]) -> None:
    raw = b"".join(encode(e) for e in evs)
    chunks, pos = [], 0
    for size in cuts:
        chunks.append(raw[pos : pos + size])
        pos += size
    chunks.append(raw[pos:])
    decoded = feed_all(chunks)
    expected = [
        Event(e.data.replace("\r\n", "\n").replace("\r", "\n"), e.event, e.id, e.retry) for e in evs
    ]
    assert decoded == expected
