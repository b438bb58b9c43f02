"""Which app server the app's own source starts: the scan (pure, on text) and how a linted
tree matches those servers to nginx routes when no start command names one."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamwarden.lint import lint_paths
from streamwarden.lint.findings import Framing
from streamwarden.lint.sourceservers import from_source, uvicorn_commands, with_spring_build

GO = (
    'package main\n\nimport (\n\t"fmt"\n\t"net/http"\n)\n\n'
    'func main() {\n\thttp.HandleFunc("/api/chat", chat)\n'
    '\tlog.Fatal(http.ListenAndServe(":8080", nil))\n}\n'
)
GIN = 'import "github.com/gin-gonic/gin"\n\nfunc main() {\n\tr := gin.Default()\n\tr.Run()\n}\n'
FIBER = 'import "github.com/gofiber/fiber/v2"\nimport "net/http"\napp.Listen(":3000")\nhttp.ListenAndServe(":1", nil)\n'
SPRING = "@SpringBootApplication\npublic class ChatApplication {\n}\n"
EXPRESS = (
    "const app = express();\nconst PORT = process.env.PORT || 3001;\napp.listen(PORT, () => {});\n"
)
UVICORN_H11 = (
    'if __name__ == "__main__":\n    uvicorn.run(app, host="0.0.0.0", port=7860, http="h11")\n'
)
UVICORN = 'uvicorn.run("main:app", port=9000)\n'
AIOHTTP = "web.run_app(app)\n"


@pytest.mark.parametrize(
    ("path", "text", "httptools", "name", "ports", "line"),
    [
        ("cmd/main.go", GO, False, "Go's net/http", {8080}, 10),
        ("main.go", GIN, False, "Go's net/http", {8080}, 5),
        ("ChatApplication.java", SPRING, False, "Spring Boot on Tomcat", {8080}, 1),
        ("server.js", EXPRESS, False, "Node's http server", {3001}, 3),
        ("app.py", UVICORN_H11, False, "uvicorn --http h11", {7860}, 2),
        ("app.py", UVICORN, True, "uvicorn (httptools)", {9000}, 1),
        ("app.py", AIOHTTP, False, "aiohttp web.run_app", {8080}, 1),
    ],
)
def test_servers_started_from_code(
    path: str, text: str, httptools: bool, name: str, ports: set[int], line: int
) -> None:
    [server] = from_source(path, text, httptools)
    assert (server.name, set(server.ports), server.line) == (name, ports, line)
    chunked = name == "uvicorn (httptools)"
    assert server.framing is (Framing.CHUNKED if chunked else Framing.CLOSE)


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("main.go", FIBER),  # fasthttp underneath: framing unknown
        ("app.py", UVICORN),  # httptools unknown
        ("worker.go", 'import "net/http"\nfunc main() { job.Run() }\n'),  # not a web server
        ("client.js", "fetch(url); socket.listen(3000);\n"),  # no http server made here
        ("app.py", "app.run(port=5000)\n"),  # Werkzeug: framing unmeasured
    ],
    ids=["fiber", "uvicorn-unknown-httptools", "go-job", "js-no-server", "flask"],
)
def test_unknown_servers_are_left_out(path: str, text: str) -> None:
    assert from_source(path, text, None) == []


def test_the_spring_build_decides_port_and_stack() -> None:
    [server] = from_source("App.java", SPRING, False)
    [moved] = with_spring_build([server], ["server:\n  port: ${PORT:6039}\n"])
    assert moved.ports == frozenset({6039})
    props = with_spring_build([server], ["spring.application.name=chat\nserver.port=9090\n"])
    assert props[0].ports == frozenset({9090})
    pom = "<artifactId>spring-boot-starter-webflux</artifactId>"
    assert with_spring_build([server], [pom]) == []  # Netty: unknown


SITE = "server {\n location /api/ {\n  proxy_pass http://%s;\n  proxy_read_timeout 3600s;\n }\n}\n"


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def ids(root: Path) -> list[str]:
    return [f.id for f in lint_paths([str(root)]).findings]


def test_a_go_backend_in_the_tree_bursts_behind_nginx_defaults(tmp_path: Path) -> None:
    root = write(tmp_path, {"nginx.conf": SITE % "backend:8080", "cmd/main.go": GO})
    assert ids(root) == ["nginx/proxy-buffering"]
    # The same config alone does not know what serves it.
    assert [f.id for f in lint_paths([str(root / "nginx.conf")]).findings] == [
        "nginx/buffering-unverified"
    ]


def test_a_spring_backend_on_its_configured_port(tmp_path: Path) -> None:
    files = {
        "nginx.conf": SITE % "ruoyi-admin:6039",
        "src/main/java/org/App.java": SPRING,
        "src/main/resources/application.yml": "server:\n  port: 6039\n",
    }
    root = write(tmp_path, files)
    assert "nginx/proxy-buffering" in ids(root)
    # On another port than the route's, the server serves something else: unknown.
    (root / "src/main/resources/application.yml").write_text("server:\n  port: 7000\n")
    assert "nginx/proxy-buffering" not in ids(root)


def test_the_header_in_the_source_still_clears_the_route(tmp_path: Path) -> None:
    go = GO.replace(
        "func main", 'func h(w) { w.Header().Set("X-Accel-Buffering", "no") }\nfunc main'
    )
    root = write(tmp_path, {"nginx.conf": SITE % "127.0.0.1:8080", "main.go": go})
    assert ids(root) == []


def test_source_in_a_compose_build_context_belongs_to_its_service(tmp_path: Path) -> None:
    compose = (
        "services:\n  api:\n    build: ./api\n  web:\n    build: ./web\n"
        "  nginx:\n    image: nginx\n"
    )
    root = write(
        tmp_path,
        {
            "compose.yaml": compose,
            "nginx.conf": SITE % "api:3001",
            "api/server.js": EXPRESS,
            "web/main.go": GO,
        },
    )
    result = lint_paths([str(root)])
    assert {(s.name, s.service) for s in result.app_servers} == {
        ("Node's http server", "api"),
        ("Go's net/http", "web"),
    }
    [finding] = [f for f in result.findings if f.id == "nginx/proxy-buffering"]
    assert "Node's http server" in finding.summary


def test_a_start_command_is_the_surer_word(tmp_path: Path) -> None:
    # The Dockerfile runs uvicorn on httptools; a __main__ block with http="h11" is not used.
    root = write(
        tmp_path,
        {
            "nginx.conf": SITE % "127.0.0.1:8000",
            "Dockerfile": 'FROM python\nRUN pip install "uvicorn[standard]"\n'
            'CMD ["uvicorn", "app:app", "--port", "8000"]\n',
            "app.py": UVICORN_H11.replace("7860", "8000"),
        },
    )
    result = lint_paths([str(root)])
    assert [s.name for s in result.app_servers] == ["uvicorn (httptools)"]
    assert "nginx/proxy-buffering" not in {f.id for f in result.findings}


MAIN = 'import uvicorn\n\nif __name__ == "__main__":\n    uvicorn.run(app, host="0.0.0.0", port=8000%s)\n'


@pytest.mark.parametrize(
    ("extra", "flagged"),
    [
        ("", True),
        (", timeout_graceful_shutdown=900", False),
        (", timeout_graceful_shutdown=settings.drain", False),  # computed: unknown
        (", **settings", False),  # any option may be in there
    ],
)
def test_uvicorn_run_meets_uvicorns_rules(tmp_path: Path, extra: str, flagged: bool) -> None:
    root = write(
        tmp_path,
        {"Dockerfile": 'FROM python\nCMD ["python", "main.py"]\n', "main.py": MAIN % extra},
    )
    found = [f for f in lint_paths([str(root)]).findings if f.id == "uvicorn/graceful-shutdown"]
    assert [(Path(f.file or "").name, f.line) for f in found] == (
        [("main.py", 4)] if flagged else []
    )


def test_uvicorn_run_beside_a_uvicorn_command_is_not_the_deploy_path(tmp_path: Path) -> None:
    root = write(
        tmp_path,
        {
            "Dockerfile": 'FROM python\nCMD ["uvicorn", "main:app", "--timeout-graceful-shutdown", "60"]\n',
            "main.py": MAIN % "",
        },
    )
    assert "uvicorn/graceful-shutdown" not in ids(root)


def test_uvicorn_config_counts_too() -> None:
    [cmd] = uvicorn_commands("config = uvicorn.Config(app, port=9000, timeout_keep_alive=75)\n")
    assert cmd.argv == ("uvicorn", "--port", "9000", "--timeout-keep-alive", "75")


def test_a_main_block_beside_an_entry_function_is_the_developer_s_start() -> None:
    # ai-inference-study: the console script runs `run()`; `python main.py` is the
    # developer's start with reload=True. Only the first one is the deployed server.
    code = (
        "import uvicorn\n\ndef run():\n    uvicorn.run('app:app', reload=False)\n\n"
        "if __name__ == '__main__':\n    uvicorn.run('app:app', reload=True)\n"
    )
    assert [cmd.line for cmd in uvicorn_commands(code)] == [4]
    alone = "import uvicorn\n\nif __name__ == '__main__':\n    uvicorn.run('app:app')\n"
    assert [cmd.line for cmd in uvicorn_commands(alone)] == [4]


CONTROLLER = "@RestController\npublic class ChatController {\n}\n"
POM = "<dependency><artifactId>spring-boot-starter-web</artifactId></dependency>\n"


def test_a_controller_counts_where_the_build_names_a_servlet_starter(tmp_path: Path) -> None:
    # bella-openapi: the controllers are in the tree, the main class is not.
    files = {"nginx.conf": SITE % "127.0.0.1:8080", "src/ChatController.java": CONTROLLER}
    root = write(tmp_path, files)
    assert lint_paths([str(root)]).app_servers == []  # nothing says which server runs it
    (root / "pom.xml").write_text(POM)
    [server] = lint_paths([str(root)]).app_servers
    assert server.name == "Spring Boot (servlet starter)" and server.ports == frozenset({8080})
    assert "nginx/proxy-buffering" in ids(root)


def test_a_compose_container_name_is_a_host_nginx_may_use(tmp_path: Path) -> None:
    compose = "services:\n  api:\n    build: ./api\n    container_name: chat-api\n"
    root = write(
        tmp_path,
        {"compose.yaml": compose, "nginx.conf": SITE % "chat-api:3001", "api/server.js": EXPRESS},
    )
    assert {s.service for s in lint_paths([str(root)]).app_servers} == {"api", "chat-api"}
    assert "nginx/proxy-buffering" in ids(root)
