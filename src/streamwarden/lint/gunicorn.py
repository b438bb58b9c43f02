"""gunicorn: `gunicorn.conf.py` files and gunicorn command lines.

The config file is read with `ast`, never executed: only literal assignments count, and a
setting computed at run time (`workers = cpu_count() * 2`) is treated as unknown.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from streamwarden.lint.cmdline import Command, options
from streamwarden.lint.durations import number, show
from streamwarden.lint.findings import Finding, Limits, Severity

SETTINGS = ("worker_class", "workers", "threads", "timeout", "graceful_timeout", "keepalive")
DEFAULTS = {"worker_class": "sync", "threads": "1", "timeout": "30", "graceful_timeout": "30"}
DEFAULTS["keepalive"] = "2"
ALIASES = {
    "-k": "worker_class",
    "--worker-class": "worker_class",
    "-w": "workers",
    "--workers": "workers",
    "--threads": "threads",
    "-t": "timeout",
    "--timeout": "timeout",
    "--graceful-timeout": "graceful_timeout",
    "--keep-alive": "keepalive",
}
# Load balancers keep idle connections this long by default (ALB 60 s); the app must outlast it.
LB_IDLE = 60.0
DEPRECATED_UVICORN = "uvicorn.workers.UvicornWorker"
SYNC = {"sync", "gunicorn.workers.sync.SyncWorker"}
THREADED = {"gthread", "gunicorn.workers.gthread.ThreadWorker"}


@dataclass(frozen=True, slots=True)
class Settings:
    """Settings as written, each with the line it is on (None: not set, the default applies)."""

    values: dict[str, tuple[str, int]]
    line: int  # where to report defaults: the command line, or line 1 of a config file

    def get(self, name: str) -> tuple[str, int | None]:
        if name in self.values:
            value, line = self.values[name]
            return value, line
        return DEFAULTS.get(name, ""), None


def from_conf_py(source: str) -> Settings:
    """Literal top-level assignments of a gunicorn.conf.py."""
    tree = ast.parse(source)
    values: dict[str, tuple[str, int]] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in SETTINGS and node.value:
                    try:
                        value = ast.literal_eval(node.value)
                    except ValueError:
                        continue  # computed at run time: unknown
                    values[target.id] = (str(value), node.lineno)
    return Settings(values, 1)


def from_command(cmd: Command) -> Settings:
    opts = options(cmd.argv, ALIASES)
    return Settings({k: (v, cmd.line) for k, v in opts.items()}, cmd.line)


def check(settings: Settings, file: str, limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    worker, worker_line = settings.get("worker_class")
    threads = number(settings.get("threads")[0]) or 1
    workers = settings.get("workers")[0]
    # gunicorn switches sync to gthread by itself when threads > 1.
    if worker in SYNC and threads > 1:
        worker = "gthread"
    capacity = f"{workers} worker(s)" if workers else "the worker count"
    at = worker_line or settings.line

    if worker in SYNC:
        out.append(
            Finding(
                "gunicorn/sync-worker",
                Severity.ERROR,
                f"gunicorn uses the sync worker{'' if worker_line else ' (the default)'}: each "
                "open stream holds a whole worker process for its 15-90 s life, so at "
                f"{capacity} streams at once the next request waits a stream length or fails.",
                "Use an async worker: `-k uvicorn_worker.UvicornWorker` for ASGI apps "
                "(or `-k gevent` for WSGI apps).",
                file=file,
                line=at,
            )
        )
    elif worker in THREADED:
        total = f"{workers} x {threads:g} threads" if workers else f"{threads:g} threads per worker"
        out.append(
            Finding(
                "gunicorn/sync-worker",
                Severity.WARNING,
                f"gunicorn uses gthread: each open stream holds a thread for its whole life, so "
                f"concurrency stops at {total} streams and the next request queues.",
                "Use `-k uvicorn_worker.UvicornWorker` (ASGI) or `-k gevent` (WSGI), or raise "
                "--threads to the number of concurrent streams you expect.",
                file=file,
                line=at,
            )
        )
    if worker == DEPRECATED_UVICORN:
        out.append(
            Finding(
                "gunicorn/deprecated-uvicorn-worker",
                Severity.WARNING,
                "`uvicorn.workers.UvicornWorker` is deprecated and will be removed from uvicorn.",
                "`pip install uvicorn-worker` and use `-k uvicorn_worker.UvicornWorker`.",
                file=file,
                line=at,
            )
        )

    # The arbiter kills a worker that stays busy past `timeout`; only the sync worker stays
    # busy for a whole request (gthread and async workers keep notifying the arbiter).
    timeout, timeout_line = settings.get("timeout")
    seconds = number(timeout)
    if worker in SYNC and seconds and seconds < limits.max_duration:
        out.append(
            Finding(
                "gunicorn/timeout",
                Severity.ERROR,
                f"timeout is {show(seconds)}{'' if timeout_line else ' (default)'}: the sync "
                "worker serving a stream is busy all along, and gunicorn kills it after "
                f"{show(seconds)}, cutting any stream longer than that (--max-duration is "
                f"{show(limits.max_duration)}).",
                "Switch to an async worker; with sync, set "
                f"`--timeout {int(limits.max_duration) + 30}`.",
                file=file,
                line=timeout_line or settings.line,
            )
        )

    graceful, graceful_line = settings.get("graceful_timeout")
    seconds = number(graceful)
    if seconds is not None and seconds < limits.max_duration:
        out.append(
            Finding(
                "gunicorn/graceful-timeout",
                Severity.WARNING,
                f"graceful_timeout is {show(seconds)}{'' if graceful_line else ' (default)'}: "
                f"on every deploy or reload, streams still running after {show(seconds)} are "
                f"killed mid-answer (--max-duration is {show(limits.max_duration)}).",
                f"Set `--graceful-timeout {int(limits.max_duration) + 30}` (and a matching "
                "terminationGracePeriodSeconds), or end streams cleanly on SIGTERM.",
                file=file,
                line=graceful_line or settings.line,
            )
        )

    keepalive, keepalive_line = settings.get("keepalive")
    seconds = number(keepalive)
    if worker not in SYNC and seconds is not None and seconds <= LB_IDLE:
        out.append(
            Finding(
                "gunicorn/keepalive",
                Severity.WARNING,
                f"keepalive is {show(seconds)}{'' if keepalive_line else ' (default)'}, shorter "
                f"than a load balancer's idle timeout (ALB: {show(LB_IDLE)}): gunicorn closes "
                "idle connections the balancer still reuses, and the next request on one gets "
                "a 502.",
                f"Set `--keep-alive {int(LB_IDLE) + 15}` (above the balancer's idle timeout).",
                file=file,
                line=keepalive_line or settings.line,
            )
        )
    return out
