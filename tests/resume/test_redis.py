"""Resume across replicas sharing a real redis-server; Redis failing under running streams."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from redisutil import RedisServer, run_redis

from gwutil import Gateway, run_gateway, run_gateways
from streamwarden.sse import Event, SSEDecoder

KEYS = ("--api-key", "k-one", "--api-key", "k-two")
ONE = {"authorization": "Bearer k-one"}
FLAGS = ("--sim-ttft", "0.02", "--heartbeat", "0.2", "--resume-lease", "1", "--resume-grace", "2")


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with run_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


def _body(tokens: int, tps: float) -> dict[str, object]:
    return {
        "model": "sim-1",
        "messages": [{"role": "user", "content": "x"}],
        "stream": True,
        "sim": {"tokens": tokens, "tps": tps, "seed": 3},
    }


def _events(response: httpx.Response, stop_after: int | None = None) -> list[Event]:
    decoder = SSEDecoder()
    events: list[Event] = []
    for chunk in response.iter_bytes():
        events += [e for e in decoder.feed(chunk) if isinstance(e, Event)]
        if stop_after is not None and len(events) >= stop_after:
            return events[:stop_after]
    return events


def _start(gw: Gateway, tokens: int, tps: float, cut: int) -> tuple[str, list[Event], str]:
    url = gw.url + "/v1/chat/completions"
    with httpx.stream("POST", url, json=_body(tokens, tps), headers=ONE, timeout=10) as response:
        assert response.status_code == 200
        events = _events(response, cut)
        return response.headers["x-stream-id"], events, response.headers["x-stream-resume"]


def _text(events: list[Event]) -> str:
    return "".join(
        c["delta"].get("content", "")
        for e in events
        if e.data != "[DONE]"
        for c in json.loads(e.data).get("choices", [])
    )


def test_a_stream_started_on_one_replica_is_resumed_on_another(
    tmp_path: Path, shared: RedisServer
) -> None:
    flags = [*FLAGS, *KEYS, "--redis", shared.url]
    with run_gateways(tmp_path, flags, flags) as (a, b):
        stream_id, first, mode = _start(a, 40, 40, cut=4)
        assert mode == "shared"
        url = f"{b.url}/v1/streams/{stream_id}"
        headers = {**ONE, "last-event-id": first[-1].id or ""}
        with httpx.stream("GET", url, headers=headers, timeout=15) as response:
            assert response.status_code == 200
            assert response.headers["x-stream-resume"] == "shared"
            rest = _events(response)
        events = first + rest
        assert [e.id for e in events] == [f"{stream_id}:{n}" for n in range(1, len(events) + 1)]
        assert events[-1].data == "[DONE]"
        whole = httpx.post(a.url + "/v1/chat/completions", json=_body(40, 0), headers=ONE)
        assert _text(events) == _text(_events(whole))
        # Another key, on either replica: the same 404 as an unknown stream.
        other = {"authorization": "Bearer k-two"}
        assert httpx.get(url, headers=other).status_code == 404
        assert httpx.get(f"{b.url}/v1/streams/chatcmpl-nope", headers=ONE).status_code == 404
        # Stored with an expiry; the producer's lease is gone once the stream ended.
        client = redis.Redis.from_url(shared.url)
        assert 0 < client.ttl(f"streamwarden:s:{stream_id}") <= 300
        assert client.exists(f"streamwarden:l:{stream_id}") == 0


def test_followers_of_a_replica_killed_mid_stream_hear_stream_lost(
    tmp_path: Path, shared: RedisServer
) -> None:
    flags = [*FLAGS, *KEYS, "--redis", shared.url]
    with run_gateways(tmp_path, flags, flags) as (a, b):
        stream_id, _, _ = _start(a, 400, 20, cut=2)  # 20 s of generation
        url = f"{b.url}/v1/streams/{stream_id}?after=0"
        with httpx.stream("GET", url, headers=ONE, timeout=15) as response:
            decoder = SSEDecoder()
            killed = None
            lost: dict[str, object] | None = None
            for chunk in response.iter_bytes():
                for event in decoder.feed(chunk):
                    if not isinstance(event, Event):
                        continue
                    if killed is None:
                        a.process.signal(signal.SIGKILL)
                        killed = time.monotonic()
                    body = json.loads(event.data) if event.data != "[DONE]" else {}
                    if "error" in body:
                        lost = body["error"]
            assert killed is not None and lost is not None
            waited = time.monotonic() - killed
        assert lost["type"] == "stream_lost"
        # The lease is 1 s; a follower looks every tenth of it. Wide margin for a loaded box.
        assert waited < 5.0


def test_redis_dying_under_running_streams_costs_resume_not_streams(tmp_path: Path) -> None:
    with (
        run_redis(tmp_path) as server,
        run_gateway(tmp_path, *FLAGS, "--redis", server.url, "--redis-timeout", "0.3") as gw,
    ):
        assert httpx.get(gw.url + "/readyz").json()["status"] == "ready"
        url = gw.url + "/v1/chat/completions"
        with httpx.stream("POST", url, json=_body(40, 20), timeout=10) as response:
            assert response.headers["x-stream-resume"] == "shared"
            decoder = SSEDecoder()
            events: list[Event] = []
            stopped_at = None
            try:
                for chunk in response.iter_bytes():
                    events += [e for e in decoder.feed(chunk) if isinstance(e, Event)]
                    if stopped_at is None and len(events) >= 3:
                        # Hung, not gone: every call to it must time out.
                        server.process.signal(signal.SIGSTOP)
                        stopped_at = time.monotonic()
                assert stopped_at is not None
                took = time.monotonic() - stopped_at
                rest = events
                assert rest[-1].data == "[DONE]" and len(rest) == 43
                assert took < 6.0  # 2 s of tokens; nothing waits on the hung Redis
                deadline = time.monotonic() + 10
                while httpx.get(gw.url + "/readyz").json()["status"] != "degraded":
                    assert time.monotonic() < deadline, "readyz never said degraded"
                    time.sleep(0.1)
                ready = httpx.get(gw.url + "/readyz")
                assert ready.status_code == 200 and ready.json()["resume"] == "replica"
                assert gw.metric("streamwarden_resume_store_errors_total") >= 1
                # New streams go on, resumable on this replica only, and say so.
                with httpx.stream("POST", url, json=_body(5, 0), timeout=10) as later:
                    assert later.headers["x-stream-resume"] == "replica"
                    assert _events(later)[-1].data == "[DONE]"
            finally:
                server.process.signal(signal.SIGCONT)


def test_global_max_streams_admits_exactly_n_across_two_replicas(
    tmp_path: Path, shared: RedisServer
) -> None:
    flags = [*FLAGS, "--redis", shared.url, "--global-max-streams", "4"]
    with run_gateways(tmp_path, flags, flags) as (a, b), contextlib.ExitStack() as held:
        statuses = []
        refused_in = []
        for n in range(6):
            gw = (a, b)[n % 2]
            started = time.monotonic()
            response = held.enter_context(
                httpx.stream(
                    "POST", gw.url + "/v1/chat/completions", json=_body(400, 20), timeout=10
                )
            )
            statuses.append(response.status_code)
            if response.status_code != 200:
                refused_in.append(time.monotonic() - started)
                response.read()
                assert response.headers["retry-after"] == "1"
                assert "global-max-streams" in response.json()["error"]["message"]
        assert sorted(statuses) == [200] * 4 + [503] * 2
        assert max(refused_in) < 1.0  # one Redis round trip; wide margin for a loaded box
        held.close()  # the four leave; their generations end after the 2 s grace
        deadline = time.monotonic() + 10
        while True:
            with httpx.stream(
                "POST", b.url + "/v1/chat/completions", json=_body(2, 0), timeout=10
            ) as again:
                if again.status_code == 200:
                    break
            assert time.monotonic() < deadline, "the slots never came back"
            time.sleep(0.2)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--global-max-streams", "2"], "--global-max-streams needs --redis URL"),
        (["--redis", "localhost:6379"], "--redis must be a redis://"),
        (["--resume-grace", "-1"], "--resume-grace must be >= 0"),
    ],
)
def test_bad_resume_flags_are_one_clear_line(args: list[str], says: str) -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "streamwarden", "serve", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert ran.returncode == 2
    assert ran.stderr.startswith("streamwarden serve: ") and says in ran.stderr
    assert len(ran.stderr.strip().splitlines()) == 1


def test_events_that_went_up_together_are_read_from_any_number(shared: RedisServer) -> None:
    """The copy sends a busy stream's events in one entry; a follower after event 4 of a
    10-event entry gets 5 to 10, each once."""
    import anyio

    from streamwarden.resume import StreamInfo
    from streamwarden.resume.redis import RedisStore

    async def main() -> list[bytes]:
        store = RedisStore(shared.url, lease=1.0)
        try:
            mirror = store.mirror("chatcmpl-batch", StreamInfo("k", "openai"), "replica-1")
            for n in range(1, 11):
                mirror.put(n, b"id: chatcmpl-batch:%d\ndata: %d\n\n" % (n, n))
            mirror.end(11)
            await mirror.run()  # everything was queued: one entry, then the end mark
            assert not mirror.failed
            assert await store.info("chatcmpl-batch") == StreamInfo("k", "openai")
            got: list[bytes] = []
            async for batch in store.follow("chatcmpl-batch", 4):
                got += batch
            return got
        finally:
            await store.aclose()

    got = anyio.run(main)
    events = [e for e in SSEDecoder().feed(b"".join(got)) if isinstance(e, Event)]
    assert [e.data for e in events] == [str(n) for n in range(5, 11)]
    assert redis.Redis.from_url(shared.url).xlen("streamwarden:s:chatcmpl-batch") == 2


def test_key_max_streams_holds_across_two_replicas(tmp_path: Path, shared: RedisServer) -> None:
    flags = [*FLAGS, *KEYS, "--redis", shared.url, "--key-max-streams", "1"]
    with run_gateways(tmp_path, flags, flags) as (a, b), contextlib.ExitStack() as held:
        url = "/v1/chat/completions"
        first = held.enter_context(
            httpx.stream("POST", a.url + url, json=_body(400, 20), headers=ONE, timeout=10)
        )
        assert first.status_code == 200
        # The same key on the other replica: refused as the local per-key limit refuses.
        second = httpx.post(b.url + url, json=_body(2, 0), headers=ONE, timeout=10)
        assert second.status_code == 429 and second.headers["retry-after"] == "1"
        assert "--key-max-streams" in second.json()["error"]["message"]
        # Another key is not affected.
        other = {"authorization": "Bearer k-two"}
        assert httpx.post(b.url + url, json=_body(2, 0), headers=other).status_code == 200
