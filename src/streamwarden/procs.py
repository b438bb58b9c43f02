"""Real servers on loopback, started and always torn down.

Used by the lab, the Locust engine and the tests: nginx, HAProxy, gunicorn, Redis and Locust
run as child processes in their own session (so a kill reaches every worker), uvicorn apps
run in a thread. Needs nothing beyond the standard library but for `ServerThread` (uvicorn).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import uvicorn


__all__ = [
    "ManagedProcess",
    "ServerThread",
    "find_binary",
    "free_port",
    "haproxy_config",
    "nginx_config",
    "start_haproxy",
    "start_nginx",
    "start_process",
    "wait_for_port",
]


def free_port(host: str = "127.0.0.1") -> int:
    """A port the kernel says is free on `host` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:g}s") from None
            time.sleep(0.02)


def find_binary(name: str) -> str | None:
    """`shutil.which`, also looking in the sbin folders that a non-root PATH lacks."""
    found = shutil.which(name)
    if found:
        return found
    for folder in ("/usr/sbin", "/usr/local/sbin", "/sbin"):
        candidate = Path(folder) / name
        if candidate.exists() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


class ManagedProcess:
    """A child process in its own session; `stop()` ends the whole group, always."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cwd: str | Path | None = None,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        log = open(log_path, "ab") if log_path else subprocess.DEVNULL
        try:
            self.popen = subprocess.Popen(
                self.argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            if log_path:
                log.close()  # type: ignore[union-attr]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signum)

    def stop(self, grace: float = 3.0) -> None:
        try:
            if self.popen.poll() is None:
                self.signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.popen.wait(grace)
        finally:
            # Workers may outlive their master, and a second Ctrl-C may land during the
            # wait above: kill the whole group on every path.
            self.signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(grace)

    def __enter__(self) -> ManagedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def nginx_config(workdir: Path, http_body: str) -> str:
    """A whole nginx.conf that keeps every file inside `workdir` and runs in the foreground."""
    w = workdir.resolve()
    return f"""
worker_processes 1;
pid {w}/nginx.pid;
error_log {w}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {w}/client_body;
    proxy_temp_path {w}/proxy;
    fastcgi_temp_path {w}/fastcgi;
    uwsgi_temp_path {w}/uwsgi;
    scgi_temp_path {w}/scgi;
{http_body}
}}
"""


def start_nginx(
    workdir: Path,
    http_body: str,
    port: int,
    timeout: float = 10.0,
    binary: str | None = None,
    env: dict[str, str] | None = None,
) -> ManagedProcess:
    """Start nginx with `http_body` inside http{}; returns once `port` accepts connections."""
    binary = binary or find_binary("nginx")
    if binary is None:
        raise FileNotFoundError("nginx is not installed (apt-get install -y nginx-light)")
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "nginx.conf"
    conf.write_text(nginx_config(workdir, http_body))
    return start_process(
        [binary, "-p", str(workdir), "-c", str(conf), "-g", "daemon off;"],
        port,
        log_path=workdir / "stderr.log",
        env=env,
        timeout=timeout,
    )


def haproxy_config(body: str) -> str:
    """A whole haproxy.cfg: `body` (defaults, frontends, backends) after a quiet global section."""
    return f"""
global
    maxconn 4096
{body}
"""


def start_haproxy(
    workdir: Path,
    body: str,
    port: int,
    timeout: float = 10.0,
    binary: str | None = None,
    env: dict[str, str] | None = None,
) -> ManagedProcess:
    """Start HAProxy in the foreground with `body`; returns once `port` accepts connections."""
    binary = binary or find_binary("haproxy")
    if binary is None:
        raise FileNotFoundError("haproxy is not installed (apt-get install -y haproxy)")
    workdir.mkdir(parents=True, exist_ok=True)
    conf = workdir / "haproxy.cfg"
    conf.write_text(haproxy_config(body))
    # -db: stay in the foreground, no daemon, so the process we hold is the one that serves.
    return start_process(
        [binary, "-db", "-f", str(conf)],
        port,
        log_path=workdir / "stderr.log",
        env=env,
        timeout=timeout,
    )


def start_process(
    argv: Sequence[str],
    port: int,
    *,
    log_path: Path | None = None,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    timeout: float = 15.0,
) -> ManagedProcess:
    """Start `argv` in its own session; returns once 127.0.0.1:`port` accepts connections.

    If it exits early or never listens, it is stopped and the error carries its log's tail.
    """
    proc = ManagedProcess(argv, cwd=cwd, env=env, log_path=log_path)
    try:
        _wait_or_fail(proc, "127.0.0.1", port, timeout)
    except BaseException:
        proc.stop()
        raise
    return proc


def _wait_or_fail(proc: ManagedProcess, host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if not proc.alive():
            raise RuntimeError(f"{Path(proc.argv[0]).name} exited early: {proc.log_tail()}")
        try:
            wait_for_port(host, port, timeout=0.2)
            return
        except TimeoutError:
            if time.monotonic() > deadline:
                raise


class ServerThread:
    """A real uvicorn server for an ASGI app, on a loopback port, in a daemon thread."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int | None = None, **config: Any):
        self.host = host
        self.port = port or free_port(host)
        config.setdefault("log_level", "warning")
        config.setdefault("lifespan", "off")
        import uvicorn  # only thread servers need it; the process launcher stands alone

        self.server: uvicorn.Server = uvicorn.Server(
            uvicorn.Config(app, host=self.host, port=self.port, **config)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def serve_in_thread(app: Any, **config: Any) -> Iterator[ServerThread]:
    with ServerThread(app, **config) as server:
        yield server
