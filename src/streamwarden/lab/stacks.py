"""The lab's stacks: real servers on free loopback ports, always torn down.

A `Launcher` is the context manager for one scenario. Every process it starts is registered
the moment it listens, and `close()` stops them all in reverse order (front proxy first)
on every exit path: success, failure, Ctrl-C. The stack functions below each start one
piece and return the port it listens on, so a scenario composes them front to back.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from streamwarden.lab.procs import (
    ManagedProcess,
    find_binary,
    free_port,
    start_haproxy,
    start_nginx,
    start_process,
)

__all__ = [
    "HOST",
    "LAB_ENV",
    "Launcher",
    "MissingBinary",
    "cancel_app",
    "gateway",
    "gunicorn_flask",
    "haproxy_in_front",
    "nginx_in_front",
    "total_time_limiter",
    "uvicorn_app",
]

HOST = "127.0.0.1"
#: Environment variable set in every process the lab starts, to the scenario's workdir.
LAB_ENV = "STREAMWARDEN_LAB_WORKDIR"
BinaryLookup = Callable[[str], str | None]


class MissingBinary(RuntimeError):
    """A system server the stack needs is not installed."""


class Launcher:
    """Starts the processes of one scenario under `workdir` and stops every one of them."""

    def __init__(self, workdir: Path, find: BinaryLookup = find_binary) -> None:
        self.workdir = workdir
        self.find = find
        self.processes: list[ManagedProcess] = []
        workdir.mkdir(parents=True, exist_ok=True)
        # Every child carries this mark, so a leak can be found from outside
        # (`procs.processes_referring_to`).
        self.env = {**os.environ, LAB_ENV: str(workdir.resolve())}

    @property
    def session_ids(self) -> list[int]:
        """Each process leads its own session: these ids cover its workers too."""
        return [proc.pid for proc in self.processes]

    def binary(self, name: str) -> str:
        found = self.find(name)
        if found is None:
            raise MissingBinary(name)
        return found

    def python(self, name: str, args: Sequence[str], port: int) -> int:
        """`python -m ...` with this interpreter, logged to `<workdir>/<name>.log`."""
        argv = [sys.executable, "-m", *args]
        self.add(start_process(argv, port, log_path=self.workdir / f"{name}.log", env=self.env))
        return port

    def add(self, proc: ManagedProcess) -> ManagedProcess:
        self.processes.append(proc)
        return proc

    def close(self) -> None:
        # Front to back, so no proxy keeps retrying a backend that is already gone. Each stop
        # is independent: one failing (or a second Ctrl-C) must not leave the others running.
        errors: list[BaseException] = []
        for proc in reversed(self.processes):
            try:
                proc.stop()
            except BaseException as exc:
                errors.append(exc)
        if errors:
            raise errors[0]

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def uvicorn_app(lab: Launcher, app: str, name: str = "uvicorn", http: str = "auto") -> int:
    """An ASGI app (`module:attr`) on uvicorn, one process, as `uvicorn app` runs it.

    `http="h11"` matters behind nginx 1.22, which proxies with HTTP/1.0: h11 answers that
    close-delimited (as HTTP/1.0 requires, and as gunicorn and aiohttp do), which nginx
    buffers; httptools (uvicorn[standard]'s default) answers chunked, which nginx forwards
    chunk by chunk.
    """
    port = free_port()
    args = ["uvicorn", app, "--host", HOST, "--port", str(port), "--http", http]
    return lab.python(name, [*args, "--log-level", "warning", "--no-access-log"], port)


def gunicorn_flask(lab: Launcher, workers: int = 4, worker_class: str = "sync") -> int:
    """The Flask streaming app on gunicorn: `sync` holds one stream per worker process."""
    port = free_port()
    args = [
        "gunicorn",
        "streamwarden.lab.apps.flask_stream:app",
        f"--bind={HOST}:{port}",
        f"--workers={workers}",
        f"--worker-class={worker_class}",
        f"--pid={lab.workdir / 'gunicorn.pid'}",
        "--log-level=warning",
    ]
    return lab.python("gunicorn", args, port)


def gateway(lab: Launcher, heartbeat: float, **flags: float) -> int:
    """`streamwarden serve` as users run it; `flags` are its options (`idle_timeout=...`)."""
    port = free_port()
    # Its drain on SIGTERM, scaled like everything else (30 s -> 1 s): teardown stays quick.
    flags.setdefault("drain_timeout", 1.0)
    args = ["streamwarden", "serve", "--host", HOST, "--port", str(port)]
    args += ["--heartbeat", f"{heartbeat:g}"]
    for key, value in flags.items():
        args += [f"--{key.replace('_', '-')}", f"{value:g}"]
    return lab.python("gateway", args, port)


def cancel_app(lab: Launcher) -> int:
    """The naive and the guarded stream of the same model, side by side (`/stats`)."""
    return uvicorn_app(lab, "streamwarden.lab.apps.cancel_stream:app", name="cancel-app")


def nginx_in_front(lab: Launcher, upstream: int, location: str = "") -> int:
    """nginx proxying to `upstream`; `location` holds the directives added to `location /`.

    With no directives it is nginx's default proxy: HTTP/1.0 to the app, buffering on,
    `proxy_read_timeout 60s`.
    """
    port = free_port()
    inner = "".join(
        f"            {line.strip()}\n" for line in location.splitlines() if line.strip()
    )
    body = f"""
    server {{
        listen {HOST}:{port};
        location / {{
            proxy_pass http://{HOST}:{upstream};
{inner}        }}
    }}
"""
    return nginx_with(lab, body, port)


def nginx_with(lab: Launcher, http_body: str, port: int) -> int:
    """nginx with `http_body` inside `http {}`, listening on `port`."""
    binary = lab.binary("nginx")
    lab.add(start_nginx(lab.workdir / "nginx", http_body, port, binary=binary, env=lab.env))
    return port


def haproxy_in_front(lab: Launcher, upstream: int, timeout_server: float) -> int:
    """HAProxy in HTTP mode with `timeout server` (silence allowed from the app) scaled down."""
    port = free_port()
    body = f"""
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server {int(timeout_server * 1000)}ms
    # Without it HAProxy sends with MSG_MORE and the kernel holds small writes up to 200 ms.
    # That delay is not time-scaled, so in the lab it would read as a 6 s first token.
    option http-no-delay
frontend lab
    bind {HOST}:{port}
    default_backend app
backend app
    server app1 {HOST}:{upstream}
"""
    binary = lab.binary("haproxy")
    lab.add(start_haproxy(lab.workdir / "haproxy", body, port, binary=binary, env=lab.env))
    return port


def total_time_limiter(lab: Launcher, upstream: int, cut_after: float) -> int:
    """A relay that cuts each connection `cut_after` seconds after accepting it."""
    port = free_port()
    args = ["streamwarden.lab.limiter", "--listen", f"{HOST}:{port}"]
    args += ["--upstream", f"{HOST}:{upstream}", "--cut-after", f"{cut_after:g}"]
    return lab.python("limiter", args, port)
