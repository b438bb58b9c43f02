"""Whether SIGTERM reaches the server a container starts: one rule, for every command line.

A container's stop is SIGTERM to its PID 1, then SIGKILL after the grace period. When a shell
that does not forward signals is PID 1 and the server its child, the server never hears the
SIGTERM: it cannot stop taking streams or drain them, and the SIGKILL cuts every open one.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from streamwarden.lint import baseimages
from streamwarden.lint.cmdline import Command, is_dockerfile
from streamwarden.lint.findings import Finding, Limits, Severity, line_at
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


NGINX_SIGNALS = "https://nginx.org/en/docs/control.html"
NGINX_STOP = rules.note(
    "nginx-stop-signal",
    "nginx is stopped with SIGTERM, its fast shutdown, which drops every open stream",
    Severity.WARNING,
    f"For nginx, TERM and INT are a fast shutdown and QUIT a graceful one ({NGINX_SIGNALS}): "
    "on SIGTERM the workers close every connection at once; on SIGQUIT they stop accepting "
    "and let open requests finish. Measured on nginx 1.22 (tests/lint/test_signals.py): a "
    "stream through nginx ends at once on SIGTERM and runs to its end on SIGQUIT. supervisord "
    "stops a program with SIGTERM unless `stopsignal` says otherwise, and so does Docker "
    "unless the image sets `STOPSIGNAL` (the official nginx images set SIGQUIT).",
)
_SECTION = re.compile(r"^\[(?P<name>[^\]]+)\]\s*$", re.M)
_KEY = re.compile(r"^\s*(?P<key>[a-z_]+)\s*=\s*(?P<value>.*?)\s*$", re.M)
_QUIT = re.compile(r"^(SIG)?QUIT$", re.I)
_START = re.compile(r"^\s*(CMD|ENTRYPOINT)\s+(.*)$", re.I | re.M)
_STOPSIGNAL = re.compile(r"^\s*STOPSIGNAL\s+(\S+)", re.I | re.M)


def _runs_nginx(command: str) -> bool:
    words = command.replace("[", " ").replace('"', " ").replace(",", " ").split()
    return bool(words) and words[0].rsplit("/", 1)[-1] == "nginx"


def nginx_stops(path: str, text: str) -> list[Finding]:
    """nginx started by a supervisord program or a Dockerfile that stops it with SIGTERM."""
    if _SECTION.search(text) and "[program:" in text:
        return _supervisord(path, text)
    if is_dockerfile(path):
        return _dockerfile(path, text)
    return []


def _supervisord(path: str, text: str) -> list[Finding]:
    out: list[Finding] = []
    sections = list(_SECTION.finditer(text))
    for i, section in enumerate(sections):
        if not section.group("name").startswith("program:"):
            continue
        end = sections[i + 1].start() if i + 1 < len(sections) else len(text)
        keys = {m.group("key"): m for m in _KEY.finditer(text, section.end(), end)}
        command = keys.get("command")
        if command is None or not _runs_nginx(command.group("value")):
            continue
        signal = keys.get("stopsignal")
        if signal is not None and _QUIT.match(signal.group("value")):
            continue
        name = section.group("name")
        out.append(
            NGINX_STOP.finding(
                f"[{name}] runs nginx, and supervisord stops it with "
                f"{'SIGTERM (stopsignal unset)' if signal is None else signal.group('value')}: "
                "nginx's fast shutdown, which closes every open connection at once, so each "
                "stream still running is cut on every stop or redeploy.",
                f"Add `stopsignal=QUIT` to [{name}] (nginx's graceful shutdown lets open "
                "streams finish), and a `stopwaitsecs` above the longest stream.",
                path,
                line_at(text, command.start()),
            )
        )
    return out


def _dockerfile(path: str, text: str) -> list[Finding]:
    stage = baseimages.last_stage(text)
    if stage is None:
        return []
    base = stage.base.lower()
    if "nginx" in base or "openresty" in base:
        return []  # the official images stop with SIGQUIT; others built on nginx may too
    starts = [m for m in _START.finditer(stage.text) if _runs_nginx(m.group(2))]
    stop = _STOPSIGNAL.search(stage.text)
    if not starts or (stop is not None and _QUIT.match(stop.group(1))):
        return []
    at = stage.start + starts[-1].start()
    return [
        NGINX_STOP.finding(
            "The image runs nginx and sets no STOPSIGNAL SIGQUIT, so `docker stop` and every "
            "redeploy send SIGTERM: nginx's fast shutdown, which closes every open connection "
            "at once and cuts each stream still running.",
            "Add `STOPSIGNAL SIGQUIT` (as the official nginx image does), and a stop grace "
            "period above the longest stream.",
            path,
            line_at(text, at),
        )
    ]


def check(cmd: Command, file: str, limits: Limits) -> list[Finding]:
    return rules.run(cmd, file, limits)
