"""`streamwarden.client` through the lab's total-time limiter: every connection is cut after
1 s, the answer takes 5 s, and it still arrives whole, each token exactly once."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from streamwarden.client import ResumeFailed, resuming_events
from streamwarden.lab import stacks
from streamwarden.sse import Event, SSEDecoder

HOST = "127.0.0.1"
BODY = {
    "model": "sim-1",
    "messages": [{"role": "user", "content": "x"}],
    "stream": True,
    # 100 tokens at 20/s: 5 s of answer.
    "sim": {"tokens": 100, "tps": 20, "seed": 11},
}

#: The same answer at full speed: the reference text.
FAST = {"tokens": 100, "tps": 0, "seed": 11}


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(URL through a limiter cutting every connection after 1 s, the gateway's own URL)."""
    with stacks.Launcher(tmp_path_factory.mktemp("client")) as lab:
        flags = ("--resume", "--heartbeat", "0.2", "--sim-ttft", "0.02", "--drain-timeout", "1")
        port = lab.python(
            "gateway",
            lambda port: ["streamwarden", "serve", "--host", HOST, "--port", str(port), *flags],
        )
        cut = stacks.total_time_limiter(lab, port, cut_after=1.0)
        yield f"http://{HOST}:{cut}", f"http://{HOST}:{port}"


def _tokens(events: list[Event]) -> list[str]:
    out = []
    for event in events:
        if event.data != "[DONE]":
            out += [c["delta"].get("content", "") for c in json.loads(event.data)["choices"]]
    return [t for t in out if t]


def test_a_plain_client_gets_a_fifth_of_the_answer(limited: tuple[str, str]) -> None:
    # The cut the client survives below: without resuming, the answer is lost.
    url, _ = limited
    events: list[Event] = []
    decoder = SSEDecoder()
    with pytest.raises(httpx.TransportError):
        with httpx.stream("POST", url + "/v1/chat/completions", json=BODY, timeout=10) as r:
            for chunk in r.iter_bytes():
                events += [e for e in decoder.feed(chunk) if isinstance(e, Event)]
    assert 5 <= len(_tokens(events)) < 60


def test_the_resuming_client_reads_a_5s_answer_whole_through_1s_cuts(
    limited: tuple[str, str],
) -> None:
    url, direct = limited
    with httpx.Client(timeout=10) as http:
        events = list(resuming_events(http, "POST", url + "/v1/chat/completions", json=BODY))
    ids = [e.id for e in events]
    stream_id = (ids[0] or "").rpartition(":")[0]
    assert ids == [f"{stream_id}:{n}" for n in range(1, len(events) + 1)]  # each once, in order
    assert events[-1].data == "[DONE]"
    whole = httpx.post(
        direct + "/v1/chat/completions", json={**BODY, "stream": False, "sim": FAST}, timeout=15
    )
    text = whole.json()["choices"][0]["message"]["content"]
    assert "".join(_tokens(events)) == text and len(_tokens(events)) == 100
    # It took several connections: the limiter cut each after 1 s.
    metrics = httpx.get(direct + "/metrics").text
    resumed = [line for line in metrics.splitlines() if 'resumes_total{result="resumed"}' in line]
    assert resumed and float(resumed[0].split()[-1]) >= 3


def test_an_unknown_stream_is_a_clear_failure(limited: tuple[str, str]) -> None:
    _, direct = limited
    with httpx.Client(timeout=5) as http, pytest.raises(ResumeFailed) as failed:
        list(resuming_events(http, "GET", direct + "/v1/streams/chatcmpl-unknown"))
    assert failed.value.status == 404


def test_the_async_client_does_the_same(limited: tuple[str, str]) -> None:
    import anyio

    from streamwarden.client import aresuming_events

    url, _ = limited

    async def main() -> list[Event]:
        async with httpx.AsyncClient(timeout=10) as http:
            return [
                e
                async for e in aresuming_events(
                    http, "POST", url + "/v1/chat/completions", json=BODY
                )
            ]

    events = anyio.run(main)
    ids = [e.id for e in events]
    stream_id = (ids[0] or "").rpartition(":")[0]
    assert ids == [f"{stream_id}:{n}" for n in range(1, len(events) + 1)]
    assert events[-1].data == "[DONE]" and len(_tokens(events)) == 100
