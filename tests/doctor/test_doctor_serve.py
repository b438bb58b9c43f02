"""`serve --canary-token` mounts the doctor's canary: a deployed gateway is its own canary."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from gwutil import run_gateway
from streamwarden.cli import main


def test_serve_mounts_the_canary_behind_its_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with run_gateway(tmp_path, "--canary-token", "tok") as gateway:
        canary = f"{gateway.url}/_streamwarden"
        assert httpx.get(canary + "/", timeout=10).status_code == 401
        out = tmp_path / "card.json"
        with pytest.raises(SystemExit) as exited:
            main(["doctor", canary, "--token", "tok", "--only", "headers", "--json", str(out)])
        assert exited.value.code == 0, capsys.readouterr()
    lines = {line["id"]: line for line in json.loads(out.read_text())["card"]}
    # Straight to the gateway: the guard's anti-buffering headers arrive as sent.
    assert lines["headers"]["verdict"] == "ok" and lines["protocol"]["value"].startswith("HTTP/1.1")


def test_without_the_token_flag_there_is_no_canary(tmp_path: Path) -> None:
    with run_gateway(tmp_path) as gateway:
        answer = httpx.get(f"{gateway.url}/_streamwarden/", headers={"x-streamwarden-canary": "x"})
        assert answer.status_code == 404
