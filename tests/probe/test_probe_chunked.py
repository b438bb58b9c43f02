"""The chunked body reader: exact bodies however reads split them, clear errors otherwise."""

from __future__ import annotations

import random

import pytest

from streamwarden.probe.load import _Chunked

BODY = (
    b"5\r\nhello\r\n"
    b"1;ext=1\r\n \r\n"  # a chunk extension
    b"B\r\nworld\r\n\r\n!!\r\n"  # CRLFs inside the data, an upper-case size
    b"0\r\nX-Trailer: 1\r\n\r\n"
)


def feed_all(reads: list[bytes]) -> tuple[bytes, int, bool]:
    reader = _Chunked()
    body = b""
    pieces = 0
    for data in reads:
        body += reader.feed(data)
        pieces += reader.pieces
    return body, pieces, reader.done


def test_whole_body_in_one_read() -> None:
    assert feed_all([BODY]) == (b"hello world\r\n\r\n!!", 3, True)


@pytest.mark.parametrize("seed", range(30))
def test_any_split_gives_the_same_body(seed: int) -> None:
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(BODY)), rng.randint(1, 20)))
    reads = [BODY[a:b] for a, b in zip([0, *cuts], [*cuts, len(BODY)], strict=True)]
    body, _, done = feed_all(reads)
    assert (body, done) == (b"hello world\r\n\r\n!!", True)


def test_byte_by_byte() -> None:
    body, _, done = feed_all([BODY[i : i + 1] for i in range(len(BODY))])
    assert (body, done) == (b"hello world\r\n\r\n!!", True)


def test_not_done_until_the_last_chunk() -> None:
    body, pieces, done = feed_all([b"5\r\nhello\r\n"])
    assert (body, pieces, done) == (b"hello", 1, False)


def test_bytes_after_the_last_chunk_are_ignored() -> None:
    reader = _Chunked()
    assert reader.feed(b"2\r\nok\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n") == b"ok"
    assert reader.done
    assert reader.feed(b"garbage") == b"" and reader.pieces == 0


@pytest.mark.parametrize(
    "bad", [b"zz\r\nhello\r\n", b"5\r\nhelloXX", b"ffffffffffffffffff\r\n", b"-1\r\n"]
)
def test_malformed_body_raises_value_error(bad: bytes) -> None:
    with pytest.raises(ValueError):
        _Chunked().feed(bad)
