"""The stream reader's one fast path counts exactly what the WHATWG decoder path counts.

Fed byte by byte, a reader never takes the fast path (no one-byte read ends on a blank
line), so that is the slow reference; fed the same body split anywhere, and split at block
ends where the fast path is taken, every count must agree.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from streamwarden.probe.formats import StreamReader

FORMATS = ("openai", "anthropic", "sse", "auto")

TOKEN = b'data: {"choices":[{"delta":{"content":"t"}}]}\n\n'
DELTA = b'event: content_block_delta\ndata: {"delta":{"text":"hi"}}\n\n'

# Blocks a real stream sends, and every shape that must leave the fast path; the plain
# content blocks several times over, so that long fast-path runs are common.
BLOCKS = st.sampled_from(
    [
        *[TOKEN, DELTA, b"data: plain text\n\n"] * 4,
        b'data: {"choices":[{"delta":{"content":"t"}}]}\n\n',
        b'data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n',
        b'data: {"choices":[{"delta":{"content":"\xc3\xa9 \xe2\x9c\x93"}}]}\n\n',
        b"data: plain text\n\n",
        b"data:tight\n\n",
        b": keepalive\n\n",
        b":\n\n",
        b'data: {"error": {"message": "x"}}\n\n',
        b"event: error\ndata: {}\n\n",
        b"data: [DONE]\n\n",
        b'event: content_block_delta\ndata: {"delta":{"text":"hi"}}\n\n',
        b"event: message_start\ndata: {}\n\n",
        b"event: ping\ndata: {}\n\n",
        b"event: message_stop\ndata: {}\n\n",
        b"id: 7\n\n",
        b"\n\n",
        b"data: a\ndata: b\n\n",
        b"data: {}\nevent: error\n\n",
        b": note\ndata: {}\n\n",
        b"data: {}\r\n\r\n",
        b"data: x\r\rdata: y\n\n",
        b"\xef\xbb\xbfdata: bom\n\n",
        b"data",
        b"data: no end",
    ]
)


def counts(fmt: str, reads: list[bytes]) -> tuple[object, ...]:
    reader = StreamReader(fmt)
    reader.start("text/event-stream")
    returned = [0, 0]
    for data in reads:
        events, heartbeats = reader.feed(data)
        returned[0] += events
        returned[1] += heartbeats
    return (
        tuple(returned),
        reader.events,
        reader.heartbeats,
        reader.content_events,
        reader.error_events,
        reader.terminated,
        reader.format,
    )


def byte_by_byte(body: bytes) -> list[bytes]:
    return [body[i : i + 1] for i in range(len(body))]


@settings(max_examples=400, deadline=None)
@given(
    fmt=st.sampled_from(FORMATS),
    blocks=st.lists(BLOCKS, min_size=1, max_size=40),
    cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12),
    group=st.integers(min_value=1, max_value=8),
)
# Each shape the fast path must hand to the decoder, right after a run of plain tokens.
@example("openai", [TOKEN, b'data: {"error": {"message": "x"}}\n\n'], [], 1)
@example("openai", [TOKEN, b"data: [DONE]\n\n"], [], 2)
@example("openai", [TOKEN, b"data: x\r\rdata: y\n\n"], [], 1)
@example("sse", [b"data: a\n\n", b"\n\n", b"data: b\n\n"], [], 3)
@example("anthropic", [DELTA, b": keepalive\n\n", DELTA], [], 3)
@example("anthropic", [DELTA, b"event: message_stop\ndata: {}\n\n"], [], 2)
def test_fast_and_slow_agree_on_any_split(
    fmt: str, blocks: list[bytes], cuts: list[int], group: int
) -> None:
    body = b"".join(blocks)
    slow = counts(fmt, byte_by_byte(body))
    points = sorted({c % len(body) for c in cuts} - {0})
    anywhere = [body[a:b] for a, b in zip([0, *points], [*points, len(body)], strict=True)]
    assert counts(fmt, anywhere) == slow
    # A read per `group` blocks: reads end on blank lines, where the fast path is taken.
    aligned = [b"".join(blocks[i : i + group]) for i in range(0, len(blocks), group)]
    assert counts(fmt, aligned) == slow


def test_the_fast_path_is_taken_for_plain_reads() -> None:
    """Without this, the agreement above could hold with the fast path never taken."""
    taken: list[bytes] = []

    class Watched(StreamReader):
        def _decode(self, data: bytes) -> tuple[int, int]:
            taken.append(data)
            return super()._decode(data)

    reader = Watched("openai")
    reader.start("text/event-stream")
    reader.feed(b'data: {"choices":[{"delta":{"content":"first"}}]}\n\n')
    taken.clear()
    token = b'data: {"choices":[{"delta":{"content":"t"}}]}\n\n'
    assert reader.feed(token) == (1, 0)
    assert reader.feed(token * 5 + b": ping\n\n" + token) == (6, 1)
    assert taken == []
    anthropic = Watched("anthropic")
    anthropic.start("text/event-stream")
    anthropic.feed(b"event: message_start\ndata: {}\n\n")
    delta = b'event: content_block_delta\ndata: {"delta":{"text":"hi"}}\n\n'
    assert anthropic.feed(delta * 3) == (3, 0) and anthropic.content_events == 3
    assert len(taken) == 1
    taken.clear()
    assert reader.feed(b"data: [DONE]\n\n") == (1, 0) and reader.terminated
    assert taken == [b"data: [DONE]\n\n"]
