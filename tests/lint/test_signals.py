"""`container/shell-in-front`, re-measured on this machine's shells: a shell that forks the
server stays its parent (the container's PID 1) and keeps SIGTERM from it; one that execs it
hands over. The linter says "in front" exactly for the scripts whose shell stays."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

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
