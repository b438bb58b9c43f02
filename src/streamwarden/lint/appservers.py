"""Which app server answers behind an nginx route, and how it frames a stream for nginx.

nginx (before 1.29.7) asks the app with HTTP/1.0. An app server that still answers a streamed
body with `Transfer-Encoding: chunked` (uvicorn on httptools, the default whenever httptools is
installed) lets nginx pass each chunk on as it comes, buffering or not; one that answers
close-delimited, as HTTP/1.0 asks (uvicorn `--http h11`, gunicorn's sync, gthread and gevent
workers, Node's http server, Go's net/http, aiohttp), leaves nginx holding the events in its
buffers until they fill or the stream ends (measured, tests/lint/test_verdicts_nginx.py).

A linted tree names its app servers in its start commands (Dockerfile, Procfile, scripts,
Compose `command`, Kubernetes `command`/`args`); a route is matched to one by the Compose
service or workload name in `proxy_pass` and by port. Anything less certain is unknown, and
the route keeps the verdict it gets without an app server.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from streamwarden.lint import baseimages, gunicorn
from streamwarden.lint.cmdline import Command, options
from streamwarden.lint.findings import AppServer, Framing
from streamwarden.lint.shellvalues import expand

UVICORN_OPTIONS = {"--http": "http", "--port": "port", "--uds": "uds", "--fd": "fd"}
GUNICORN_BIND = {"-b": "bind", "--bind": "bind"}
DEFAULT_PORT = 8000  # uvicorn's --port and gunicorn's --bind both default to 8000
# gunicorn's uvicorn workers run uvicorn with its default http ("auto": httptools if installed).
UVICORN_WORKERS = {"uvicorn.workers.UvicornWorker", "uvicorn_worker.UvicornWorker"}
UVICORN_H11_WORKERS = {"uvicorn.workers.UvicornH11Worker", "uvicorn_worker.UvicornH11Worker"}
# gunicorn's own workers answer HTTP/1.0 without chunks (gunicorn.http.wsgi.Response.is_chunked).
CLOSE_WORKERS = gunicorn.SYNC | gunicorn.THREADED | gunicorn.GREEN
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]", "0.0.0.0"}

# Files that say which packages a project installs, and the words that mean httptools.
REQUIREMENT_FILES = re.compile(
    r"^(requirements[\w.-]*\.(txt|in)|pyproject\.toml|setup\.(py|cfg)|Pipfile(\.lock)?|"
    r"poetry\.lock|uv\.lock|environment\.ya?ml|(Docker|Container)file[\w.-]*|[\w.-]+\.dockerfile)$",
    re.I,
)
_HTTPTOOLS = re.compile(
    r"\bhttptools\b|\buvicorn\s*\[[^\]]*\bstandard\b|\bfastapi\s*\[[^\]]*\b(standard|all)\b",
    re.I,
)

# Packages whose own requirements install httptools (uvicorn[standard]) for the app.
_PULLS_HTTPTOOLS = re.compile(
    r"\b(vllm|sanic|fastapi-cli|litserve|bentoml)\b|\bray\s*\[[^\]]*\bserve\b", re.I
)
# uvicorn installed without extras: a requirement line, a pyproject dependency, `pip install`.
_PLAIN_UVICORN = re.compile(
    r"""^\s*["']?uvicorn(?![\w\[.-])(?!["']?\s*\[)|\bpip3?\s+install\b[^\n]*\suvicorn(?![\w\[.-])""",
    re.I | re.M,
)

# What `--app-server` accepts: the servers whose framing of HTTP/1.0 answers is known.
NAMED: dict[str, tuple[str, Framing]] = {
    "uvicorn": ("uvicorn (httptools)", Framing.CHUNKED),
    "sanic": ("Sanic", Framing.CHUNKED),
    "h11": ("uvicorn --http h11", Framing.CLOSE),
    "gunicorn": ("gunicorn (sync, gthread or gevent worker)", Framing.CLOSE),
    "node": ("Node's http server", Framing.CLOSE),
    "go": ("Go's net/http", Framing.CLOSE),
    "aiohttp": ("aiohttp", Framing.CLOSE),
}


def named(value: str) -> AppServer:
    """The app server `--app-server VALUE` names (KeyError for an unknown one)."""
    name, framing = NAMED[value]
    return AppServer(f"{name}, from --app-server {value},", framing)


def is_requirements(path: str) -> bool:
    return REQUIREMENT_FILES.match(os.path.basename(path)) is not None


def installs_httptools(texts: Iterable[str]) -> bool | None:
    """Whether the project installs httptools, which uvicorn's default `--http auto` then
    uses: True where requirement files or Dockerfiles name it (`uvicorn[standard]`,
    `fastapi[standard]`, `httptools`, a base image that has it); False where they install
    plain `uvicorn` (its minimal install is pure Python: h11) and nothing that pulls
    httptools in (`vllm`, `ray[serve]`, `sanic`, `fastapi-cli`); None when nothing says."""
    texts = list(texts)
    if any(_HTTPTOOLS.search(t) or baseimages.installs_httptools(t) for t in texts):
        return True
    if any(_PULLS_HTTPTOOLS.search(t) for t in texts):
        return None
    return False if any(_PLAIN_UVICORN.search(t) for t in texts) else None


