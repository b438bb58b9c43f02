"""Two replicas behind nginx sharing one Redis: SIGTERM to the replica that produces a
stream (a rolling deploy) loses no token for a resuming client."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import httpx
from redisutil import run_redis

from streamwarden.client import resuming_events
from streamwarden.lab import stacks
from streamwarden.sse import Event

HOST = "127.0.0.1"
BODY = {
    "model": "sim-1",
    "messages": [{"role": "user", "content": "x"}],
    "stream": True,
    "sim": {"tokens": 80, "tps": 20, "seed": 9},  # 4 s of answer
}


def _nginx(a: int, b: int, port: int) -> str:
    return f"""
    upstream gateways {{
        server {HOST}:{a} max_fails=0;
        server {HOST}:{b} max_fails=0;
    }}
    server {{
        listen {HOST}:{port};
        location / {{
            proxy_pass http://gateways;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 60s;
            # A draining replica answers 503: the request goes to the other one.
            proxy_next_upstream error timeout http_503 non_idempotent;
        }}
    }}
"""


def _tokens(events: list[Event]) -> list[str]:
    out = []
    for event in events:
        if event.data != "[DONE]":
            out += [c["delta"].get("content", "") for c in json.loads(event.data)["choices"]]
    return [t for t in out if t]


def test_sigterm_to_the_producing_replica_loses_no_token(tmp_path: Path) -> None:
    with run_redis(tmp_path) as redis_server, stacks.Launcher(tmp_path / "lab") as lab:
        flags: tuple[str, ...] = ("--redis", redis_server.url, "--resume-lease", "1")
        flags += ("--drain-timeout", "20")
        flags += ("--heartbeat", "0.2", "--sim-ttft", "0.02")
        ports = [
            lab.python(
                f"gateway-{n}",
                lambda p: ["streamwarden", "serve", "--host", HOST, "--port", str(p), *flags],
            )
            for n in (1, 2)
        ]
        front = stacks.nginx_with(lab, lambda port: _nginx(ports[0], ports[1], port))
        events: list[Event] = []
        failure: list[BaseException] = []

        def read() -> None:
            try:
                with httpx.Client(timeout=15) as http:
                    url = f"http://{HOST}:{front}/v1/chat/completions"
                    events.extend(resuming_events(http, "POST", url, json=BODY))
            except BaseException as exc:
                failure.append(exc)

        reader = threading.Thread(target=read)
        reader.start()
        try:
            deadline = time.monotonic() + 10
            while len(events) < 10:  # half a second of tokens in
                assert time.monotonic() < deadline and not failure, failure
                time.sleep(0.02)

            def active(port: int) -> float:
                text = httpx.get(f"http://{HOST}:{port}/metrics").text
                line = next(
                    x for x in text.splitlines() if x.startswith("streamwarden_active_streams ")
                )
                return float(line.split()[1])

            producer = next(i for i, port in enumerate(ports) if active(port) == 1)
            lab.processes[producer].signal(signal.SIGTERM)
        finally:
            reader.join(30)
        assert not failure, failure
        ids = [e.id for e in events]
        stream_id = (ids[0] or "").rpartition(":")[0]
        assert ids == [f"{stream_id}:{n}" for n in range(1, len(ids) + 1)]  # each once
        assert events[-1].data == "[DONE]" and len(_tokens(events)) == 80
        # The client was moved on: the other replica served the rest from Redis.
        other = ports[1 - producer]
        metrics = httpx.get(f"http://{HOST}:{other}/metrics").text
        assert 'streamwarden_resumes_total{result="resumed"} 1.0' in metrics
        # The drained replica finished its generation into Redis, then exited by itself.
        drained = lab.processes[producer]
        drained.popen.wait(15)
        assert drained.popen.returncode == 0
