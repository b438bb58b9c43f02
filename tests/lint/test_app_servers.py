"""The app server behind an nginx route, read from a tree's start commands: pure functions on
parsed command lines and configs, then whole trees (the verdict behind real nginx is measured
in test_verdicts_nginx.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamwarden.lint import AppServer, Framing, Limits, lint_paths
from streamwarden.lint.appservers import from_command, installs_httptools, named, serving
from streamwarden.lint.cmdline import find_commands, node_servers
from streamwarden.lint.nginx import check, load, routes

BURST_RULES = {"nginx/proxy-buffering", "nginx/http-version", "nginx/ignores-accel-buffering"}
CHUNKED_RULE = "nginx/app-server-chunked"
UNVERIFIED_RULE = "nginx/buffering-unverified"


def server(
    line: str, httptools: bool | None = True, service: str | None = None
) -> AppServer | None:
    [cmd] = find_commands(line)
    return from_command(cmd, httptools, service, "start.sh")


@pytest.mark.parametrize(
    ("line", "httptools", "framing", "ports"),
    [
        # uvicorn's default http is "auto": httptools when it is installed.
        ("uvicorn main:app --port 8001", True, Framing.CHUNKED, {8001}),
        ("uvicorn main:app", True, Framing.CHUNKED, {8000}),
        ("uvicorn main:app --port ${PORT:-9000}", True, Framing.CHUNKED, {9000}),
        ("uvicorn main:app --port $PORT", True, Framing.CHUNKED, set()),
        ("uvicorn main:app --http httptools", False, Framing.CHUNKED, {8000}),
        ("uvicorn main:app --http h11 --port 8000", True, Framing.CLOSE, {8000}),
        ("python -m uvicorn main:app --http=h11", False, Framing.CLOSE, {8000}),
        (
            "gunicorn -k uvicorn.workers.UvicornWorker -b 0.0.0.0:5000 app:app",
            True,
            Framing.CHUNKED,
            {5000},
        ),
        ("gunicorn -k uvicorn_worker.UvicornWorker app:app", True, Framing.CHUNKED, {8000}),
        ("gunicorn -k uvicorn.workers.UvicornH11Worker app:app", True, Framing.CLOSE, {8000}),
        ("gunicorn app:app --bind :8080", True, Framing.CLOSE, {8080}),
        ("gunicorn -k gthread --threads 4 app:app", True, Framing.CLOSE, {8000}),
        ("gunicorn -k gevent app:app", True, Framing.CLOSE, {8000}),
    ],
)
def test_the_framing_of_a_start_command(
    line: str, httptools: bool, framing: Framing, ports: set[int]
) -> None:
    found = server(line, httptools)
    assert found is not None
    assert found.framing is framing
    assert found.ports == ports


@pytest.mark.parametrize(
    "line",
    [
        "uvicorn main:app --port 8001",  # nothing says whether httptools is installed
        "gunicorn -k uvicorn.workers.UvicornWorker app:app",
        "gunicorn -k myapp.workers.CustomWorker app:app",  # a custom class: unknown
        "uvicorn main:app --http ${HTTP_IMPL}",
    ],
)
def test_an_unknown_framing_is_no_server(line: str) -> None:
    assert server(line, httptools=None) is None


@pytest.mark.parametrize(
    ("text", "installs"),
    [
        ("fastapi==0.110\nuvicorn[standard]==0.30\n", True),
        ('dependencies = ["fastapi[standard]>=0.110"]', True),
        ("httptools==0.5.0\nuvicorn==0.22.0\n", True),
        ("RUN pip install 'uvicorn[standard]' fastapi", True),
        # uvicorn's minimal install is pure Python (h11): https://www.uvicorn.org/#quickstart
        ("fastapi==0.110\nuvicorn==0.30\n", False),
        ('[tool.poetry.dependencies]\nuvicorn = "^0.20"\n', False),
        ("RUN pip install --no-cache-dir fastapi uvicorn", False),
        ("vllm==0.6\nuvicorn\n", None),  # vllm installs uvicorn[standard] itself
        ("uvicorn-worker==0.2\n", None),
        ("fastapi\n", None),
    ],
)
def test_httptools_evidence(text: str, installs: bool | None) -> None:
    assert installs_httptools([text]) is installs


CHUNKED_API = AppServer("uvicorn (httptools)", Framing.CHUNKED, frozenset({8000}), "api")
CLOSE_WORKER = AppServer("gunicorn (sync worker)", Framing.CLOSE, frozenset({8000}), "worker")
UNNAMED = AppServer("uvicorn (httptools)", Framing.CHUNKED, frozenset({8001}))


@pytest.mark.parametrize(
    ("targets", "servers", "expected"),
    [
        ([("api", 8000)], (CHUNKED_API, CLOSE_WORKER), CHUNKED_API),
        ([("worker", 8000)], (CHUNKED_API, CLOSE_WORKER), CLOSE_WORKER),
        ([("api", 9000)], (CHUNKED_API,), None),  # the service, not on that port
        ([("web", 8000)], (CHUNKED_API,), None),  # a service the tree starts nothing for
        ([("127.0.0.1", 8000)], (CHUNKED_API, CLOSE_WORKER), None),  # two on that port
        ([("backend", 8001)], (UNNAMED,), UNNAMED),  # one script beside one nginx config
        ([("backend", 3000)], (UNNAMED,), None),
        ([("api", 8000), ("worker", 8000)], (CHUNKED_API, CLOSE_WORKER), None),
        (None, (CHUNKED_API,), None),  # a variable in proxy_pass
    ],
)
def test_which_server_a_route_reaches(
    targets: list[tuple[str, int]] | None,
    servers: tuple[AppServer, ...],
    expected: AppServer | None,
) -> None:
    assert serving(targets, servers) == expected


def test_route_targets_go_through_upstream_blocks() -> None:
    conf = """
    http {
        upstream backend { server api:8000 weight=2; server api2:8000; }
        server {
            location /a { proxy_pass http://backend; }
            location /b { proxy_pass http://api:8000/v1/; }
            location /c { proxy_pass http://$host:8000; }
            location /d { proxy_pass https://api; }
        }
    }
    """
    found = {
        r.label.split("location ")[-1]: r.targets for r in routes(load("n.conf", conf), Limits())
    }
    assert found == {
        "/a": [("api", 8000), ("api2", 8000)],
        "/b": [("api", 8000)],
        "/c": None,
        "/d": [("api", 443)],
    }


def test_the_rule_follows_the_server_it_is_given() -> None:
    loaded = load("n.conf", "server { location /api { proxy_pass http://api:8000; } }")
    ids = {f.id for f in check(loaded, Limits(app_servers=(CHUNKED_API,)))}
    assert ids == {CHUNKED_RULE}
    closed = AppServer("uvicorn --http h11", Framing.CLOSE, frozenset({8000}), "api")
    [finding] = check(loaded, Limits(app_servers=(closed,)))
    assert finding.id == "nginx/proxy-buffering" and "uvicorn --http h11" in finding.summary
    assert {f.id for f in check(loaded, Limits(app_server=named("sanic")))} == {CHUNKED_RULE}
    assert {f.id for f in check(loaded, Limits(app_server=named("node")))} == {
        "nginx/proxy-buffering"
    }


def test_chunked_answers_are_not_held_back_even_with_the_header_ignored() -> None:
    conf = """server { location /api {
        proxy_pass http://api:8000; proxy_ignore_headers X-Accel-Buffering; } }"""
    ids = {f.id for f in check(load("n.conf", conf), Limits(app_servers=(CHUNKED_API,)))}
    assert ids == {CHUNKED_RULE}


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


COMPOSE = """services:
  api:
    build: ./api
    command: uvicorn main:app --host 0.0.0.0 --port 8000{option}
  nginx:
    image: nginx:1.25
"""
SITE = "server {{ listen 80; location /api/ {{ proxy_pass http://{host}:8000; }} }}\n"


@pytest.mark.parametrize(
    ("option", "host", "requirements", "verdict"),
    [
        ("", "api", "fastapi\nuvicorn[standard]\n", CHUNKED_RULE),
        (" --http h11", "api", "fastapi\nuvicorn[standard]\n", "nginx/proxy-buffering"),
        # Plain uvicorn and nothing that installs httptools: h11, close-delimited.
        ("", "api", "fastapi\nuvicorn\n", "nginx/proxy-buffering"),
        # Nothing says how uvicorn is installed: named, not warned.
        ("", "api", "fastapi\n", UNVERIFIED_RULE),
        ("", "web", "fastapi\nuvicorn[standard]\n", UNVERIFIED_RULE),  # another service
    ],
)
def test_a_compose_tree(
    tmp_path: Path, option: str, host: str, requirements: str, verdict: str
) -> None:
    root = write(
        tmp_path,
        {
            "docker-compose.yml": COMPOSE.format(option=option),
            "nginx/default.conf": SITE.format(host=host),
            "api/requirements.txt": requirements,
        },
    )
    result = lint_paths([str(root)])
    ids = {f.id for f in result.findings}
    assert ids & (BURST_RULES | {CHUNKED_RULE, UNVERIFIED_RULE}) == {verdict}


def test_a_kubernetes_deployment_and_a_gunicorn_dockerfile(tmp_path: Path) -> None:
    deployment = """apiVersion: apps/v1
kind: Deployment
metadata: {name: chat}
spec:
  template:
    spec:
      terminationGracePeriodSeconds: 60
      containers:
        - name: app
          image: chat:1
          command: ["gunicorn", "-k", "uvicorn_worker.UvicornWorker", "-b", "0.0.0.0:8000",
                    "--graceful-timeout", "30", "main:app"]
          readinessProbe: {httpGet: {path: /readyz, port: 8000}}
"""
    root = write(
        tmp_path,
        {
            "k8s/deployment.yaml": deployment,
            "nginx.conf": "server { location /v1/ { proxy_pass http://chat:8000; } }\n",
            "pyproject.toml": '[project]\ndependencies = ["fastapi[standard]"]\n',
        },
    )
    ids = {f.id for f in lint_paths([str(root)]).findings}
    assert CHUNKED_RULE in ids and not ids & BURST_RULES

    # gunicorn's own sync worker answers HTTP/1.0 close-delimited: the warning stays.
    other = write(
        tmp_path / "flask",
        {
            "Dockerfile": 'CMD ["gunicorn", "-b", "0.0.0.0:5000", "app:app"]\n',
            "nginx.conf": "server { location /stream { proxy_pass http://app:5000; } }\n",
        },
    )
    findings = lint_paths([str(other)]).findings
    [burst] = [f for f in findings if f.id in BURST_RULES]
    assert "gunicorn (sync worker)" in burst.summary


def test_a_config_file_alone_keeps_its_verdict(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "start.sh": "exec uvicorn main:app --port 8000\n",
            "requirements.txt": "uvicorn[standard]\n",
            "site.conf": SITE.format(host="127.0.0.1"),
        },
    )
    alone = {f.id for f in lint_paths([str(root / "site.conf")]).findings}
    tree = {f.id for f in lint_paths([str(root)]).findings}
    # Alone, nothing says what serves the route: named, neither warned nor cleared.
    assert UNVERIFIED_RULE in alone and not alone & (BURST_RULES | {CHUNKED_RULE})
    assert CHUNKED_RULE in tree and not tree & (BURST_RULES | {UNVERIFIED_RULE})


BUILT = """services:
  backend:
    build: ./backend
  frontend:
    build: {context: ./web, dockerfile: Dockerfile.prod}
  nginx:
    image: nginx:1.25
"""


@pytest.mark.parametrize(("host", "chunked"), [("backend", True), ("frontend", False)])
def test_a_dockerfile_belongs_to_the_compose_service_built_from_it(
    tmp_path: Path, host: str, chunked: bool
) -> None:
    # Both listen on 8000; only the name tells them apart. The front end's Node server
    # answers HTTP/1.0 close-delimited (measured above), so its route bursts.
    root = write(
        tmp_path,
        {
            "docker-compose.yml": BUILT,
            "backend/Dockerfile": 'CMD ["uvicorn", "main:app", "--host", "0.0.0.0"]\n',
            "backend/requirements.txt": "fastapi[standard]\n",
            "web/Dockerfile.prod": 'CMD ["node", "server.js"]\n',
            "nginx/default.conf": SITE.format(host=host),
        },
    )
    result = lint_paths([str(root)])
    assert [s.service for s in result.app_servers] == ["backend", "frontend"]
    ids = {f.id for f in result.findings}
    assert (CHUNKED_RULE in ids) is chunked
    assert bool(ids & BURST_RULES) is not chunked
    assert UNVERIFIED_RULE not in ids
    if not chunked:
        [burst] = [f for f in result.findings if f.id in BURST_RULES]
        assert "Node's http server" in burst.summary


@pytest.mark.parametrize(
    ("line", "starts"),
    [
        ('CMD ["node", "server.js"]', True),
        ("CMD npm start", True),
        ('CMD ["npm", "run", "start"]', True),
        ("web: yarn start", True),
        ('ENTRYPOINT ["pnpm", "run", "dev"]', True),
        ("exec next start -p 3000", True),
        ('CMD ["pm2-runtime", "ecosystem.config.js"]', True),
        ("RUN npm install && npm run build", False),
        ('CMD ["node", "--version"]', False),
        ("RUN echo node server.js", False),
        ("RUN node scripts/build.js", False),
    ],
)
def test_node_start_commands(line: str, starts: bool) -> None:
    assert bool(node_servers(line + "\n")) is starts


def test_a_node_server_in_compose_is_matched_by_its_service_name(tmp_path: Path) -> None:
    compose = "services:\n  chat:\n    image: chat-ui\n    command: node build/index.js\n"
    root = write(
        tmp_path,
        {
            "docker-compose.yml": compose,
            "nginx.conf": "server { location /api { proxy_pass http://chat:3000; } }\n",
        },
    )
    result = lint_paths([str(root)])
    assert [(s.service, s.framing) for s in result.app_servers] == [("chat", Framing.CLOSE)]
    assert "nginx/proxy-buffering" in {f.id for f in result.findings}
    # Another host on the same port is not that server.
    other = write(
        tmp_path / "other",
        {
            "docker-compose.yml": compose,
            "nginx.conf": "server { location /api { proxy_pass http://api:3000; } }\n",
        },
    )
    assert "nginx/proxy-buffering" not in {f.id for f in lint_paths([str(other)]).findings}


def test_a_host_that_is_another_service_matches_nothing() -> None:
    assert serving([("web", 8001)], (UNNAMED,), frozenset({"web", "api"})) is None
    assert serving([("127.0.0.1", 8001)], (UNNAMED,), frozenset({"web"})) == UNNAMED
