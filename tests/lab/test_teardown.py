"""Every scenario tears down what it started: on failure, on Ctrl-C, and skips are clean."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from procscan import live_session_members, processes_referring_to

from streamwarden.lab import Launcher, get_scenarios, run_lab, stacks
from streamwarden.procs import ManagedProcess, find_binary, start_process

pytestmark = pytest.mark.timeout(120)

needs_nginx = pytest.mark.skipif(find_binary("nginx") is None, reason="nginx not installed")


def _sessions(lab: Launcher) -> list[int]:
    """Each process the lab starts leads its own session: these ids cover its workers too."""
    return [proc.pid for proc in lab.processes]


def _marked(workdir: Path) -> list[tuple[int, str]]:
    """Live processes started by a lab run under `workdir`."""
    return processes_referring_to(str(workdir.resolve()))


@needs_nginx
def test_a_stack_that_fails_midway_is_torn_down(tmp_path: Path) -> None:
    started: list[int] = []

    def start(lab: Launcher) -> str:
        app = stacks.gateway(lab, heartbeat=0.5)
        stacks.nginx_in_front(lab, app)
        started.extend(_sessions(lab))
        assert live_session_members(started)  # really running
        raise RuntimeError("the stack broke after starting two servers")

    broken = replace(get_scenarios(["fixed-stack"])[0], name="broken", start=start)
    result = run_lab([broken], tmp_path)
    [r] = result.scenarios
    assert r.verdict == "error" and "broke" in (r.error or "")
    assert result.exit_code == 1
    assert len(started) == 2 and live_session_members(started) == []
    assert _marked(tmp_path) == []


def test_ctrl_c_inside_a_scenario_tears_it_down_and_stops_the_run(tmp_path: Path) -> None:
    started: list[int] = []

    def start(lab: Launcher) -> str:
        stacks.uvicorn_app(lab, "streamwarden.lab.apps.guarded_stream:app")
        started.extend(_sessions(lab))
        raise KeyboardInterrupt

    interrupted = replace(get_scenarios(["async-workers"])[0], name="interrupted", start=start)
    never = get_scenarios(["async-workers"])[0]
    result = run_lab([interrupted, never], tmp_path)
    assert result.interrupted and result.exit_code == 1
    assert [r.name for r in result.scenarios] == ["interrupted"]
    assert result.scenarios[0].error == "interrupted"
    assert started and live_session_members(started) == []


def test_missing_servers_are_skipped_with_a_hint_and_the_rest_run(tmp_path: Path) -> None:
    def no_proxies(name: str) -> str | None:
        return None if name in ("nginx", "haproxy") else find_binary(name)

    chosen = get_scenarios(["nginx-buffering", "haproxy-timeout", "sync-workers", "no-cancel"])
    result = run_lab(chosen, tmp_path, find=no_proxies, has_module=lambda m: m != "gunicorn")
    by_name = {r.name: r for r in result.scenarios}
    assert "apt-get install nginx" in (by_name["nginx-buffering"].skipped or "")
    assert "haproxy" in (by_name["haproxy-timeout"].skipped or "")
    assert "pip install 'streamwarden[lab]'" in (by_name["sync-workers"].skipped or "")
    assert by_name["no-cancel"].ran and by_name["no-cancel"].passed, by_name["no-cancel"].evidence
    for name in ("nginx-buffering", "haproxy-timeout", "sync-workers"):
        assert not by_name[name].passed and not by_name[name].ran
    assert result.exit_code == 0  # skips do not fail the run
    data = result.to_json(runs=False)
    assert [s["skipped"] is not None for s in data["scenarios"]] == [True, True, True, False]


@needs_nginx
def _sigint_as_from_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_cli_ctrl_c_stops_every_process(tmp_path: Path, signum: int) -> None:
    workdir = tmp_path / "work"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamwarden",
            "lab",
            "-s",
            "fixed-stack",
            "--workdir",
            str(workdir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # As from a terminal: a suite started in the background (`pytest &`, nohup) runs
        # with SIGINT ignored, and a child would inherit that and never see the Ctrl-C.
        preexec_fn=_sigint_as_from_a_terminal,
    )
    try:
        # Wait until nginx and the gateway are up and the probe is mid-run.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if (workdir / "fixed-stack" / "nginx" / "nginx.pid").exists():
                break
            time.sleep(0.1)
        else:
            pytest.fail("the stack never came up")
        time.sleep(0.3)  # the probe is running now; the scenario lasts several seconds
        names = {name for pid, name in _marked(workdir) if pid != proc.pid}
        assert "nginx" in names and any(n.startswith("python") for n in names), names
        os.kill(proc.pid, signum)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out.decode(errors="replace")
    assert b"interrupted" in out
    assert _marked(workdir) == []


@needs_nginx
def test_cli_writes_json_and_html(tmp_path: Path) -> None:
    json_path, html_path = tmp_path / "lab.json", tmp_path / "lab.html"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "streamwarden", "lab", "-s", "lb-total-timeout"),
            *("-s", "no-cancel", "--json", str(json_path), "--html", str(html_path)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "lb-total-timeout" in done.stdout and "total_timeout" in done.stdout
    data = json.loads(json_path.read_text())
    assert [s["name"] for s in data["scenarios"]] == ["lb-total-timeout", "no-cancel"]
    first = data["scenarios"][0]
    assert first["expected"] == ["total_timeout"] and "total_timeout" in first["diagnosed"]
    assert first["pass"] is True
    page = html_path.read_text()
    assert "<svg" in page and "lb-total-timeout" in page and "no-cancel" in page


def test_unknown_scenario_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "streamwarden", "lab", "--scenario", "nope"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2 and "unknown scenario" in done.stderr


def test_a_port_taken_meanwhile_is_retried(tmp_path: Path) -> None:
    with socket.socket() as taken, Launcher(tmp_path) as lab:
        taken.bind(("127.0.0.1", 0))  # bound, not listening: the limiter's bind must fail
        busy = taken.getsockname()[1]
        tried: list[int] = []

        def start(port: int) -> ManagedProcess:
            use = port if tried else busy
            tried.append(use)
            argv = [sys.executable, "-m", "streamwarden.lab.limiter", "--listen", str(use)]
            argv += ["--upstream", "127.0.0.1:9", "--cut-after", "1"]
            return start_process(argv, use, log_path=tmp_path / f"limiter-{use}.log")

        port = lab.listen(start)
        assert tried == [busy, port] and port != busy
        assert len(lab.processes) == 1 and lab.processes[0].alive()
    assert live_session_members(_sessions(lab)) == []
