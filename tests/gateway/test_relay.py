"""The gateway in front of a real HTTP upstream (bench/apps/fake_openai.py, a separate
process): concurrent streams must not wait for each other, and upstream connections are
kept alive and reused."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gwutil import run_gateway
from streamwarden.gateway.relay import RawRelay
from streamwarden.procs import ManagedProcess, free_port, wait_for_port
from streamwarden.upstreams.base import UpstreamError

FAKE = Path(__file__).resolve().parents[2] / "bench" / "apps" / "fake_openai.py"


@contextlib.contextmanager
def fake_upstream(tmp: Path, *args: str) -> Iterator[str]:
    port = free_port()
    argv = [sys.executable, str(FAKE), "--port", str(port), *args]
    with ManagedProcess(argv, log_path=tmp / f"fake-{port}.log") as proc:
        try:
            wait_for_port("127.0.0.1", port, timeout=20)
        except TimeoutError:
            raise RuntimeError(f"fake upstream did not start: {proc.log_tail()}") from None
        yield f"http://127.0.0.1:{port}"


def upstream_stats(url: str) -> dict[str, int]:
    stats: dict[str, int] = httpx.get(f"{url}/stats", timeout=5).json()
    return stats


async def _stream(port: int, body: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
        f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + body)
    try:
        return await reader.read(-1)
    finally:
        writer.close()


def run_streams(port: int, count: int) -> list[bytes]:
    """`count` streams at once, each read to its end."""
    body = json.dumps(
        {"model": "sim-1", "messages": [{"role": "user", "content": "x"}], "stream": True}
    ).encode()

    async def main() -> list[bytes]:
        async with asyncio.timeout(60):
            return await asyncio.gather(*(_stream(port, body) for _ in range(count)))

    return asyncio.run(main())


STREAMS = 200


def test_concurrent_streams_reach_the_upstream_without_waiting_for_each_other(
    tmp_path: Path,
) -> None:
    # Each upstream answer lasts 2 s. If every request reaches the upstream before the first
    # answer ends, all of them were open there at once: none waited behind another stream.
    # With httpx's pool, each request start and each response close walked every pooled
    # connection once per connection, so 200 arrivals queued for seconds behind that work.
    with fake_upstream(tmp_path, "--ttft", "0", "--tokens", "10", "--tps", "5") as up:
        with run_gateway(tmp_path, "--upstream", "openai", "--upstream-url", up) as gw:
            bodies = run_streams(gw.port, STREAMS)
            stats = upstream_stats(up)
    assert all(b.startswith(b"HTTP/1.1 200") and b"data: [DONE]" in b for b in bodies)
    assert stats["arrived"] == STREAMS
    assert stats["max_open"] == STREAMS, (
        f"only {stats['max_open']} upstream streams were open at once"
    )


@pytest.mark.parametrize("waves", [2])
def test_upstream_connections_are_kept_alive_and_reused(tmp_path: Path, waves: int) -> None:
    # Two waves of 150 concurrent streams: the second reuses the first wave's connections.
    # A connection goes back to the pool only when its response was read to the end and
    # both sides keep it alive (llhttp's keep-alive flag is read while the message ends).
    count = 150
    with fake_upstream(tmp_path, "--ttft", "0", "--tokens", "5", "--tps", "10") as up:
        with run_gateway(tmp_path, "--upstream", "openai", "--upstream-url", up) as gw:
            for _ in range(waves):
                bodies = run_streams(gw.port, count)
                assert all(b"data: [DONE]" in b for b in bodies)
            stats = upstream_stats(up)
    assert stats["arrived"] == count * waves
    # A few may be replaced (one that sat idle past the keep-alive expiry on a loaded box),
    # but not the 50+ that closing every idle connection beyond 100 costs.
    assert stats["connections"] <= count + count // 10, f"{stats['connections']} for {count}"


def test_openai_to_openai_passes_the_upstream_events_through(tmp_path: Path) -> None:
    # The fake upstream's chunk ids are its own ("chatcmpl-fake…"); the translated path would
    # frame new chunks under the gateway's id. The count of text deltas is the token metric.
    with fake_upstream(tmp_path, "--ttft", "0", "--tokens", "7", "--tps", "0") as up:
        with run_gateway(tmp_path, "--upstream", "openai", "--upstream-url", up) as gw:
            (body,) = run_streams(gw.port, 1)
            assert gw.wait_metric("streamwarden_tokens_total", "", 7) == 7
    events = [line for line in body.split(b"\n") if line.startswith(b"data: {")]
    assert len(events) == 1 + 7 + 2  # role, tokens, finish, usage
    assert all(b'"id":"chatcmpl-fake' in e for e in events)
    assert body.rstrip(b"\r\n0").endswith(b"data: [DONE]")


def _relay(*reads: bytes) -> tuple[RawRelay, list[bytes]]:
    class Reads:
        def __init__(self) -> None:
            self.left = list(reads)

        async def receive(self) -> bytes:
            return self.left.pop(0) if self.left else b""

        async def aclose(self) -> None:
            pass

    relay = RawRelay(Reads())  # type: ignore[arg-type]

    async def drain() -> list[bytes]:
        return [chunk async for chunk in relay]

    return relay, asyncio.run(drain())


def test_relay_forwards_whole_events_and_counts_what_it_needs() -> None:
    role = b'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n'
    token = b'data: {"choices":[{"delta":{"content": "hi"}}]}\n\n'
    relay, out = _relay(
        b": keepalive\n\n" + role + token[:20], token[20:] + token, b"data: [DONE]\n\n"
    )
    assert out == [role, token + token, b"data: [DONE]\n\n"]  # split events wait; comments go
    assert (relay.tokens, relay.finished) == (2, True)
    relay, out = _relay(token.replace(b"\n", b"\r\n"), b"data: [DONE]\r", b"\n\r\n")
    assert out == [token, b"data: [DONE]\n\n"] and relay.finished


def test_relay_turns_error_chunks_and_cut_streams_into_upstream_errors() -> None:
    token = b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n'
    with pytest.raises(UpstreamError, match="mid-stream: boom"):
        _relay(token, b'data: {"error":{"message":"boom","type":"x"}}\n\n')
    with pytest.raises(UpstreamError, match="without its terminator"):
        _relay(token)
