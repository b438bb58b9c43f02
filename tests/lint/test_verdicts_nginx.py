"""The nginx burst verdicts, re-measured on real nginx: for each combination of buffering,
HTTP version, `X-Accel-Buffering` and `proxy_ignore_headers`, and for the app server's own
framing (uvicorn on httptools answers nginx's HTTP/1.0 in chunks, on h11 close-delimited), the
linter says "bursts" exactly when a real stream through real nginx (lab stacks) arrives in one
burst."""

from __future__ import annotations

import importlib.util
import socket
import time
from pathlib import Path

import pytest

from streamwarden.lab.stacks import HOST, Launcher, MissingBinary, nginx_in_front, uvicorn_app
from streamwarden.lint import Kind, Limits, lint_paths, lint_text
from streamwarden.lint.appservers import named
from streamwarden.procs import start_process

HERE = Path(__file__).parent
BURST_RULES = {"nginx/proxy-buffering", "nginx/http-version", "nginx/ignores-accel-buffering"}
CASES = [
    # (directives in location /, app, the app sends X-Accel-Buffering: no)
    ("", "sse_app:app", False),
    ("proxy_http_version 1.1;", "sse_app:app", False),
    ("proxy_buffering off;", "sse_app:app", False),
    ("", "sse_app:accel_app", True),
    ("proxy_ignore_headers X-Accel-Buffering;", "sse_app:accel_app", True),
]


def arrivals(port: int) -> list[float]:
    out: list[float] = []
    with socket.create_connection((HOST, port), timeout=10) as sock:
        start = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        while chunk := sock.recv(65536):
            out += [time.monotonic() - start] * chunk.count(b"data: event")
    return out


@pytest.mark.nginx
@pytest.mark.parametrize(("directives", "app", "accel"), CASES)
def test_linter_says_bursts_exactly_when_nginx_bursts(
    lab: Launcher, directives: str, app: str, accel: bool
) -> None:
    try:
        # h11 answers nginx's HTTP/1.0 close-delimited, as HTTP/1.0 requires.
        upstream = uvicorn_app(lab, app, name=app.replace(":", "-"), http="h11")
        port = nginx_in_front(lab, upstream, directives)
    except MissingBinary as exc:
        pytest.skip(f"{exc} is not installed")
    got = arrivals(port)
    assert len(got) == 10
    # The app sends one event every 100 ms: spread out, or held back into one burst.
    measured_bursts = got[-1] - got[0] < 0.3
    conf = f"server {{ location / {{ proxy_pass http://{HOST}:{upstream}; {directives} }} }}"
    # The linter is told what serves the app, as a linted tree or --app-server would.
    limits = Limits(app_sends_accel_buffering=accel, app_server=named("h11"))
    said = {f.id for f in lint_text("site.conf", conf, Kind.NGINX, limits)} & BURST_RULES
    assert bool(said) == measured_bursts, (directives, app, got)
    # Told nothing about the app, it names the burst-prone route instead of guessing.
    alone = {
        f.id
        for f in lint_text("site.conf", conf, Kind.NGINX, Limits(app_sends_accel_buffering=accel))
    }
    assert not alone & BURST_RULES - {"nginx/ignores-accel-buffering"}
    assert ("nginx/buffering-unverified" in alone) == (measured_bursts and not accel), alone


@pytest.mark.nginx
@pytest.mark.parametrize("http", ["httptools", "h11"])
def test_the_app_servers_framing_decides_behind_default_nginx(
    lab: Launcher, tmp_path: Path, http: str
) -> None:
    # nginx's defaults (buffering on, HTTP/1.0): uvicorn's default http is httptools whenever
    # httptools is installed (uvicorn[standard]); `--http h11` is the close-delimited case.
    if http == "httptools" and importlib.util.find_spec("httptools") is None:
        pytest.skip("httptools is not installed")
    try:
        upstream = uvicorn_app(lab, "sse_app:app", name=f"sse-{http}", http=http)
        port = nginx_in_front(lab, upstream)
    except MissingBinary as exc:
        pytest.skip(f"{exc} is not installed")
    got = arrivals(port)
    assert len(got) == 10
    measured_bursts = got[-1] - got[0] < 0.3
    assert measured_bursts == (http == "h11"), (http, got)

    # The same deployment as a project tree: the nginx site, the start script, the requirements.
    site = f"server {{ location /api {{ proxy_pass http://{HOST}:{upstream}; }} }}"
    (tmp_path / "site.conf").write_text(site)
    option = " --http h11" if http == "h11" else ""
    start = f"#!/bin/sh\nexec uvicorn sse_app:app --port {upstream}{option}\n"
    (tmp_path / "start.sh").write_text(start)
    (tmp_path / "requirements.txt").write_text("uvicorn[standard]\n")
    ids = {f.id for f in lint_paths([str(tmp_path)]).findings}
    assert bool(ids & BURST_RULES) == measured_bursts, ids
    assert ("nginx/app-server-chunked" in ids) == (not measured_bursts), ids


@pytest.mark.nginx
def test_a_node_app_bursts_behind_default_nginx(lab: Launcher) -> None:
    # Node's http server answers nginx's HTTP/1.0 close-delimited, like uvicorn on h11.
    try:
        node = lab.binary("node")
        upstream = lab.listen(
            lambda p: start_process(
                [node, str(HERE / "sse_app.js"), str(p)],
                p,
                log_path=lab.workdir / "node.log",
                env=lab.env,
            )
        )
        port = nginx_in_front(lab, upstream)
    except MissingBinary as exc:
        pytest.skip(f"{exc} is not installed")
    got = arrivals(port)
    assert len(got) == 10
    assert got[-1] - got[0] < 0.3, got  # one burst
    conf = f"server {{ location / {{ proxy_pass http://{HOST}:{upstream}; }} }}"
    said = lint_text("site.conf", conf, Kind.NGINX, Limits(app_server=named("node")))
    assert {f.id for f in said} & BURST_RULES
