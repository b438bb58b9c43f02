"""Which nginx routes carry streams, and whether the app itself turns buffering off: the route
rules (pure, on parsed configs) and the app-source scan of a linted tree."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Ran
from streamwarden.lint import Limits, lint_paths
from streamwarden.lint.appheaders import header_lines, is_app_source
from streamwarden.lint.nginx import load, proxied, why_not_streaming


def skipped(text: str, tmp_path: Path) -> dict[str, str | None]:
    """Each proxied location's path -> why it is skipped (None: treated as streaming)."""
    path = tmp_path / "site.conf"
    path.write_text(text)
    out: dict[str, str | None] = {}
    for pp, chain in proxied(load(str(path), text).root):
        where = " ".join(chain[-1].args)
        out[where] = why_not_streaming(chain, Limits(), pp)
    return out


def test_a_catch_all_beside_the_api_serves_the_front_end(tmp_path: Path) -> None:
    # LibreChat, SuperAGI, TaskingAI: the API (and its streams) has its own location.
    routes = skipped(
        "server {\n location /api/ { proxy_pass http://api:3080; }\n"
        " location / { proxy_pass http://api:3080/; }\n}\n",
        tmp_path,
    )
    assert routes["/api/"] is None
    why = routes["/"]
    assert why is not None and "front end" in why and "/api/" in why


@pytest.mark.parametrize("api", ["/v1/", "/backend", "/graphql", "/api"])
def test_api_like_siblings(tmp_path: Path, api: str) -> None:
    routes = skipped(
        f"server {{ location {api} {{ proxy_pass http://b; }} location / {{ proxy_pass http://b; }} }}",
        tmp_path,
    )
    assert routes["/"] is not None
    assert routes[api] is None


def test_a_catch_all_beside_a_websocket_serves_the_front_end(tmp_path: Path) -> None:
    # GPT Researcher: the research stream is the upgraded connection, not `location /`.
    routes = skipped(
        "server {\n location / { proxy_pass http://web; }\n"
        " location /live { proxy_pass http://b; proxy_http_version 1.1;\n"
        "  proxy_set_header Upgrade $http_upgrade; proxy_set_header Connection upgrade; }\n}\n",
        tmp_path,
    )
    assert routes["/"] is not None and "/live" in (routes["/"] or "")


def test_a_catch_all_to_a_front_end_service(tmp_path: Path) -> None:
    for host in ("frontend:80", "gui:3000", "web-frontend", "client"):
        routes = skipped(f"server {{ location / {{ proxy_pass http://{host}; }} }}", tmp_path)
        assert routes["/"] is not None, host


def test_a_catch_all_that_is_the_only_route_still_streams(tmp_path: Path) -> None:
    # QAnything and FastGPT proxy everything through `location /`; static siblings and
    # redirects are not an API beside it, and a front-end name only counts for the catch-all.
    routes = skipped(
        "server {\n location /ui/ { root /srv; }\n location /ui { return 301 /ui/; }\n"
        " location / { proxy_pass http://localhost:8777; }\n"
        " location /chat { proxy_pass http://frontend:3000; }\n}\n",
        tmp_path,
    )
    assert routes == {"/": None, "/chat": None}


def test_a_nested_location_is_not_a_catch_all(tmp_path: Path) -> None:
    routes = skipped(
        "server { location /api { proxy_pass http://b; }\n"
        " location /app { location / { proxy_pass http://b; } } }",
        tmp_path,
    )
    assert routes["/"] is None


def test_image_and_icon_paths_are_not_streams(tmp_path: Path) -> None:
    routes = skipped(
        "server { location /imgs/ { proxy_pass http://b; } location /avatars { proxy_pass http://b; }"
        " location /img/x { proxy_pass http://b; } location /imagine { proxy_pass http://b; } }",
        tmp_path,
    )
    assert routes["/imagine"] is None
    assert all(routes[p] is not None for p in ("/imgs/", "/avatars", "/img/x"))


@pytest.mark.parametrize(
    "line",
    [
        'headers={"X-Accel-Buffering": "no"}',
        "res.setHeader('X-Accel-Buffering', 'no');",
        'w.Header().Set("X-Accel-Buffering", "no")',
        'response.headers["x-accel-buffering"] = "no"',
        "'X-Accel-Buffering' => 'no',",
        "  'X-Accel-Buffering': 'no',",
    ],
)
def test_header_set_to_no_in_source(line: str) -> None:
    assert header_lines(f"first\n{line}\n") == [2]


@pytest.mark.parametrize(
    "line",
    ['"X-Accel-Buffering": "yes"', "# X-Accel-Buffering matters", 'ignore = ["X-Accel-Buffering"]'],
)
def test_other_mentions_are_not_the_header(line: str) -> None:
    assert header_lines(line) == []


def test_tests_are_not_app_source() -> None:
    assert is_app_source("api/server/middleware/setHeaders.js")
    assert is_app_source("app/sse.py")
    for path in ("tests/test_sse.py", "api/__tests__/sse.js", "sse.test.ts", "sse_test.go", "a.md"):
        assert not is_app_source(path), path


SITE = "server {\n location /api/ {\n  proxy_pass http://api:3080;\n }\n}\n"