def _port(text: str | None) -> int | None:
    if text is None or not text.isdigit() or not 0 < int(text) < 65536:
        return None
    return int(text)


def _bind_port(bind: str | None) -> int | None:
    if bind is None or bind.startswith(("unix:", "fd://")):
        return None
    return _port(bind.rpartition(":")[2])


def _uvicorn_http(
    http: str | None, httptools: bool | None, what: str
) -> tuple[str, Framing] | None:
    if http == "h11":
        return f"{what} --http h11", Framing.CLOSE
    if http == "httptools" or (http == "auto" and httptools):
        return f"{what} (httptools)", Framing.CHUNKED
    if http == "auto" and httptools is False:
        return f"{what} (h11: plain uvicorn, no httptools installed)", Framing.CLOSE
    return None  # auto with nothing said about httptools, or unknown


def from_command(
    cmd: Command,
    httptools: bool | None,
    service: str | None = None,
    file: str | None = None,
    settings: gunicorn.Settings | None = None,
) -> AppServer | None:
    """The app server a command line starts, when its framing is known. `settings`: the
    gunicorn command's settings merged with its config file, when the caller read it."""
    if cmd.program == "uwsgi":
        return None  # its HTTP router's framing for nginx's HTTP/1.0 is unmeasured
    if cmd.program == "uvicorn":
        opts = options(cmd.argv, UVICORN_OPTIONS)
        http = expand(opts.get("http", "auto"))
        found = _uvicorn_http(http, httptools, "uvicorn")
        if found is None:
            return None
        if "uds" in opts or "fd" in opts:
            port = None
        else:
            port = _port(expand(opts.get("port", str(DEFAULT_PORT))))
        ports = frozenset() if port is None else frozenset({port})
        return AppServer(found[0], found[1], ports, service, file, cmd.line)
    settings = settings or gunicorn.from_command(cmd, file or "")
    worker = settings.worker()
    if worker in UVICORN_WORKERS:
        found = _uvicorn_http("auto", httptools, f"gunicorn -k {worker}")
    elif worker in UVICORN_H11_WORKERS:
        found = (f"gunicorn -k {worker}", Framing.CLOSE)
    elif worker in CLOSE_WORKERS:
        found = (f"gunicorn ({worker} worker)", Framing.CLOSE)
    else:
        found = None  # a custom or unknown worker class
    if found is None:
        return None
    # The command line's --bind wins over the config file's `bind`; unset, 8000.
    bind = options(cmd.argv, GUNICORN_BIND).get("bind")
    if bind is None and "bind" in settings.values:
        bind = settings.values["bind"].text
    elif bind is None:
        bind = None if settings.unreadable else f":{DEFAULT_PORT}"
    port = _bind_port(expand(bind) if bind is not None else None)
    ports = frozenset() if port is None else frozenset({port})
    return AppServer(found[0], found[1], ports, service, file, cmd.line)


NODE_PORT_OPTIONS = {"-p": "port", "--port": "port"}


def from_node(cmd: Command, service: str | None, file: str | None) -> AppServer:
    """A Node server (`node server.js`, `npm start`, `next start`): close-delimited to HTTP/1.0.
    Its port is read only from `-p`/`--port` (`next start -p 3000`); unknown otherwise, so it
    is matched by its Compose service or workload name alone."""
    port = _port(expand(options(cmd.argv, NODE_PORT_OPTIONS).get("port", "")) or None)
    ports = frozenset() if port is None else frozenset({port})
    name = f"Node's http server (`{' '.join(cmd.argv[:2])}`)"
    return AppServer(name, Framing.CLOSE, ports, service, file, cmd.line)


def target(url: str) -> tuple[str, int] | None:
    """(host, port) of `http://host:port/…` (None: a variable or no URL)."""
    match = re.match(r"^(https?)://(\[[^\]]+\]|[^/:$]+)(?::(\d+))?(?:/|$)", url, re.I)
    if match is None or "$" in url.split("/")[2]:
        return None
    port = _port(match.group(3)) if match.group(3) else (443 if match.group(1) == "https" else 80)
    return (match.group(2).lower(), port) if port else None


def serving(
    targets: list[tuple[str, int]] | None,
    servers: tuple[AppServer, ...],
    hosts: frozenset[str] = frozenset(),
) -> AppServer | None:
    """The app server behind a route's targets, or None when that is not certain.

    A target's host must name the service that runs the server (Compose service, workload),
    or, in a tree that names no services, be any host whose port the server listens on (one
    start script next to one nginx config). A host that is one of the tree's other services
    (`hosts`: a Node front end without a command) matches nothing. Every target must lead to
    servers that frame answers the same way."""
    if not targets or not servers:
        return None
    services = {s.service for s in servers if s.service} | set(hosts)
    found: list[AppServer] = []
    for host, port in targets:
        listening = [s for s in servers if port in s.ports]
        if host in services:
            # A server whose port is unknown (a Node server) is matched by its name alone.
            named = [s for s in servers if s.service == host and not s.ports]
            listening = [s for s in listening if s.service == host] + named
        elif services and host not in LOOPBACK:
            return None  # a host the tree names no server for
        if not listening:
            return None
        found += listening
    return found[0] if len({s.framing for s in found}) == 1 else None
