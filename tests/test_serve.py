"""`streamwarden serve` as a user runs it: a real process, a real socket."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from rawclient import RawStream
from streamwarden.procs import ManagedProcess, free_port, wait_for_port


@pytest.fixture(scope="module")
def gateway() -> Iterator[int]:
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "streamwarden",
        "serve",
        "--port",
        str(port),
        "--sim-ttft",
        "0.05",
        "--sim-tps",
        "200",
        "--heartbeat",
        "0.2",
    ]
    with ManagedProcess(argv) as proc:
        wait_for_port("127.0.0.1", port, timeout=15)
        assert proc.alive()
        yield port


def chat(port: int, **body: object) -> RawStream:
    payload = {"model": "sim-1", "messages": [{"role": "user", "content": "hi"}], **body}
    return RawStream("127.0.0.1", port, "/v1/chat/completions", method="POST", body=payload)


def test_openai_stream_from_the_sim_ends_with_done(gateway: int) -> None:
    response = chat(gateway, stream=True, sim={"tokens": 5, "seed": 3}).read_all()
    assert response.status == 200
    events = response.events()
    assert events[-1].data == "[DONE]"
    assert len(events) == 1 + 5 + 1 + 1  # role, tokens, finish, [DONE]
    again = chat(gateway, stream=True, sim={"tokens": 5, "seed": 3}).read_all()
    # Deterministic for a seed (ids and timestamps aside).
    strip = lambda r: [e.data.split('"choices"')[-1] for e in r.events()]  # noqa: E731
    assert strip(response) == strip(again)


def test_sim_pause_gets_heartbeats(gateway: int) -> None:
    response = chat(
        gateway, stream=True, sim={"tokens": 3, "pause_after": 1, "pause": 0.7}
    ).read_all()
    assert len([c for c in response.comments() if c.text == "keepalive"]) >= 2
    assert response.events()[-1].data == "[DONE]"


def test_sim_failure_mid_stream_is_an_error_event_without_done(gateway: int) -> None:
    response = chat(gateway, stream=True, sim={"tokens": 5, "fail_after": 2}).read_all()
    data = [e.data for e in response.events()]
    assert "[DONE]" not in data
    assert '"error"' in data[-1]


def test_malformed_json_is_a_400_in_openai_shape(gateway: int) -> None:
    stream = RawStream("127.0.0.1", gateway, "/v1/chat/completions", method="POST", body=b"{nope")
    response = stream.read_all()
    assert response.status == 400
    assert b'"invalid_request_error"' in response.body


def test_version_and_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "streamwarden", "--version"], capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.startswith("streamwarden ")
    out = subprocess.run(
        [sys.executable, "-m", "streamwarden", "--help"], capture_output=True, text=True
    )
    assert out.returncode == 0 and "serve" in out.stdout and "probe" in out.stdout


def test_every_public_name_resolves() -> None:
    import streamwarden

    missing = [name for name in streamwarden.__all__ if getattr(streamwarden, name, None) is None]
    assert missing == []