def test_a_tree_whose_app_sends_the_header(tmp_path: Path) -> None:
    (tmp_path / "nginx.conf").write_text(SITE)
    src = tmp_path / "api" / "middleware"
    src.mkdir(parents=True)
    (src / "setHeaders.js").write_text(
        "function setHeaders(req, res, next) {\n"
        "  res.writeHead(200, {\n    'Content-Type': 'text/event-stream',\n"
        "    'X-Accel-Buffering': 'no',\n  });\n  next();\n}\n"
    )
    result = lint_paths([str(tmp_path)])
    assert result.findings == []
    assert result.app_headers == [f"{src / 'setHeaders.js'}:4"]
    # Named alone, the config says nothing about the app: the route stays unverified.
    alone = lint_paths([str(tmp_path / "nginx.conf")])
    assert [f.id for f in alone.findings] == ["nginx/buffering-unverified"]
    assert alone.app_headers == []


def test_a_header_in_tests_or_vendored_code_does_not_count(tmp_path: Path) -> None:
    (tmp_path / "nginx.conf").write_text(SITE)
    for folder in ("tests", "node_modules/sse-lib"):
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "sse.js").write_text("h = {'X-Accel-Buffering': 'no'}\n")
    result = lint_paths([str(tmp_path)])
    assert [f.id for f in result.findings] == ["nginx/buffering-unverified"]
    assert result.app_headers == []


def test_the_summary_names_where_the_header_was_found(
    tmp_path: Path, cli: Callable[..., Ran]
) -> None:
    (tmp_path / "nginx.conf").write_text(SITE)
    (tmp_path / "sse.py").write_text('HEADERS = {"X-Accel-Buffering": "no"}\n')
    ran = cli("lint", str(tmp_path))
    assert ran.exit_code == 0, ran.stdout + ran.stderr
    assert "the app sends X-Accel-Buffering: no" in ran.stdout
    assert "sse.py:1" in ran.stdout


def test_sign_in_admin_and_docs_pages_are_not_streams(tmp_path: Path) -> None:
    routes = skipped(
        "server { location /oauth2/ { proxy_pass http://b; } location /admin { proxy_pass http://b; }"
        " location = /docs { proxy_pass http://b; } location /api/docs/chat { proxy_pass http://b; }"
        " location /authors/stream { proxy_pass http://b; } }",
        tmp_path,
    )
    assert routes["/api/docs/chat"] is None and routes["/authors/stream"] is None
    assert all(routes[p] is not None for p in ("/oauth2/", "/admin", "= /docs"))


APPS = Path(__file__).parent / "real_apps"
HOLDOUT = Path(__file__).parent / "real_holdout"


@pytest.mark.parametrize(
    ("project", "config"),
    [("librechat", "librechat/nginx.conf"), ("fastgpt", "fastgpt/nginx.conf")],
)
def test_real_apps_that_send_the_header(tmp_path: Path, project: str, config: str) -> None:
    # The held-out corpus's false alarms, with the app's real source beside the config: the
    # tree scan finds the header where LibreChat and FastGPT set it, and the route is cleared.
    shutil.copytree(APPS / project, tmp_path / project)
    shutil.copy(HOLDOUT / config, tmp_path / project / "nginx.conf")
    alone = lint_paths([str(tmp_path / project / "nginx.conf")])
    assert "nginx/buffering-unverified" in {f.id for f in alone.findings}
    tree = lint_paths([str(tmp_path / project)])
    assert not {"nginx/buffering-unverified", "nginx/proxy-buffering"} & {
        f.id for f in tree.findings
    }
    assert len(tree.app_headers) == 1


def test_a_project_kept_under_a_tests_folder_is_still_an_app(tmp_path: Path) -> None:
    # Only the path inside the linted directory says "test", not where the directory sits.
    root = tmp_path / "tests" / "project"
    shutil.copytree(APPS / "librechat", root)
    shutil.copy(HOLDOUT / "librechat/nginx.conf", root / "nginx.conf")
    assert lint_paths([str(root)]).app_headers != []


def test_a_regex_api_location_is_an_api_sibling(tmp_path: Path) -> None:
    # Onyx: `location ~ ^/(api|openapi.json)(/.*)?$` beside the web server's catch-all.
    routes = skipped(
        "server { location ~ ^/(api|openapi.json)(/.*)?$ { proxy_pass http://b; }"
        " location / { proxy_pass http://web; } }",
        tmp_path,
    )
    assert routes["/"] is not None
    routes = skipped(
        "server { location ~ ^/(chat|[) { proxy_pass http://b; } location / { proxy_pass http://web; } }",
        tmp_path,
    )
    assert routes["/"] is None  # an invalid regex is no evidence


def test_an_auth_request_target_is_not_a_stream(tmp_path: Path) -> None:
    # Astron Agent: `auth_request /_gateway_auth/workflow;` guards the workflow routes, and the
    # location it names answers nginx's access check, never the client.
    routes = skipped(
        "server { location /workflow/ { auth_request /_gateway_auth/workflow;"
        " proxy_pass http://b; } location = /_gateway_auth/workflow { internal;"
        " proxy_pass http://auth; } }",
        tmp_path,
    )
    assert routes["/workflow/"] is None
    why = routes["= /_gateway_auth/workflow"]
    assert why is not None and "auth_request" in why


def test_an_admin_api_is_an_api(tmp_path: Path) -> None:
    # RuoYi's `/admin-api/` carries the admin console's whole API, AI chat streams included.
    routes = skipped(
        "server { location /admin-api/ { proxy_pass http://b; } location /admin/ { proxy_pass"
        " http://b; } location /auth-api { proxy_pass http://b; } }",
        tmp_path,
    )
    assert routes["/admin-api/"] is None and routes["/auth-api"] is None
    assert routes["/admin/"] is not None
