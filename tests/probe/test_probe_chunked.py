"""The response parser: exact bodies however reads split them, clear errors otherwise.

The whole response, head and body, goes through llhttp; these feed an `Exchange` the bytes
a socket would deliver, split anywhere, and read back what it recorded.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from streamwarden.probe.client import Exchange
from streamwarden.probe.formats import StreamReader
from streamwarden.probe.timeline import RequestRecord

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
BODY = (
    b"5\r\nhello\r\n"
    b"1;ext=1\r\n \r\n"  # a chunk extension
    b"B\r\nworld\r\n\r\n!!\r\n"  # CRLFs inside the data, an upper-case size
    b"0\r\nX-Trailer: 1\r\n\r\n"
)
DECODED = b"hello world\r\n\r\n!!"


class Capture(StreamReader):
    """A raw reader that also keeps the body bytes it was fed."""

    def __init__(self) -> None:
        super().__init__("raw")
        self.body = b""

    def feed(self, data: bytes, pieces: int = 1) -> tuple[int, int]:
        self.body += data
        return super().feed(data, pieces)


class _Transport:
    def get_extra_info(self, name: str) -> None:
        return None

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


def exchange(reads: list[bytes], eof: bool = False) -> tuple[RequestRecord, Capture]:
    loop = asyncio.new_event_loop()
    try:
        record = RequestRecord(step=0, start_ms=0.0)
        reader = Capture()
        x = Exchange(b"", record, reader, 0.0, loop.create_future())
        x.connection_made(_Transport())  # type: ignore[arg-type]
        for data in reads:
            if x.finished:
                break
            x.data_received(data)
        if eof:
            x.connection_lost(None)
        return record, reader
    finally:
        loop.close()


def splits(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(data)), rng.randint(1, 20)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def test_whole_response_in_one_read() -> None:
    record, reader = exchange([HEAD + BODY])
    assert (record.outcome, record.status, reader.body, record.events) == ("ok", 200, DECODED, 3)
    assert len(record.reads) == 1 and record.reads[0][1] == len(DECODED)


@pytest.mark.parametrize("seed", range(30))
def test_any_split_gives_the_same_body(seed: int) -> None:
    record, reader = exchange(splits(HEAD + BODY, seed))
    assert (record.outcome, reader.body) == ("ok", DECODED)
    assert sum(read[1] for read in record.reads) == len(DECODED)


def test_byte_by_byte() -> None:
    data = HEAD + BODY
    record, reader = exchange([data[i : i + 1] for i in range(len(data))])
    assert (record.outcome, reader.body) == ("ok", DECODED)
    # Head-only reads are rows too, with no body bytes: the time to first byte shows.
    assert len(record.reads) == len(data)


def test_not_done_until_the_last_chunk() -> None:
    record, reader = exchange([HEAD + b"5\r\nhello\r\n"])
    assert (record.end_ms, reader.body) == (None, b"hello")


def test_bytes_after_the_last_chunk_are_ignored() -> None:
    record, reader = exchange([HEAD + b"2\r\nok\r\n0\r\n\r\nHTTP/1.1 500 Oops\r\n\r\ngarbage"])
    assert (record.outcome, record.status, reader.body) == ("ok", 200, b"ok")


@pytest.mark.parametrize(
    "bad", [b"zz\r\nhello\r\n", b"5\r\nhelloXX", b"ffffffffffffffffff\r\n", b"-1\r\n"]
)
def test_malformed_body_is_a_truncated_stream(bad: bytes) -> None:
    record, _ = exchange([HEAD + bad])
    assert record.outcome == "truncated" and (record.error or "").startswith("bad body:")


def test_malformed_head_is_an_http_error() -> None:
    record, _ = exchange([b"SSH-2.0-OpenSSH_9.6\r\n\r\n"])
    assert record.outcome == "http_error" and (record.error or "").startswith("bad response:")


def test_interim_responses_are_skipped() -> None:
    record, reader = exchange([b"HTTP/1.1 100 Continue\r\n\r\n" + HEAD + BODY])
    assert (record.outcome, record.status, reader.body) == ("ok", 200, DECODED)


def test_sized_and_until_close_bodies() -> None:
    sized = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
    record, reader = exchange(splits(sized, 1))
    assert (record.outcome, reader.body) == ("ok", b"hello")
    until_close = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello"
    record, reader = exchange(splits(until_close, 2), eof=True)
    assert (record.outcome, reader.body) == ("ok", b"hello")
    record, reader = exchange([sized[:-2]], eof=True)
    assert (record.outcome, record.error) == ("truncated", "the connection closed mid-body")


def test_headers_too_large() -> None:
    record, _ = exchange([b"HTTP/1.1 200 OK\r\n"] + [b"X-Pad: " + b"a" * 1000 + b"\r\n"] * 70)
    assert (record.outcome, record.error) == ("http_error", "response headers too large")
