"""The canary on a real uvicorn socket: its token, its caps, its report, its bounded memory."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

import streamwarden
from streamwarden.doctor.canary import (
    CANARY_HEADER,
    CanaryLimits,
    Plan,
    PlanError,
    Records,
    canary_app,
    parse_plan,
)
from streamwarden.procs import ServerThread

TOKEN = "s3cret"
LIMITS = CanaryLimits(max_pause=5.0, max_duration=10.0, max_events=1000, max_size=4096)


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    app = Starlette(routes=[Mount("/_streamwarden", canary_app(token=TOKEN, limits=LIMITS))])
    with ServerThread(app) as server:
        yield server.url + "/_streamwarden"


def _get(url: str, token: str | None = TOKEN, **params: str) -> httpx.Response:
    headers = {CANARY_HEADER: token} if token is not None else {}
    return httpx.get(url, params=params, headers=headers, timeout=10)


def test_canary_app_is_exported_from_the_package() -> None:
    assert streamwarden.canary_app is canary_app


@pytest.mark.parametrize("token", [None, "", "wrong", TOKEN + "x"])
@pytest.mark.parametrize("path", ["/", "/stream?id=a1", "/report/a1"])
def test_every_route_refuses_without_the_token(base: str, path: str, token: str | None) -> None:
    response = _get(base + path, token)
    assert response.status_code == 401
    assert CANARY_HEADER in response.json()["error"]


def test_greeting_lists_the_caps(base: str) -> None:
    body = _get(base + "/").json()
    assert body["canary"] == "streamwarden"
    assert body["limits"]["max_pause"] == 5.0


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"pause": "3600"}, "pause 3600 is over this canary's cap of 5"),
        ({"events": "1000000000"}, "events 1e+09 is over this canary's cap of 1000"),
        ({"size": "100000"}, "size 100000 is over this canary's cap of 4096"),
        ({"events": "1000", "every": "0.5"}, "duration 499.5 is over this canary's cap of 10"),
        ({"pause": "nan"}, "must be a finite number"),
        ({"pause": "-1"}, "must be a finite number"),
        ({"accel": "yes"}, "must be 0 or 1"),
    ],
)
def test_stream_controls_are_capped(base: str, params: dict[str, str], message: str) -> None:
    response = _get(base + "/stream", id="capped", **params)
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_a_bad_id_is_refused(base: str) -> None:
    assert _get(base + "/stream", id="../etc").status_code == 400
    assert _get(base + "/stream").status_code == 400


def test_stream_plays_the_plan_and_reports_each_write(base: str) -> None:
    response = _get(base + "/stream", id="plan1", events="3", size="100", every="0.05", accel="0")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert "x-accel-buffering" not in response.headers
    assert response.text.count("id: ") == 3 and response.text.endswith("event: end\ndata: done\n\n")
    report = _get(base + "/report/plan1").json()
    kinds = [w[2] for w in report["writes"]]
    assert kinds == ["event", "event", "event", "end"]
    assert [w[1] for w in report["writes"][:3]] == [100, 100, 100]
    times = [w[0] for w in report["writes"]]
    assert times == sorted(times) and times[2] >= 0.1  # on its schedule, never early
    assert report["finished_s"] is not None and report["disconnected_s"] is None
    assert _get(base + "/stream", id="plan1").status_code == 409  # ids are single-use


def test_heartbeats_fill_a_pause(base: str) -> None:
    response = _get(base + "/stream", id="beats", events="2", pause="1", heartbeat="0.1")
    assert response.text.count(": keepalive") >= 3
    kinds = [w[2] for w in _get(base + "/report/beats").json()["writes"]]
    assert kinds[0] == "event" and kinds[-2:] == ["event", "end"]
    assert kinds.count("heartbeat") >= 3


def test_report_says_when_the_client_left(base: str) -> None:
    with httpx.stream(
        "GET",
        base + "/stream",
        params={"id": "leaver", "events": "100", "every": "0.05"},
        headers={CANARY_HEADER: TOKEN},
        timeout=10,
    ) as response:
        for _ in response.iter_raw():
            break
    deadline = time.monotonic() + 5
    while (report := _get(base + "/report/leaver").json())["disconnected_s"] is None:
        assert time.monotonic() < deadline, report
        time.sleep(0.05)
    assert report["finished_s"] is None
    assert report["disconnected_s"] < 2.0  # the whole stream would have taken 5 s
    assert _get(base + "/report/nobody").status_code == 404


def test_parse_plan_defaults_and_floor() -> None:
    assert parse_plan({}, CanaryLimits()) == Plan()
    with pytest.raises(PlanError, match="floor"):
        parse_plan({"heartbeat": "0.001"}, CanaryLimits())


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_records_expire_and_stay_bounded() -> None:
    clock = FakeClock()
    records = Records(CanaryLimits(max_records=3, record_ttl=60.0), clock)
    for name in "abcd":
        assert records.new(name, Plan()) is not None
        clock.now += 1
    assert len(records) == 3 and records.get("a") is None  # the oldest went first
    assert records.new("b", Plan()) is None  # still held: not reusable
    clock.now += 60
    assert records.get("d") is None and len(records) == 0


def test_a_client_that_stops_reading_does_not_hold_the_stream_forever() -> None:
    limits = CanaryLimits(send_timeout=0.5)
    app = Starlette(routes=[Mount("/c", canary_app(token=TOKEN, limits=limits))])
    with ServerThread(app) as server, socket.create_connection((server.host, server.port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        query = "id=stuck&events=4000&size=65536&every=0.001"
        sock.sendall(
            f"GET /c/stream?{query} HTTP/1.1\r\nHost: x\r\n{CANARY_HEADER}: {TOKEN}\r\n\r\n".encode()
        )
        # Never read: the socket buffers fill, then every write waits.
        deadline = time.monotonic() + 20
        while not (report := _get(server.url + "/c/report/stuck").json())["error"]:
            assert time.monotonic() < deadline, report
            time.sleep(0.1)
    assert "stopped reading" in report["error"]
    assert report["finished_s"] is None and len(report["writes"]) < 4000
