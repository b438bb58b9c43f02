"""`GET /v1/streams/{id}` on a real gateway process: replay, follow, ownership, grace."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gwutil import Gateway, run_gateway
from streamwarden.sse import Event, SSEDecoder

KEYS = ("--api-key", "k-one", "--api-key", "k-two")
ONE = {"authorization": "Bearer k-one"}
TWO = {"authorization": "Bearer k-two"}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("resume")
    flags = ("--resume", "--resume-grace", "1", "--sim-ttft", "0.02", "--heartbeat", "0.2")
    with run_gateway(tmp, *flags, *KEYS) as gw:
        yield gw


def _ask(tokens: int, tps: float, protocol: str = "openai") -> tuple[str, dict[str, object]]:
    body: dict[str, object] = {
        "model": "sim-1",
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
        "sim": {"tokens": tokens, "tps": tps, "seed": 7},
    }
    if protocol == "anthropic":
        body["max_tokens"] = 1000
        return "/v1/messages", body
    return "/v1/chat/completions", body


def _read(response: httpx.Response, stop_after: int | None = None) -> tuple[list[Event], list[str]]:
    decoder = SSEDecoder()
    events: list[Event] = []
    for chunk in response.iter_bytes():
        events += [e for e in decoder.feed(chunk) if isinstance(e, Event)]
        if stop_after is not None and len(events) >= stop_after:
            return events[:stop_after], []
    return events, []


def _start(
    gw: Gateway, tokens: int, tps: float, cut: int, protocol: str = "openai"
) -> tuple[str, list[Event]]:
    """A stream read for `cut` events, then the connection closed."""
    path, body = _ask(tokens, tps, protocol)
    with httpx.stream("POST", gw.url + path, json=body, headers=ONE, timeout=10) as response:
        assert response.status_code == 200
        assert response.headers["x-stream-resume"] == "replica"
        events, _ = _read(response, cut)
        return response.headers["x-stream-id"], events


def _resume(
    gw: Gateway, stream_id: str, headers: dict[str, str], after: str = ""
) -> tuple[int, list[Event], httpx.Response]:
    url = f"{gw.url}/v1/streams/{stream_id}{after}"
    with httpx.stream("GET", url, headers=headers, timeout=15) as response:
        if response.status_code != 200:
            response.read()
            return response.status_code, [], response
        events, _ = _read(response)
        return 200, events, response


def _text(events: list[Event], protocol: str = "openai") -> str:
    out = []
    for event in events:
        if event.data == "[DONE]":
            continue
        data = json.loads(event.data)
        if protocol == "openai":
            out += [c["delta"].get("content", "") for c in data.get("choices", [])]
        elif data.get("type") == "content_block_delta":
            out.append(data["delta"]["text"])
    return "".join(out)


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_a_cut_stream_resumes_after_its_last_event_id_and_ends_whole(
    gateway: Gateway, protocol: str
) -> None:
    stream_id, first = _start(gateway, 40, 80, cut=5, protocol=protocol)
    assert first[-1].id == f"{stream_id}:5"
    status, rest, response = _resume(gateway, stream_id, {**ONE, "last-event-id": first[-1].id})
    assert status == 200 and response.headers["x-stream-id"] == stream_id
    events = first + rest
    # Each event exactly once, in order, up to the protocol's own terminator.
    assert [e.id for e in events] == [f"{stream_id}:{n}" for n in range(1, len(events) + 1)]
    last = events[-1].data
    assert last == "[DONE]" if protocol == "openai" else json.loads(last)["type"] == "message_stop"
    whole_path, whole_body = _ask(40, 0, protocol)
    reference = httpx.post(gateway.url + whole_path, json=whole_body, headers=ONE, timeout=10)
    reference_events, _ = _read(reference)
    assert _text(events, protocol) == _text(reference_events, protocol)


def test_after_n_replays_a_finished_stream_and_a_live_one_is_followed(gateway: Gateway) -> None:
    stream_id, first = _start(gateway, 30, 0, cut=1000)  # read to the end
    status, rest, _ = _resume(gateway, stream_id, ONE, "?after=3")
    assert status == 200 and [e.id for e in rest] == [e.id for e in first[3:]]
    # A slow stream: a second reader joins from the start while it runs and sees it all live.
    stream_id, _ = _start(gateway, 20, 20, cut=2)
    status, events, _ = _resume(gateway, stream_id, ONE, "?after=0")
    assert status == 200 and events[-1].data == "[DONE]" and len(events) == 23


def test_another_keys_resume_gets_the_same_404_as_an_unknown_id(gateway: Gateway) -> None:
    stream_id, _ = _start(gateway, 5, 0, cut=1000)
    theirs = _resume(gateway, stream_id, TWO)
    unknown = _resume(gateway, "chatcmpl-doesnotexist", ONE)
    assert theirs[0] == unknown[0] == 404
    assert theirs[2].json()["error"]["type"] == "not_found_error"
    anthropic = _resume(gateway, "msg_doesnotexist", ONE)
    assert anthropic[0] == 404 and anthropic[2].json()["type"] == "error"
    assert _resume(gateway, stream_id, {})[0] == 401


@pytest.mark.parametrize("bad", ["?after=x", "?after=-1"], ids=["word", "negative"])
def test_a_bad_position_is_a_400_that_says_what_to_send(gateway: Gateway, bad: str) -> None:
    stream_id, _ = _start(gateway, 3, 0, cut=1000)
    status, _, response = _resume(gateway, stream_id, ONE, bad)
    assert status == 400 and "after" in response.json()["error"]["message"]
    status, _, response = _resume(gateway, stream_id, {**ONE, "last-event-id": "other:3"})
    assert status == 400 and "Last-Event-ID" in response.json()["error"]["message"]


def test_nobody_resumes_within_the_grace_the_generation_is_cancelled(gateway: Gateway) -> None:
    before = gateway.metric("streamwarden_resume_grace_expired_total")
    # 200 tokens at 20/s would take 10 s; the client leaves after 2 events.
    stream_id, _ = _start(gateway, 200, 20, cut=2)
    assert (
        gateway.wait_metric("streamwarden_resume_grace_expired_total", "", before + 1, 8)
        == before + 1
    )
    status, events, _ = _resume(gateway, stream_id, ONE, "?after=0")
    ending = json.loads(events[-1].data)["error"]
    assert status == 200 and ending["type"] == "resume_grace_expired"
    assert len(events) < 150  # it stopped well before the end
    lines = [json.loads(line) for line in gateway.access_lines()]
    assert any(r["id"] == stream_id and r["outcome"] == "client_disconnected" for r in lines)


def test_a_client_that_comes_back_within_the_grace_keeps_the_generation(gateway: Gateway) -> None:
    before = gateway.metric("streamwarden_resume_grace_expired_total")
    stream_id, first = _start(gateway, 60, 30, cut=2)  # 2 s of generation
    time.sleep(0.5)  # disconnected, but within the 1 s grace
    status, rest, _ = _resume(gateway, stream_id, {**ONE, "last-event-id": first[-1].id or ""})
    assert status == 200 and rest[-1].data == "[DONE]" and len(first + rest) == 63
    assert gateway.metric("streamwarden_resume_grace_expired_total") == before


def test_the_generation_keeps_the_stream_deadlines_and_stores_their_ending(
    tmp_path: Path,
) -> None:
    flags = ("--resume", "--idle-timeout", "0.3", "--sim-ttft", "0.02", "--heartbeat", "0.1")
    with run_gateway(tmp_path, *flags) as gw:
        path, body = _ask(10, 50)
        body["sim"] = {"tokens": 10, "tps": 50, "pause_after": 3, "pause": 5}
        with httpx.stream("POST", gw.url + path, json=body, timeout=10) as response:
            events, _ = _read(response)
            stream_id = response.headers["x-stream-id"]
        ending = json.loads(events[-1].data)["error"]
        assert ending["type"] == "idle_timeout" and events[-1].id == f"{stream_id}:{len(events)}"
        # A resume reads the same stored ending; the request's outcome is the deadline's.
        status, replayed, _ = _resume(gw, stream_id, {}, "?after=0")
        assert status == 200 and [e.id for e in replayed] == [e.id for e in events]
        assert gw.wait_metric("streamwarden_streams_total", 'outcome="idle_timeout"', 1) == 1
