"""Every command answers a bad invocation the same way: one line on stderr,
`streamwarden <command>: what is wrong — how to fix it`, exit code 2, no traceback.

Each case runs the console entry point (`streamwarden.cli.main`) in a process of its own, with
its own stdout, stderr and exit code, as a user would. The processes fork from this one, which
has imported the commands once, so that fifty cases cost seconds, not a Python start-up each;
the help tests start the real `python -m streamwarden`.
"""

from __future__ import annotations

import importlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import traceback
from pathlib import Path

import pytest

from streamwarden.cli import COMMANDS as COMMAND_MODULES
from streamwarden.cli import main

COMMANDS = ("serve", "probe", "analyze", "lab", "lint", "config", "doctor")

NOT_A_RUN = str(Path(__file__))  # a file that exists and is not a probe run
UNREACHABLE = "http://127.0.0.1:9/"  # discard port: nothing listens on loopback


def _free_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


CASES = [
    # the root
    ["nosuch"],
    ["--bogus"],
    # serve
    ["serve", "--bogus"],
    ["serve", "--port", "abc"],
    ["serve", "--workers", "0"],
    ["serve", "--upstream", "nope"],
    ["serve", "--heartbeat", "-1"],
    ["serve", "--port", "99999"],
    ["serve", "--port", _free_port(), "--api-key", ""],  # not auth silently off
    # probe
    ["probe"],
    ["probe", "http://[::1:9/"],
    ["probe", "ftp://127.0.0.1/"],
    ["probe", "http://192.0.2.1/"],
    ["probe", UNREACHABLE],
    ["probe", UNREACHABLE, "--concurrency", "0"],
    ["probe", UNREACHABLE, "--concurrency", "a,b"],
    ["probe", UNREACHABLE, "--protocol", "xml"],
    ["probe", UNREACHABLE, "--body", "{nope"],
    ["probe", UNREACHABLE, "--body", "@/nonexistent/body.json"],
    ["probe", UNREACHABLE, "-H", "no-colon"],
    ["probe", UNREACHABLE, "--rate", "-2"],
    ["probe", UNREACHABLE, "--timeout", "soon"],
    ["probe", UNREACHABLE, "--fail-on", "sometimes"],
    # analyze
    ["analyze"],
    ["analyze", "/nonexistent/run.json"],
    ["analyze", NOT_A_RUN],
    ["analyze", NOT_A_RUN, "--fail-on", "sometimes"],
    # lab
    ["lab", "--scenario", "nope"],
    ["lab", "--json", "/nonexistent/lab.json"],
    ["lab", "--bogus"],
    # lint
    ["lint"],
    ["lint", "/nonexistent/nginx.conf"],
    ["lint", "--format", "xml", NOT_A_RUN],
    ["lint", "--max-gap", "0", NOT_A_RUN],
    ["lint", "--nginx-version", "abc", NOT_A_RUN],
    ["lint", "--kind", "nope", NOT_A_RUN],
    # config
    ["config"],
    ["config", "nope"],
    ["config", "nginx", "--upstream", "foo"],
    ["config", "nginx", "--upstream"],
    ["config", "nginx", "--listen", "x"],
    ["config", "nginx", "--read-timeout", "0"],
    # doctor
    ["doctor"],
    ["doctor", "ftp://127.0.0.1/"],
    ["doctor", "http://127.0.0.1:9/_streamwarden", "--max-concurrency", "many"],
]


def _id(case: list[str]) -> str:
    return " ".join(case)


def _run_in_child(args: list[str], out: Path, err: Path, timeout: float = 6) -> int:
    """Fork, run the console script with stdout and stderr to files, return its exit code.
    The fork shares the commands this process imported, so a case costs no Python start-up."""
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            for fd, path in ((1, out), (2, err)):
                os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
            sys.stdout = open(1, "w", closefd=False)
            sys.stderr = open(2, "w", closefd=False)
            try:
                main(args)
                code = 0
            except SystemExit as exit:
                code = exit.code if isinstance(exit.code, int) else 1
            except BaseException:
                traceback.print_exc()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)  # it started serving instead of refusing
    os.waitpid(pid, 0)
    return -signal.SIGKILL


@pytest.fixture(scope="module", autouse=True)
def _commands_imported() -> None:
    # What the commands import only when they run, too: the gateway's server and app.
    modules = [module for module, _, _ in COMMAND_MODULES.values()]
    for module in [*modules, "streamwarden.gateway.server"]:
        importlib.import_module(module)


@pytest.mark.parametrize("args", CASES, ids=_id)
def test_a_bad_invocation_is_one_line_and_exit_2(args: list[str], tmp_path: Path) -> None:
    out, err = tmp_path / "out", tmp_path / "err"
    code = _run_in_child(args, out, err)
    stdout, stderr = out.read_text(), err.read_text()
    assert "Traceback" not in stderr + stdout, stderr
    assert code == 2, (code, stderr)
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    command = args[0] if args[0] in COMMANDS else ""
    prefix = f"streamwarden {command}: " if command else "streamwarden: "
    assert lines[0].startswith(prefix), lines[0]


def test_the_table_covers_every_command_and_at_least_25_cases() -> None:
    firsts = {case[0] for case in CASES}
    assert set(COMMANDS) <= firsts
    assert len(CASES) >= 25


def test_help_is_plain_words_with_h() -> None:
    for command in COMMANDS:
        ran = subprocess.run(
            [sys.executable, "-m", "streamwarden", command, "-h"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert ran.returncode == 0, ran.stderr
        shown = ran.stdout
        # No type names as placeholders (`<bool>`, `<list[str]>`, `<int range>`), no `{url}`.
        assert not re.search(r"<(str|int|float|bool|path|list\[|\w+ range)", shown), shown
        assert not re.search(r"\{[a-z_]+\}", shown), shown
        assert "╭" not in shown  # no box
        assert all(line == line.rstrip() for line in shown.splitlines()), "trailing spaces"
        for line in shown.splitlines():
            assert not ("default:" in line and line.count("default") > 1), line


def test_piped_output_has_no_trailing_spaces() -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "streamwarden", "lab", "--list"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() and all(line == line.rstrip() for line in ran.stdout.splitlines())
