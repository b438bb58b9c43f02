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

from streamwarden.procs import (
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
    "nginx_with",
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
        # (tests/lab/procscan.py).
        self.env = {**os.environ, LAB_ENV: str(workdir.resolve())}

    def binary(self, name: str) -> str:
        found = self.find(name)
        if found is None:
            raise MissingBinary(name)
        return found

    def listen(self, start: Callable[[int], ManagedProcess], tries: int = 3) -> int:
        """Start a server with `start(port)` on a free port and register it; returns the port.

        `free_port()` only says that a port was free a moment ago: if another process took
        it meanwhile, the server is started again on another one.
        """
        for attempt in range(1, tries + 1):
            port = free_port()
            try:
                self.add(start(port))
            except RuntimeError as exc:
                if attempt == tries or "in use" not in str(exc).lower():
                    raise
            else:
                return port
        raise AssertionError("unreachable")

    def python(self, name: str, args: Callable[[int], Sequence[str]]) -> int:
        """`python -m <args(port)>` with this interpreter, logged to `<workdir>/<name>.log`."""
        log = self.workdir / f"{name}.log"
        return self.listen(
            lambda port: start_process(
                [sys.executable, "-m", *args(port)], port, log_path=log, env=self.env
            )
        )

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
    return lab.python(
        name,
        lambda port: [
            *("uvicorn", app, "--host", HOST, "--port", str(port), "--http", http),
            *("--log-level", "warning", "--no-access-log"),
        ],
    )


def gunicorn_flask(lab: Launcher, workers: int = 4, worker_class: str = "sync") -> int:
    """The Flask streaming app on gunicorn: `sync` holds one stream per worker process."""
    return lab.python(
        "gunicorn",
        lambda port: [
            "gunicorn",
            "streamwarden.lab.apps.flask_stream:app",
            f"--bind={HOST}:{port}",
            f"--workers={workers}",
            f"--worker-class={worker_class}",
            f"--pid={lab.workdir / 'gunicorn.pid'}",
            "--log-level=warning",
        ],
    )


def gateway(
    lab: Launcher, heartbeat: float, *, switches: Sequence[str] = (), **flags: float
) -> int:
    """`streamwarden serve` as users run it; `flags` are its options (`idle_timeout=...`),
    `switches` its options without a value (`--resume`)."""
    # Its drain on SIGTERM, scaled like everything else (30 s -> 1 s): teardown stays quick.
    flags.setdefault("drain_timeout", 1.0)
    options = ["--heartbeat", f"{heartbeat:g}", *switches]
    for key, value in flags.items():
        options += [f"--{key.replace('_', '-')}", f"{value:g}"]
    return lab.python(
        "gateway",
        lambda port: ["streamwarden", "serve", "--host", HOST, "--port", str(port), *options],
    )


def redis_server(lab: Launcher) -> int:
    """A `redis-server` with nothing on disk; returns its port."""
    binary = lab.binary("redis-server")
    return lab.listen(
        lambda port: start_process(
            [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"],
            port,
            log_path=lab.workdir / "redis.log",
            env=lab.env,
            cwd=lab.workdir,
        )
    )


def nginx_over(lab: Launcher, upstreams: Sequence[int]) -> int:
    """nginx balancing streams over `upstreams` (round robin, HTTP/1.1, no buffering); a
    `503` (a replica draining) goes on to the next one."""
    servers = "".join(f"        server {HOST}:{port} max_fails=0;\n" for port in upstreams)
    return nginx_with(
        lab,
        lambda port: (
            f"""
    upstream replicas {{
{servers}    }}
    server {{
        listen {HOST}:{port};
        location / {{
            proxy_pass http://replicas;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_next_upstream error timeout http_503 non_idempotent;
        }}
    }}
"""
        ),
    )


def cancel_app(lab: Launcher) -> int:
    """The naive and the guarded stream of the same model, side by side (`/stats`)."""
    return uvicorn_app(lab, "streamwarden.lab.apps.cancel_stream:app", name="cancel-app")


def nginx_in_front(lab: Launcher, upstream: int, location: str = "") -> int:
    """nginx proxying to `upstream`; `location` holds the directives added to `location /`.

    With no directives it is nginx's default proxy: HTTP/1.0 to the app, buffering on,
    `proxy_read_timeout 60s`.
    """
    inner = "".join(
        f"            {line.strip()}\n" for line in location.splitlines() if line.strip()
    )
    return nginx_with(
        lab,
        lambda port: (
            f"""
    server {{
        listen {HOST}:{port};
        location / {{
            proxy_pass http://{HOST}:{upstream};
{inner}        }}
    }}
"""
        ),
    )


def nginx_with(lab: Launcher, http_body: Callable[[int], str]) -> int:
    """nginx with `http_body(port)` inside `http {}`; returns the port it listens on."""
    binary = lab.binary("nginx")
    workdir = lab.workdir / "nginx"
    return lab.listen(
        lambda port: start_nginx(workdir, http_body(port), port, binary=binary, env=lab.env)
    )


def haproxy_in_front(lab: Launcher, upstream: int, timeout_server: float) -> int:
    """HAProxy in HTTP mode with `timeout server` (silence allowed from the app) scaled down."""
    binary = lab.binary("haproxy")
    workdir = lab.workdir / "haproxy"
    return lab.listen(
        lambda port: start_haproxy(
            workdir, _haproxy_body(port, upstream, timeout_server), port, binary=binary, env=lab.env
        )
    )


def _haproxy_body(port: int, upstream: int, timeout_server: float) -> str:
    return f"""
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


def total_time_limiter(lab: Launcher, upstream: int, cut_after: float) -> int:
    """A relay that cuts each connection `cut_after` seconds after accepting it."""
    return lab.python(
        "limiter",
        lambda port: [
            *("streamwarden.lab.limiter", "--listen", f"{HOST}:{port}"),
            *("--upstream", f"{HOST}:{upstream}", "--cut-after", f"{cut_after:g}"),
        ],
    )
