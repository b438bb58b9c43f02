"""`streamwarden config`: every snippet lints clean, and the nginx one really streams."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from lint_helpers import free_port

from conftest import Ran
from streamwarden.lint import Kind, Limits, SnippetOptions, lint_paths, lint_text
from streamwarden.lint import snippets as sn
from streamwarden.lint.appservers import named

Cli = Callable[..., Ran]
HERE = Path(__file__).parent
UPSTREAM = "http://127.0.0.1:UPSTREAM_PORT"


def wrap_nginx(snippet: str, tmp: Path) -> Path:
    """A minimal full nginx.conf around a snippet, with every writable path inside tmp."""
    temp = "\n".join(
        f"    {kind}_temp_path {tmp}/{kind}_temp;"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\nerror_log {tmp}/error.log;\npid {tmp}/nginx.pid;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n    access_log off;\n{temp}\n{snippet}\n}}\n"
    )
    return conf


def nginx_test(nginx_bin: str, conf: Path) -> subprocess.CompletedProcess[str]:
    tmp = conf.parent
    args = [nginx_bin, "-t", "-p", str(tmp), "-e", f"{tmp}/error.log", "-c", str(conf)]
    return subprocess.run(args, capture_output=True, text=True, timeout=10)


@pytest.mark.parametrize("kind", ["nginx", "haproxy", "gunicorn", "ingress"])
def test_snippet_lints_clean(cli: Cli, kind: str, tmp_path: Path) -> None:
    ran = cli("config", kind, "--upstream", "127.0.0.1:9000", "--listen", "127.0.0.1:8081")
    assert ran.exit_code == 0
    assert "127.0.0.1:9000" in ran.stdout or kind == "ingress"
    names = {"nginx": "site.conf", "haproxy": "haproxy.cfg", "gunicorn": "gunicorn.conf.py"}
    path = tmp_path / names.get(kind, "ingress.yaml")
    path.write_text(ran.stdout)
    result = lint_paths([str(path)])
    assert (result.findings, result.errors) == ([], [])
    assert result.files == [str(path)]


def test_nginx_snippet_also_lints_clean_inside_a_full_config(tmp_path: Path) -> None:
    conf = wrap_nginx(sn.nginx(SnippetOptions()), tmp_path)
    result = lint_paths([str(conf)], Limits(nginx_version=(1, 22, 1)))
    assert (result.findings, result.errors) == ([], [])


def test_ingress_snippet_is_an_ingress() -> None:
    doc = yaml.safe_load(sn.ingress(SnippetOptions(upstream="chat:8000")))
    assert doc["kind"] == "Ingress"
    backend = doc["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "chat", "port": {"number": 8000}}


def test_gunicorn_snippet_is_python_gunicorn_accepts(tmp_path: Path) -> None:
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(sn.gunicorn(SnippetOptions()))
    check = [sys.executable, "-m", "gunicorn", "--check-config", "-c", str(conf), "sse_app:app"]
    ran = subprocess.run(check, capture_output=True, text=True, timeout=20, cwd=HERE)
    assert ran.returncode == 0, ran.stderr


@pytest.mark.nginx
def test_nginx_snippet_passes_nginx_t(nginx_bin: str, tmp_path: Path) -> None:
    conf = wrap_nginx(sn.nginx(SnippetOptions(listen=f"127.0.0.1:{free_port()}")), tmp_path)
    ran = nginx_test(nginx_bin, conf)
    assert ran.returncode == 0, ran.stderr
    assert "syntax is ok" in ran.stderr


@pytest.mark.nginx
def test_nginx_t_rejects_a_broken_snippet(nginx_bin: str, tmp_path: Path) -> None:
    broken = sn.nginx(SnippetOptions()).replace("proxy_buffering off;", "proxy_buffering of;")
    assert nginx_test(nginx_bin, wrap_nginx(broken, tmp_path)).returncode != 0


@pytest.mark.haproxy
def test_haproxy_snippet_passes_haproxy_c(haproxy_bin: str, tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(sn.haproxy(SnippetOptions(listen=f"127.0.0.1:{free_port()}")))
    ran = subprocess.run([haproxy_bin, "-c", "-f", str(cfg)], capture_output=True, text=True)
    assert ran.returncode == 0, ran.stdout + ran.stderr


# -- a real stream through real nginx ----------------------------------------------------------


def wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited early with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{what} did not listen on {port}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def sse_port() -> Iterator[int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(HERE / "sse_app.py"), str(port), "10"])
    try:
        wait_for_port(port, proc, "the SSE app")
        yield port
    finally:
        stop(proc)


@pytest.fixture
def run_nginx(nginx_bin: str, tmp_path: Path) -> Iterator[Callable[[str], int]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(snippet_for_port: str) -> int:
        port = free_port()
        conf = wrap_nginx(snippet_for_port.replace("LISTEN_PORT", str(port)), tmp_path)
        args = [nginx_bin, "-p", str(tmp_path), "-e", f"{tmp_path}/error.log", "-c", str(conf)]
        proc = subprocess.Popen([*args, "-g", "daemon off;"])
        procs.append(proc)
        wait_for_port(port, proc, "nginx")
        return port

    try:
        yield start
    finally:
        for proc in procs:
            stop(proc)


def event_arrivals(port: int) -> list[float]:
    """Seconds from the request to the read that brought each event (raw socket, no client
    library that could buffer)."""
    arrivals: list[float] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        start = time.monotonic()
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        while chunk := sock.recv(65536):
            arrivals += [time.monotonic() - start] * chunk.count(b"data: event")
    return arrivals


@pytest.mark.nginx
def test_stream_flows_one_event_at_a_time_through_the_snippet(
    sse_port: int, run_nginx: Callable[[str], int]
) -> None:
    snippet = sn.nginx(SnippetOptions(upstream=f"127.0.0.1:{sse_port}", listen="LISTEN_PORT"))
    arrivals = event_arrivals(run_nginx(snippet))
    assert len(arrivals) == 10
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    # Spread out like the app sent them (100 ms apart), not one burst at the end.
    assert arrivals[-1] - arrivals[0] > 0.6
    assert sum(1 for gap in gaps if gap > 0.05) >= 7


@pytest.mark.nginx
def test_the_same_stream_through_default_nginx_arrives_in_one_burst(
    sse_port: int, run_nginx: Callable[[str], int]
) -> None:
    # The control that shows the check above can fail. nginx 1.22's defaults (buffering on,
    # HTTP/1.0 to the app) hold the close-delimited stream until it ends, and the linter says so.
    default = f"server {{ listen LISTEN_PORT; location / {{ proxy_pass {UPSTREAM}; }} }}"
    default = default.replace("UPSTREAM_PORT", str(sse_port))
    h11 = Limits(app_server=named("h11"))  # what serves sse_app.py, as a tree would tell
    rules = {f.id for f in lint_text("default.conf", default, Kind.NGINX, h11)}
    assert rules == {"nginx/proxy-buffering"}  # one cause, one finding
    alone = {f.id for f in lint_text("default.conf", default, Kind.NGINX, Limits())}
    assert alone == {"nginx/buffering-unverified"}  # the app unknown: named, not guessed
    arrivals = event_arrivals(run_nginx(default))
    assert len(arrivals) == 10
    assert arrivals[-1] - arrivals[0] < 0.05
    assert arrivals[0] > 0.8  # nothing until the app finished


@pytest.mark.nginx
def test_buffered_but_chunked_streams_pass_as_they_arrive(
    sse_port: int, run_nginx: Callable[[str], int]
) -> None:
    # Measured fact behind the severities (docs/lint.md): with HTTP/1.1 the app answers in
    # chunks, and nginx 1.22 forwards each chunk even with proxy_buffering on. Buffering alone is
    # a warning; buffering plus HTTP/1.0 is what holds a stream back.
    conf = "server { listen LISTEN_PORT; location / { proxy_http_version 1.1; "
    conf += f"proxy_pass {UPSTREAM}; }} }}".replace("UPSTREAM_PORT", str(sse_port))
    arrivals = event_arrivals(run_nginx(conf))
    assert len(arrivals) == 10
    assert arrivals[-1] - arrivals[0] > 0.6
