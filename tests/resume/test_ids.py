"""Stream ids and event ids, read off a real gateway process."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from gwutil import Gateway, run_gateway
from streamwarden.gateway.ids import Numbering, parse_event_id
from streamwarden.sse import Event, SSEDecoder

SIM = ("--sim-ttft", "0.02", "--sim-tps", "0", "--heartbeat", "5")
ASK = {"model": "sim-1", "messages": [{"role": "user", "content": "x"}], "stream": True}


@pytest.fixture(scope="module", params=["sim", "chain"])
def gateway(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Gateway]:
    """`chain` puts a gateway with `--upstream openai` in front, so OpenAI requests take the
    pass-through relay (the upstream's bytes, numbered on the way)."""
    tmp = tmp_path_factory.mktemp("ids")
    with run_gateway(tmp, *SIM) as upstream:
        if request.param == "sim":
            yield upstream
            return
        front = ("--upstream", "openai", "--upstream-url", upstream.url, "--sim-controls", "on")
        with run_gateway(tmp, *front) as gw:
            yield gw


def _events(gateway: Gateway, path: str, body: dict[str, object]) -> tuple[str, list[Event]]:
    decoder = SSEDecoder()
    events: list[Event] = []
    with httpx.stream("POST", gateway.url + path, json=body, timeout=10) as response:
        assert response.status_code == 200
        for chunk in response.iter_bytes():
            events += [e for e in decoder.feed(chunk) if isinstance(e, Event)]
        return response.headers["x-stream-id"], events


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
def test_every_event_carries_the_stream_and_its_number(gateway: Gateway, path: str) -> None:
    body = {**ASK, "max_tokens": 50, "sim": {"tokens": 7}}
    stream_id, events = _events(gateway, path, body)
    assert [parse_event_id(e.id or "") for e in events] == [
        (stream_id, n) for n in range(1, len(events) + 1)
    ]
    first = json.loads(events[0].data)
    # The protocol's own id is the stream id (an OpenAI chunk's `id`, Anthropic's message id),
    # except on the pass-through relay, whose chunks keep the upstream's ids as they came.
    own = first["message"]["id"] if path == "/v1/messages" else first["id"]
    relayed = path == "/v1/chat/completions" and own != stream_id
    assert own == stream_id or (relayed and own.startswith("chatcmpl-"))
    assert len(events) >= 7


def test_two_streams_get_two_ids(gateway: Gateway) -> None:
    a, _ = _events(gateway, "/v1/chat/completions", {**ASK, "sim": {"tokens": 2}})
    b, _ = _events(gateway, "/v1/chat/completions", {**ASK, "sim": {"tokens": 2}})
    assert a != b


def test_relayed_bytes_are_numbered_event_by_event() -> None:
    numbering = Numbering("chatcmpl-x")
    # An upstream's own ids are replaced: the last `id:` of an event is the one a client keeps.
    out = numbering.encode(b"data: a\n\nid: theirs:9\ndata: b\nevent: e\n\n")
    decoded = [e for e in SSEDecoder().feed(out) if isinstance(e, Event)]
    assert [(e.id, e.data) for e in decoded] == [("chatcmpl-x:1", "a"), ("chatcmpl-x:2", "b")]
    assert numbering.encode("c") == b"id: chatcmpl-x:3\ndata: c\n\n"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("msg_abc:12", ("msg_abc", 12)),
        ("chatcmpl-1f:0", ("chatcmpl-1f", 0)),
        ("nocolon", None),
        ("a:b", None),
        ("a b:1", None),
        (":3", None),
    ],
)
def test_event_ids_parse(text: str, parsed: tuple[str, int] | None) -> None:
    assert parse_event_id(text) == parsed


@pytest.mark.parametrize(
    "item",
    [
        "one line",
        "two\nlines",
        "cr\rline",
        Event('{"type":"ping"}', event="ping"),
        Event("a\nb", event="multi"),
        Event("x", event="e", retry=5),
        Event("plain"),
    ],
)
def test_the_fast_paths_write_what_sse_encode_writes(item: Event | str) -> None:
    from streamwarden.sse import encode

    numbering = Numbering("msg_1")
    expected = encode(numbering.event(item, 1))
    assert numbering.encode(item) == expected


@pytest.mark.parametrize(
    "item",
    [
        b'data: {"choices":[{"delta":{"content":"id: x"}}]}\n\n',  # one line: the fast path
        b"id: theirs:7\ndata: a\n\n",  # their id: replaced, so the event has ours
        b"data: a\nid: theirs:8\n\n",
        b"data: a\n\ndata: b\n\n",
        b"\n\ndata: a\n\n",
    ],
)
def test_relayed_bytes_get_our_ids_on_every_path(item: bytes) -> None:
    """The one-line read takes a shortcut; every shape decodes to the same events with ours."""
    numbering = Numbering("chatcmpl-x")
    bare = [e for e in SSEDecoder().feed(item) if isinstance(e, Event)]
    out = [e for e in SSEDecoder().feed(numbering.encode(item)) if isinstance(e, Event)]
    assert [e.data for e in out] == [e.data for e in bare]
    assert [e.id for e in out] == [f"chatcmpl-x:{n}" for n in range(1, len(out) + 1)]
