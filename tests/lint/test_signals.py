"""`container/shell-in-front`, re-measured on this machine's shells: a shell that forks the
server stays its parent (the container's PID 1) and keeps SIGTERM from it; one that execs it
hands over. The linter says "in front" exactly for the scripts whose shell stays."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from streamwarden.lab.stacks import HOST, Launcher, MissingBinary, nginx_in_front, uvicorn_app
from streamwarden.lint import Kind, Limits, lint_text
from streamwarden.lint.cmdline import find_commands

CASES = [
    # (shell, script with {server} for the server's command line)
    ("sh", "{server}"),
    ("sh", "exec {server}"),
    ("bash", "{server}"),
    ("bash", "true && {server}"),
    ("bash", "set -e; true && {server}"),
    ("sh", "true && exec {server}"),
]


def stays_in_front(shell: str, script: str) -> bool:
    """Whether the shell process is still there, with the command as its child."""
    proc = subprocess.Popen([shell, "-c", script.format(server="sleep 30")])
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            comm = Path(f"/proc/{proc.pid}/comm").read_text().strip()
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            if comm == "sleep":
                return False  # the shell exec'd it
            if children:
                return True  # forked: the shell stays
            time.sleep(0.02)
        raise AssertionError(f"{shell} -c {script!r} neither forked nor exec'd")
    finally:
        subprocess.run(["pkill", "-P", str(proc.pid)], check=False)
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(("shell", "script"), CASES)
def test_the_linter_says_in_front_exactly_when_the_shell_stays(shell: str, script: str) -> None:
    if shutil.which(shell) is None or not Path("/proc/self/task").exists():
        pytest.skip(f"{shell} or /proc is missing")
    measured = stays_in_front(shell, script)
    dockerfile = f'CMD ["{shell}", "-c", "{script.format(server="uvicorn app:app")}"]\n'
    [cmd] = find_commands(dockerfile)
    assert (cmd.shell is not None) == measured, (shell, script, measured)
    ids = {f.id for f in lint_text("Dockerfile", dockerfile, Kind.COMMANDS, Limits())}
    assert ("container/shell-in-front" in ids) == measured


def test_the_dockerfile_shell_form_is_sh_c() -> None:
    # Docker runs the shell form as `/bin/sh -c "…"`: the first case above.
    ids = {f.id for f in lint_text("Dockerfile", "CMD uvicorn a:b\n", Kind.COMMANDS, Limits())}
    assert "container/shell-in-front" in ids
    exec_form = 'CMD ["uvicorn", "a:b"]\n'
    assert "container/shell-in-front" not in {
        f.id for f in lint_text("Dockerfile", exec_form, Kind.COMMANDS, Limits())
    }
    shell_exec = "CMD exec uvicorn a:b\n"
    assert "container/shell-in-front" not in {
        f.id for f in lint_text("Dockerfile", shell_exec, Kind.COMMANDS, Limits())
    }


SCRIPTS = [
    # (shell, script file body with {server}); measured: does SIGTERM to the shell reach it?
    ("sh", "{server}\n"),
    ("bash", "{server}\n"),
    ("sh", "echo migrate\n{server}\n"),
    ("bash", "start() {{\n  {server}\n}}\nstart\n"),
    ("sh", "if true; then\n  {server}\nfi\n"),
    ("sh", "exec {server}\n"),
    ("bash", "echo migrate\nexec {server}\n"),
    ("bash", "trap 'kill -TERM $child' TERM\n{server} &\nchild=$!\nwait $child\n"),
]


def sigterm_reaches(shell: str, body: str, tmp_path: Path) -> bool:
    """Run the script, SIGTERM its shell (what a container stop or a supervisor does), and
    see whether the server (a `sleep`) ends."""
    script = tmp_path / "start.sh"
    script.write_text(f"#!/bin/{shell}\n" + body.format(server="sleep 31.7"))
    proc = subprocess.Popen([shell, str(script)])
    try:
        deadline = time.monotonic() + 5
        sleeper = None
        while time.monotonic() < deadline and sleeper is None:
            if Path(f"/proc/{proc.pid}/comm").read_text().strip() == "sleep":
                sleeper = proc.pid  # exec'd: the shell is the server now
                break
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            sleeper = int(children[0]) if children else None
            time.sleep(0.02)
        assert sleeper is not None, f"{shell} {body!r} started nothing"
        time.sleep(0.1)  # let a trap be installed before the signal
        proc.terminate()
        time.sleep(0.5)
        state = Path(f"/proc/{sleeper}/stat")
        return not state.exists() or state.read_text().split()[2] == "Z"
    finally:
        subprocess.run(["pkill", "-f", str(script)], check=False)
        subprocess.run(["pkill", "-x", "-f", "sleep 31.7"], check=False)
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(("shell", "body"), SCRIPTS)
def test_a_script_keeps_sigterm_from_its_server_exactly_when_the_linter_says(
    shell: str, body: str, tmp_path: Path
) -> None:
    if shutil.which(shell) is None or not Path("/proc/self/task").exists():
        pytest.skip(f"{shell} or /proc is missing")
    reaches = sigterm_reaches(shell, body, tmp_path)
    text = f"#!/bin/{shell}\n" + body.format(server="uvicorn app:app")
    ids = {f.id for f in lint_text("start.sh", text, Kind.COMMANDS, Limits())}
    assert ("container/shell-in-front" in ids) == (not reaches), (shell, body, reaches)


def events_until_signal(port: int, master: int, sig: signal.Signals) -> int:
    """Read a 10-event stream through nginx, signal nginx after the first event, and count
    the events that still arrive."""
    got = b""
    with socket.create_connection((HOST, port), timeout=10) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        while b"data: event" not in got:
            got += sock.recv(65536)
        os.kill(master, sig)
        try:
            while chunk := sock.recv(65536):
                got += chunk
        except ConnectionResetError:
            pass
    return got.count(b"data: event")


@pytest.mark.nginx
@pytest.mark.parametrize(("sig", "finishes"), [(signal.SIGTERM, False), (signal.SIGQUIT, True)])
def test_nginx_cuts_streams_on_sigterm_and_lets_them_finish_on_sigquit(
    lab: Launcher, sig: signal.Signals, finishes: bool
) -> None:
    try:
        upstream = uvicorn_app(lab, "sse_app:app", name=f"stop-{sig.name}", http="h11")
        port = nginx_in_front(lab, upstream, "proxy_http_version 1.1;\nproxy_buffering off;")
    except MissingBinary as exc:
        pytest.skip(f"{exc} is not installed")
    master = lab.processes[-1].popen.pid
    assert (events_until_signal(port, master, sig) == 10) == finishes


SUPERVISORD = "[supervisord]\nnodaemon=true\n\n[program:nginx]\ncommand=nginx -g 'daemon off;'\n"


@pytest.mark.parametrize(
    ("name", "text", "flagged"),
    [
        ("supervisord.conf", SUPERVISORD, True),
        ("supervisord.conf", SUPERVISORD + "stopsignal=QUIT\n", False),
        ("supervisord.conf", SUPERVISORD.replace("nginx -g", "gunicorn app:app #"), False),
        (
            "Dockerfile",
            'FROM debian:12\nRUN apt-get install -y nginx\nCMD ["nginx", "-g", "daemon off;"]\n',
            True,
        ),
        ("Dockerfile", "FROM debian:12\nSTOPSIGNAL SIGQUIT\nCMD nginx -g 'daemon off;'\n", False),
        ("Dockerfile", 'FROM nginx:1.27-alpine\nCMD ["nginx", "-g", "daemon off;"]\n', False),
    ],
)
def test_the_linter_names_nginx_stopped_with_sigterm(name: str, text: str, flagged: bool) -> None:
    ids = {f.id for f in lint_text(name, text, Kind.COMMANDS, Limits())}
    assert ("container/nginx-stop-signal" in ids) == flagged
