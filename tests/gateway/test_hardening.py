"""The gateway's edges as a process: every response gets one access-log line and one counted
outcome, sim controls behind caps and the canary token, /v1/models behind the key and a
cache, /metrics on its own port, and one-line CLI errors."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from gwutil import OPENAI_BODY, run_gateway
from streamwarden.procs import free_port

JSON = {"content-type": "application/json"}


def test_every_response_gets_one_log_line_and_one_outcome(tmp_path: Path) -> None:
    metrics_port = free_port()
    with run_gateway(
        tmp_path,
        "--api-key", "k1",
        "--canary-token", "canary",
        "--sim-ttft", "0",
        "--max-body", "2000",
        "--metrics-port", str(metrics_port),
    ) as gw:  # fmt: skip
        url = f"{gw.url}/v1/chat/completions"
        auth = {"authorization": "Bearer k1", **JSON}
        answers = [
            httpx.post(url, json=OPENAI_BODY),  # no key
            httpx.post(url, content=b"{", headers=auth),  # bad JSON
            httpx.post(url, content=b"[" * 3000, headers=auth),  # too large
            httpx.post(url, content=b"{}", headers={**auth, "content-type": "text/plain"}),
            httpx.post(f"{gw.url}/v1/nope", json=OPENAI_BODY, headers=auth),  # unknown path
            httpx.get(url, headers=auth),  # wrong method
            httpx.post(url, json={**OPENAI_BODY, "sim": {"tokens": 3}}, headers=auth),  # no canary
            httpx.post(
                url,
                json={**OPENAI_BODY, "sim": {"tokens": 10**9}},
                headers={**auth, "x-streamwarden-canary": "canary"},
            ),  # past the cap
            httpx.post(
                url,
                json={**OPENAI_BODY, "sim": {"tokens": 3}},
                headers={**auth, "x-streamwarden-canary": "canary"},
            ),
        ]
        assert [a.status_code for a in answers] == [401, 400, 413, 415, 404, 405, 401, 400, 200]
        for answer in answers[:-1]:
            assert isinstance(answer.json()["error"]["message"], str), answer.text
        assert "--sim-max-tokens" in answers[7].json()["error"]["message"]
        assert answers[-1].json()["usage"]["completion_tokens"] == 3
        lines = [json.loads(line) for line in gw.access_lines()]
        assert [line["status"] for line in lines] == [401, 400, 413, 415, 404, 405, 401, 400, 200]
        assert [line["outcome"] for line in lines] == [
            "unauthorized",
            *["invalid_request"] * 5,
            "unauthorized",
            "invalid_request",
            "completed",
        ]
        # /metrics lives on its own port only.
        assert httpx.get(f"{gw.url}/metrics").status_code == 404
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert 'streamwarden_streams_total{outcome="unauthorized"} 2.0' in text
        # Five mistakes above, the 404 for /metrics on the public port, the sim cap.
        assert 'streamwarden_streams_total{outcome="invalid_request"} 7.0' in text
        assert 'streamwarden_streams_total{outcome="completed"} 1.0' in text


def test_models_need_the_key_and_are_cached(tmp_path: Path) -> None:
    with run_gateway(tmp_path, "--sim-ttft", "0", "--sim-tps", "0") as upstream:
        with run_gateway(
            tmp_path, "--upstream", "openai", "--upstream-url", upstream.url, "--api-key", "k1"
        ) as front:
            assert httpx.get(f"{front.url}/v1/models").status_code == 401
            anthropic = httpx.get(f"{front.url}/v1/models", headers={"anthropic-version": "x"})
            assert anthropic.status_code == 401 and anthropic.json()["type"] == "error"
            for _ in range(5):
                listed = httpx.get(f"{front.url}/v1/models", headers={"x-api-key": "k1"})
                assert [m["id"] for m in listed.json()["data"]] == ["sim-1"]
            # Five answers, one upstream call: the list is cached.
            calls = [json.loads(line) for line in upstream.access_lines()]
            assert len(calls) == 1 and calls[0]["status"] == 200
            # Sim controls are not forwarded to a real upstream unless asked for.
            r = httpx.post(
                f"{front.url}/v1/chat/completions",
                json={**OPENAI_BODY, "sim": {"tokens": 2}},
                headers={"x-api-key": "k1"},
            )
            assert r.status_code == 400 and "real model" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--port", "99999"], "--port must be between 0 and 65535"),
        (["--metrics-port", "-1"], "--metrics-port must be between 0 and 65535"),
        (["--api-key", ""], "--api-key is empty"),
        (["--canary-token", ""], "--canary-token is empty"),
        (["--sim-controls", "maybe"], "--sim-controls must be on or off"),
        (["--host", "10.255.255.1"], "--host must be an address of this machine"),
        (["--host", "not a host"], "--host must be an address of this machine"),
        (["--max-body", "0"], "--max-body"),
        (["--header-timeout", "-1"], "--header-timeout"),
        (["--sim-max-tokens", "0"], "--sim-max-tokens"),
    ],
)
def test_bad_serve_flags_are_one_line_errors(args: list[str], needle: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "streamwarden", "serve", "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2, out.stderr
    assert needle in out.stderr and "Traceback" not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr
    assert "pick another --port" not in out.stderr or "99999" in args


def test_each_phase_of_a_request_gets_its_own_deadline(tmp_path: Path) -> None:
    """One timer per connection, moved as a request goes from head to body: a shorter body
    deadline replaces the head's, a keep-alive connection serves its next request in time,
    and a client that stalls in its body is cut at the body deadline, not the head's."""
    with run_gateway(tmp_path, "--header-timeout", "20", "--body-timeout", "0.5") as gw:
        sock = socket.create_connection(("127.0.0.1", gw.port))
        try:
            body = json.dumps({**OPENAI_BODY, "stream": False}).encode()
            head = (
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                b"content-type: application/json\r\ncontent-length: %d\r\n\r\n"
            )
            sock.sendall(head % len(body) + body)  # a whole request: answered
            sock.settimeout(10)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
            time.sleep(0.8)  # longer than the body deadline, between requests: fine
            sock.sendall(head % len(body) + body[:5])  # then a body that stalls
            started = time.monotonic()
            while sock.recv(65536):
                pass
            assert time.monotonic() - started < 5.0  # the 0.5 s body deadline, not 20 s
        finally:
            sock.close()
