"""The fault matrix: a broken upstream or a hostile client, against `streamwarden serve` as a
real process on real sockets. Every cell checks that the client gets a protocol-shaped answer
within its deadline, that the slot and the queue place come back, that exactly one outcome
is counted, and (at the end of the module) that no traceback reached the log.

Deadlines are short here (1 s) so that the matrix runs in seconds; each bound asserted
leaves several seconds of margin for a loaded machine.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakeupstream import FakeUpstream, fake_upstream, never_accepting

from gwutil import Gateway, run_gateway, run_gateways
from rawclient import RawResponse, RawStream

pytestmark = pytest.mark.timeout(60)

#: Deadlines of the gateways under test, and the slack every time bound gets on top.
DEADLINE = 1.0
SLACK = 4.0
FLAGS = [
    "--first-token-timeout", "1",
    "--idle-timeout", "1",
    "--max-duration", "8",
    "--send-timeout", "1",
    "--heartbeat", "0.3",
    "--max-streams", "2",
    "--queue", "1",
    "--queue-timeout", "5",
    "--header-timeout", "1",
    "--body-timeout", "1",
]  # fmt: skip
PROTOCOLS = ("openai", "anthropic")
STREAMING = (True, False)
PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}


def body(protocol: str, model: str, stream: bool) -> dict[str, Any]:
    messages = [{"role": "user", "content": "hi"}]
    if protocol == "anthropic":
        return {"model": model, "max_tokens": 100, "messages": messages, "stream": stream}
    return {"model": model, "messages": messages, "stream": stream}


@dataclass
class Stack:
    upstream: FakeUpstream
    gateways: dict[str, Gateway]  # by protocol; each relays to the fake in that protocol
    never: dict[str, Gateway]  # relaying to an upstream that never accepts
    #: One row per cell, written to $STREAMWARDEN_CHAOS_REPORT (docs/RELIABILITY.md's figures).
    rows: list[dict[str, Any]] = field(default_factory=list)

    def record(self, cell: str, protocol: str, stream: bool, **figures: Any) -> None:
        self.rows.append({"cell": cell, "protocol": protocol, "stream": stream, **figures})


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("chaos")
    with ExitStack() as stack:
        upstream = stack.enter_context(fake_upstream())
        dead = stack.enter_context(never_accepting())
        arglists = []
        for protocol in PROTOCOLS:
            for url in (upstream.url, f"http://127.0.0.1:{dead}"):
                arglists.append(["--upstream", protocol, "--upstream-url", url, *FLAGS])
        started = iter(stack.enter_context(run_gateways(tmp, *arglists)))
        gateways, never = {}, {}
        for protocol in PROTOCOLS:
            gateways[protocol], never[protocol] = next(started), next(started)
        built = Stack(upstream, gateways, never)
        yield built
        report = os.environ.get("STREAMWARDEN_CHAOS_REPORT")
        if report:
            Path(report).write_text(json.dumps(built.rows, indent=1))
        for gateway in [*gateways.values(), *never.values()]:
            log = gateway.log.read_text()
            assert "Traceback" not in log, log[-3000:]


def settle(gateway: Gateway, before: dict[str, float], count: int = 1) -> dict[str, float]:
    """Wait for the slots and queue to come back and `count` outcomes to be counted; the
    outcomes counted since `before`."""
    deadline = time.monotonic() + SLACK
    while True:
        text = gateway.metrics_text()
        after = gateway.outcomes(text)
        delta = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
        idle = (
            gateway.metric("streamwarden_active_streams", text=text) == 0
            and gateway.metric("streamwarden_queue_depth", text=text) == 0
        )
        if (idle and sum(delta.values()) >= count) or time.monotonic() > deadline:
            assert idle, "a slot or a queue place was not given back"
            time.sleep(0.05)  # a second count would show up now
            after = gateway.outcomes()
            return {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
        time.sleep(0.02)


def ask(gateway: Gateway, protocol: str, model: str, stream: bool, **kwargs: Any) -> RawStream:
    return RawStream(
        "127.0.0.1", gateway.port, PATHS[protocol], method="POST",
        body=body(protocol, model, stream), **kwargs,
    )  # fmt: skip


def error_of(protocol: str, response: RawResponse, stream: bool) -> dict[str, Any]:
    """The protocol's error object, from a JSON error body or the stream's last event."""
    if stream and response.status == 200:
        last = response.events()[-1]
        data = json.loads(last.data)
        if protocol == "anthropic":
            assert last.event == "error" and data["type"] == "error"
        return dict(data["error"])
    data = json.loads(response.body)
    if protocol == "anthropic":
        assert data["type"] == "error"
    error = data["error"]
    assert isinstance(error["message"], str) and isinstance(error["type"], str)
    return dict(error)


# -- upstream faults ---------------------------------------------------------------------

#: fault -> (streaming status, non-streaming status, outcome when streaming, when not)
UPSTREAM_FAULTS = {
    "silent": (504, 504, "upstream_timeout", "upstream_timeout"),
    # --first-token-timeout covers the connect, the headers and the first token together.
    "slowhead": (200, 504, "first_token_timeout", "first_token_timeout"),
    "stall": (200, 504, "idle_timeout", "idle_timeout"),
    "reset": (502, 502, "upstream_refused", "upstream_refused"),
    "status-502": (502, 502, "upstream_refused", "upstream_refused"),
    "status-429": (429, 429, "upstream_refused", "upstream_refused"),
    "status-401": (502, 502, "upstream_refused", "upstream_refused"),
    "malformed": (200, 502, "upstream_error", "upstream_error"),
    "notjson": (200, 502, "upstream_error", "upstream_error"),
    "noterminator": (200, 502, "upstream_error", "upstream_error"),
    "ok": (200, 200, "completed", "completed"),
}


@pytest.mark.parametrize("stream", STREAMING, ids=["stream", "whole"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("fault", [*UPSTREAM_FAULTS, "never-accepts"])
def test_upstream_fault(stack: Stack, fault: str, protocol: str, stream: bool) -> None:
    if fault == "never-accepts":
        gateway, model = stack.never[protocol], "ok"
        expected = (504, 504, "upstream_timeout", "upstream_timeout")
    else:
        gateway, model = stack.gateways[protocol], fault
        expected = UPSTREAM_FAULTS[fault]
    status, outcome = (expected[0], expected[2]) if stream else (expected[1], expected[3])
    before = gateway.outcomes()
    started = time.monotonic()
    response = ask(gateway, protocol, model, stream).read_all()
    answered = time.monotonic() - started
    assert answered < DEADLINE + SLACK
    assert response.status == status, response.body[:300]
    assert settle(gateway, before) == {outcome: 1}
    stack.record(
        fault, protocol, stream, status=status, outcome=outcome, answered=answered,
        slot_back=time.monotonic() - started,
    )  # fmt: skip
    if fault == "ok":
        return
    error = error_of(protocol, response, stream)
    if fault == "status-429":
        assert response.headers.get("retry-after") == "7"
    if fault == "status-401":
        # The client's key is fine: the gateway's own message, not the upstream's.
        assert "upstream says" not in error["message"] and "credentials" in error["message"]
    if stream and status == 200:
        terminators = (b"[DONE]", b"message_stop")
        assert not any(t in response.body for t in terminators), "a cut answer looked complete"


# -- client faults -----------------------------------------------------------------------


def _upstream_closes(upstream: FakeUpstream, before: int) -> None:
    deadline = time.monotonic() + SLACK
    while upstream.open_connections > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert upstream.open_connections <= before, "the upstream request was not cancelled"


@pytest.mark.parametrize("stream", STREAMING, ids=["stream", "whole"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("when", ["waiting-for-upstream", "mid-answer"])
def test_client_leaves(stack: Stack, when: str, protocol: str, stream: bool) -> None:
    gateway = stack.gateways[protocol]
    model = "silent" if when == "waiting-for-upstream" else "drip"
    before, connections = gateway.outcomes(), stack.upstream.open_connections
    sock = socket.create_connection(("127.0.0.1", gateway.port))
    payload = json.dumps(body(protocol, model, stream)).encode()
    head = (
        f"POST {PATHS[protocol]} HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\n\r\n"
    )
    sock.sendall(head.encode() + payload)
    if stream and model == "drip":
        sock.settimeout(5)
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    else:
        time.sleep(0.4)
    left = time.monotonic()
    sock.close()
    assert settle(gateway, before) == {"client_disconnected": 1}
    _upstream_closes(stack.upstream, connections)
    stack.record(
        f"client leaves {when}", protocol, stream, status=None,
        outcome="client_disconnected", answered=None, slot_back=time.monotonic() - left,
    )  # fmt: skip


@pytest.mark.parametrize("stream", STREAMING, ids=["stream", "whole"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_client_half_closes(stack: Stack, protocol: str, stream: bool) -> None:
    """A client that shuts its sending side cannot be told from one that left: uvicorn
    closes the connection on EOF. The request is cancelled and counted once."""
    gateway = stack.gateways[protocol]
    before = gateway.outcomes()
    sock = socket.create_connection(("127.0.0.1", gateway.port))
    payload = json.dumps(body(protocol, "drip", stream)).encode()
    head = (
        f"POST {PATHS[protocol]} HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\n\r\n"
    )
    sock.sendall(head.encode() + payload)
    sock.shutdown(socket.SHUT_WR)
    left = time.monotonic()
    try:
        assert settle(gateway, before) == {"client_disconnected": 1}
    finally:
        sock.close()
    stack.record(
        "client half-closes", protocol, stream, status=None,
        outcome="client_disconnected", answered=None, slot_back=time.monotonic() - left,
    )  # fmt: skip


@pytest.mark.parametrize("stream", STREAMING, ids=["stream", "whole"])
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_client_never_reads(stack: Stack, protocol: str, stream: bool) -> None:
    gateway = stack.gateways[protocol]
    before = gateway.outcomes()
    reader = ask(gateway, protocol, "flood", stream, rcvbuf=4096) if stream else None
    if reader is None:
        # The head of a non-streaming answer comes only with its body: send by hand.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", gateway.port))
        payload = json.dumps(body(protocol, "flood", stream)).encode()
        sock.sendall(
            f"POST {PATHS[protocol]} HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            f"content-length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
    started = time.monotonic()
    try:
        assert settle(gateway, before) == {"send_timeout": 1}
        stack.record(
            "client never reads", protocol, stream, status=200, outcome="send_timeout",
            answered=None, slot_back=time.monotonic() - started,
        )  # fmt: skip
    finally:
        if reader is not None:
            reader.close()
        else:
            sock.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_queued_client_that_leaves_frees_its_place(stack: Stack, protocol: str) -> None:
    gateway = stack.gateways[protocol]
    before = gateway.outcomes()
    holders = [ask(gateway, protocol, "drip", True) for _ in range(2)]  # both slots
    queued = socket.create_connection(("127.0.0.1", gateway.port))
    payload = json.dumps(body(protocol, "ok", True)).encode()
    queued.sendall(
        f"POST {PATHS[protocol]} HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
        f"content-length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    assert gateway.wait_metric("streamwarden_queue_depth", "", 1) == 1
    queued.close()
    assert gateway.wait_metric("streamwarden_queue_depth", "", 0, timeout=SLACK) == 0
    # The place is free again: a live client queues instead of hearing "server full".
    waiting: list[RawResponse] = []
    thread = threading.Thread(
        target=lambda: waiting.append(ask(gateway, protocol, "ok", True).read_all())
    )
    thread.start()
    assert gateway.wait_metric("streamwarden_queue_depth", "", 1) == 1
    for holder in holders:
        holder.close()
    thread.join(DEADLINE + SLACK)
    assert waiting and waiting[0].status == 200
    assert settle(gateway, before, 4) == {"client_disconnected": 3, "completed": 1}


def test_slowloris_connections_are_closed_and_others_served(stack: Stack) -> None:
    gateway = stack.gateways["openai"]
    slow = [socket.create_connection(("127.0.0.1", gateway.port)) for _ in range(30)]
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
    started = time.monotonic()
    closed: set[int] = set()
    try:
        for index in range(len(head)):
            for number, sock in enumerate(slow):
                if number in closed:
                    continue
                try:
                    sock.sendall(head[index : index + 1])
                except OSError:
                    closed.add(number)
            if len(closed) == len(slow) or time.monotonic() - started > DEADLINE + SLACK:
                break
            time.sleep(0.1)
        for number, sock in enumerate(slow):
            if number not in closed:
                sock.settimeout(0.5)
                try:
                    if sock.recv(1) == b"":
                        closed.add(number)
                except OSError:
                    closed.add(number)
        assert len(closed) == len(slow), f"{len(slow) - len(closed)} slow clients still connected"
        assert time.monotonic() - started < DEADLINE + SLACK
        response = ask(gateway, "openai", "ok", False).read_all()
        assert response.status == 200
    finally:
        for sock in slow:
            sock.close()


def test_idle_sockets_past_the_open_file_limit_leave_room_for_clients(tmp_path: Path) -> None:
    """1,100 idle connections under `ulimit -n 1024`: the connection cap sheds the oldest
    idle ones, so a real client is still served, quickly."""
    with run_gateway(tmp_path, "--sim-ttft", "0", "--sim-tps", "0", nofile=1024) as gateway:
        idle = []
        try:
            for _ in range(1100):
                idle.append(socket.create_connection(("127.0.0.1", gateway.port)))
            started = time.monotonic()
            response = httpx.post(
                f"{gateway.url}/v1/chat/completions",
                json=body("openai", "sim-1", False),
                timeout=DEADLINE + SLACK,
            )
            assert response.status_code == 200
            assert time.monotonic() - started < DEADLINE + SLACK
        finally:
            for sock in idle:
                sock.close()
        assert "Traceback" not in gateway.log.read_text()


def test_sigterm_during_every_kind_of_wait(tmp_path: Path) -> None:
    """SIGTERM with a stream, a non-streaming answer, a wait for upstream headers and a queued
    request in flight: each gets a protocol-shaped answer and the process exits 0."""
    with fake_upstream() as upstream, run_gateway(
        tmp_path, "--upstream", "openai", "--upstream-url", upstream.url,
        "--max-streams", "3", "--queue", "1", "--drain-timeout", "1",
        "--first-token-timeout", "30", "--heartbeat", "0.3",
    ) as gateway:  # fmt: skip
        results: dict[str, RawResponse] = {}

        def run(name: str, protocol: str, model: str, stream: bool) -> Callable[[], None]:
            def go() -> None:
                results[name] = ask(gateway, protocol, model, stream).read_all()

            return go

        cases = [
            ("stream", "openai", "drip", True),
            ("whole", "anthropic", "drip", False),
            ("waiting", "openai", "silent", True),
            ("queued", "anthropic", "drip", True),
        ]
        threads = []
        for case in cases:
            threads.append(threading.Thread(target=run(*case)))
            threads[-1].start()
            time.sleep(0.2)
        assert gateway.wait_metric("streamwarden_queue_depth", "", 1) == 1
        started = time.monotonic()
        gateway.process.popen.send_signal(signal.SIGTERM)
        for thread in threads:
            thread.join(SLACK + 3)
        assert gateway.process.popen.wait(SLACK + 3) == 0
        assert time.monotonic() - started < 1 + 2 + SLACK  # drain + grace + slack
        assert results["stream"].status == 200
        assert "shutdown" in results["stream"].events()[-1].data
        assert results["whole"].status == 503
        assert error_of("anthropic", results["whole"], False)["type"] == "overloaded_error"
        assert results["waiting"].status == 503
        assert results["queued"].status == 503
        outcomes = [json.loads(line)["outcome"] for line in gateway.access_lines()]
        assert sorted(outcomes) == ["rejected", "shutdown", "shutdown", "shutdown"]
        assert "Traceback" not in gateway.log.read_text()
