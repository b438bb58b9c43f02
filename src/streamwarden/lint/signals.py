"""Whether SIGTERM reaches the server a container starts: one rule, for every command line.

A container's stop is SIGTERM to its PID 1, then SIGKILL after the grace period. When a shell
that does not forward signals is PID 1 and the server its child, the server never hears the
SIGTERM: it cannot stop taking streams or drain them, and the SIGKILL cuts every open one.
"""

from __future__ import annotations

from collections.abc import Callable

from streamwarden.lint.cmdline import Command
from streamwarden.lint.findings import Finding, Limits, Severity
from streamwarden.lint.registry import Registry

DOCKER_DOCS = "https://docs.docker.com/reference/dockerfile/#shell-and-exec-form"

Check = Callable[[Command, str, Limits], list[Finding]]
rules: Registry[Check] = Registry("container")


@rules.rule(
    "shell-in-front",
    "a shell stays in front of the server, so SIGTERM never reaches it",
    Severity.WARNING,
    "A Dockerfile's shell form runs the command under `/bin/sh -c`, which \"does not pass "
    f'signals" ({DOCKER_DOCS}); as PID 1 the shell also ignores SIGTERM, so the stop waits '
    "out the grace period and SIGKILLs the server with its streams. Measured on Debian's dash "
    '0.5.12 and bash 5.2 (tests/lint/test_signals.py): `sh -c "server"` keeps the server as '
    'its child; `bash -c "a && server"` execs it, `bash -c "set -e; a && server"` does not; '
    "a script file forks every command, its last one too, under both shells; `exec server` "
    "always replaces the shell. A script that traps TERM is taken to pass it on.",
)
def shell_in_front(cmd: Command, file: str, limits: Limits) -> list[Finding]:
    if cmd.shell is None:
        return []
    return [
        rules.info("shell-in-front").finding(
            f"{cmd.program} runs under {cmd.shell}, which stays in front of it (the "
            "container's PID 1, or the process a supervisor signals) and does not pass "
            f"signals: on every stop or redeploy SIGTERM never reaches {cmd.program}, which "
            "cannot drain, and the SIGKILL at the end of the grace period cuts every open "
            "stream.",
            f"Start it with `exec {cmd.program} …` inside the script, or use the exec form "
            f'(`CMD ["{cmd.program}", …]`), so the server is PID 1 and gets SIGTERM.',
            file,
            cmd.line,
        )
    ]


def check(cmd: Command, file: str, limits: Limits) -> list[Finding]:
    return rules.run(cmd, file, limits)
