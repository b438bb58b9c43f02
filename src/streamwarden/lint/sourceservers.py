"""Which app server the app's own source starts, for a tree whose start commands do not say.

Many projects start their server from code (`uvicorn.run(…)`, `app.listen(3000)`,
`http.ListenAndServe(":8080", …)`, a Spring Boot main class) behind a start command that names
no server (`python main.py`, `node dist/index.js`, `java -jar app.jar`, a compiled binary). How
such a server frames a stream for nginx's HTTP/1.0 request is known for these:

- Go's net/http (and gin, echo, chi, gorilla on top of it): close-delimited. `net/http`'s
  `chunkWriter.writeHeader`: "HTTP version < 1.1: cannot do chunked transfer encoding".
- Spring MVC on its embedded Tomcat (a `@SpringBootApplication`, or controllers where the build
  names `spring-boot-starter-web`): close-delimited. Tomcat's `Http11Processor.prepareResponse`
  chunks only `if (entityBody && http11 && …)`, otherwise it writes the body as is and closes
  the connection; HTTP/1.0 has no chunks, so Undertow and Jetty in its place do the same.
- Node's http server (Express, Koa, Fastify, `http.createServer`): close-delimited (measured,
  tests/lint/test_verdicts_nginx.py).
- aiohttp's `web.run_app`: close-delimited (`StreamResponse._prepare_headers`).
- `uvicorn.run(…)`: chunked on httptools, close-delimited with `http="h11"` or without
  httptools installed; unknown when nothing says whether it is.

Servers on other stacks (fasthttp, Fiber, Hertz, WebFlux on Netty, Bun, Werkzeug) are left
unknown. A port is read only from a literal; without one the server is matched to a route by
its Compose service alone.
"""

from __future__ import annotations

import ast
import dataclasses
import os
import re

from streamwarden.lint import appservers
from streamwarden.lint.appheaders import MAX_CHARS
from streamwarden.lint.cmdline import COMPUTED, Command
from streamwarden.lint.findings import AppServer, Framing, line_at

_GO_HTTP = re.compile(
    r'"net/http"|"github\.com/(?:gin-gonic/gin|labstack/echo[^"]*|go-chi/chi[^"]*|gorilla/mux)"'
)
_GO_OTHER = re.compile(r'"github\.com/(?:valyala/fasthttp|gofiber/fiber[^"]*|cloudwego/hertz[^"]*)')
_GO_START = re.compile(r'(?:ListenAndServe(?:TLS)?|\.Run|\.Start)\(\s*(?:"[^"\n]*?:(\d+)")?')
_SPRING_MAIN = re.compile(r"@SpringBootApplication\b")
_SPRING_CONTROLLER = re.compile(r"@(Rest)?Controller\b")
# A servlet starter (Tomcat, or Undertow/Jetty in its place): all close-delimit HTTP/1.0.
_SERVLET_STARTER = re.compile(r"\bspring-boot-starter-web(?!flux)\b")
CONTROLLER = "Spring MVC controller"
_REACTIVE = re.compile(r"\bspring-boot-starter-webflux\b|\borg\.springframework\.web\.reactive\b")
_NODE_APP = re.compile(
    r"\bexpress\s*\(\s*\)|\bhttp\.createServer\s*\(|\bcreateServer\s*\(|\bnew\s+Koa\s*\("
    r"|\bfastify\s*\("
)
_NODE_LISTEN = re.compile(r"\.listen\s*\(\s*(\d+)?")
_NODE_PORT = re.compile(r"\bPORT\b[^=\n]*=[^;\n]*?\b(\d{2,5})\b")
_AIOHTTP_RUN = re.compile(r"\bweb\.run_app\s*\(")
_KWARG_PORT = re.compile(r"\bport\s*=\s*(\d+)")
_SERVER_PORT = re.compile(r"^\s*server\.port\s*[=:]\s*(?:\$\{[^:}]+:)?(\d+)", re.M)
_SERVER_PORT_YAML = re.compile(
    r"^server:\s*\n(?:[ \t]+#.*\n|[ \t]*\n)*[ \t]+port:\s*(?:\$\{[^:}]+:)?(\d+)", re.M
)

TOMCAT_PORT = 8080  # Spring Boot's server.port default
GIN_PORT = 8080  # gin's Run() with no address
AIOHTTP_PORT = 8080  # web.run_app's default port


def _ports(value: str | None) -> frozenset[int]:
    if value is None or not 0 < int(value) < 65536:
        return frozenset()
    return frozenset({int(value)})


def _call_args(text: str, start: int) -> str:
    """The text of a call's arguments, up to its closing parenthesis (or 600 characters)."""
    depth, end = 1, start
    for end in range(start, min(len(text), start + 600)):
        depth += {"(": 1, ")": -1}.get(text[end], 0)
        if depth == 0:
            break
    return text[start:end]


_STARTS = re.compile(
    r"ListenAndServe|\.Run\(|\.Start\(|@SpringBootApplication|@(?:Rest)?Controller\b"
    r"|\.listen\s*\(|uvicorn\.(?:run|Config)"
    r"|run_app"
)


def may_start_a_server(text: str) -> bool:
    """A cheap first look, so that only these files are kept for `from_source`."""
    return _STARTS.search(text[:MAX_CHARS]) is not None


def from_source(
    path: str, text: str, httptools: bool | None, uvicorn: list[Command] | None = None
) -> list[AppServer]:
    """The app servers one source file starts, when their framing is known. `uvicorn`: the
    file's `uvicorn_commands`, when the caller has them already."""
    text = text[:MAX_CHARS]
    name = path.lower()
    if name.endswith(".go"):
        return _go(path, text)
    if name.endswith((".java", ".kt")):
        main = _SPRING_MAIN.search(text)
        found = main or _SPRING_CONTROLLER.search(text)
        if found is None:
            return []
        # A controller whose main class is elsewhere is a server only where the build says
        # which (with_spring_build).
        what = "Spring Boot on Tomcat" if main else CONTROLLER
        line = line_at(text, found.start())
        return [AppServer(what, Framing.CLOSE, frozenset({TOMCAT_PORT}), None, path, line)]
    if name.endswith((".js", ".mjs", ".cjs", ".ts")):
        return _node(path, text)
    if name.endswith(".py"):
        return _python(
            path, text, httptools, uvicorn_commands(text) if uvicorn is None else uvicorn
        )
    return []


def _go(path: str, text: str) -> list[AppServer]:
    if not _GO_HTTP.search(text) or _GO_OTHER.search(text):
        return []
    gin = "gin-gonic/gin" in text
    for match in _GO_START.finditer(text):
        call = match.group(0)
        if call.startswith((".Run", ".Start")) and not (gin or "labstack/echo" in text):
            continue  # .Run/.Start of something that is not a web framework
        port = match.group(1)
        if (
            port is None
            and gin
            and call.startswith(".Run")
            and _call_args(text, match.end()).strip() == ""
        ):
            port = str(GIN_PORT)
        return [
            AppServer(
                "Go's net/http",
                Framing.CLOSE,
                _ports(port),
                None,
                path,
                line_at(text, match.start()),
            )
        ]
    return []


def _node(path: str, text: str) -> list[AppServer]:
    if not _NODE_APP.search(text):
        return []
    listen = _NODE_LISTEN.search(text)
    if listen is None:
        return []
    port = listen.group(1)
    if port is None:
        named = _NODE_PORT.search(text)
        port = named.group(1) if named else None
    return [
        AppServer(
            "Node's http server",
            Framing.CLOSE,
            _ports(port),
            None,
            path,
            line_at(text, listen.start()),
        )
    ]


# uvicorn.run()'s and uvicorn.Config()'s keywords, as the command-line options they mirror.
UVICORN_KEYWORDS = {
    "port": "--port",
    "http": "--http",
    "uds": "--uds",
    "fd": "--fd",
    "timeout_graceful_shutdown": "--timeout-graceful-shutdown",
    "timeout_keep_alive": "--timeout-keep-alive",
    "limit_concurrency": "--limit-concurrency",
}


def uvicorn_commands(text: str) -> list[Command]:
    """`uvicorn.run(…)` and `uvicorn.Config(…)` calls as the uvicorn command lines they
    amount to: a literal keyword becomes its option, a computed one the unknown value, and
    `**settings` makes every option unknown (given, value not known)."""
    try:
        tree = ast.parse(text[:MAX_CHARS])
    except (SyntaxError, ValueError):
        return []
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"run", "Config"}
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "uvicorn"
    ]
    main = {id(n) for block in _main_blocks(tree) for n in ast.walk(block)}
    if any(id(call) not in main for call in calls):
        # A file with an entry function (`def run(): uvicorn.run(…)`, what a console script
        # starts) and a `__main__` start of the same server: the latter is the developer's.
        calls = [call for call in calls if id(call) not in main]
    out = []
    for node in calls:
        argv = ["uvicorn"]
        if any(k.arg is None for k in node.keywords):
            for unknown in UVICORN_KEYWORDS.values():
                if unknown not in {"--uds", "--fd", "--port", "--http"}:
                    argv += [unknown, COMPUTED]
        for keyword in node.keywords:
            option = UVICORN_KEYWORDS.get(keyword.arg or "")
            if option is None:
                continue
            value = keyword.value
            if isinstance(value, ast.Constant) and value.value is not None:
                argv += [option, str(value.value)]
            else:
                argv += [option, COMPUTED]
        out.append(Command("uvicorn", tuple(argv), node.lineno))
    return out


def _main_blocks(tree: ast.Module) -> list[ast.If]:
    """The module's `if __name__ == "__main__":` blocks."""
    return [
        node
        for node in tree.body
        if isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
        and any(
            isinstance(c, ast.Constant) and c.value == "__main__" for c in node.test.comparators
        )
    ]


def _python(
    path: str, text: str, httptools: bool | None, uvicorn: list[Command]
) -> list[AppServer]:
    out = []
    for cmd in uvicorn:
        server = appservers.from_command(cmd, httptools, None, path)
        if server is not None:
            out.append(server)
    for match in _AIOHTTP_RUN.finditer(text):
        port = _KWARG_PORT.search(_call_args(text, match.end()))
        ports = _ports(port.group(1) if port else str(AIOHTTP_PORT))
        line = line_at(text, match.start())
        out.append(AppServer("aiohttp web.run_app", Framing.CLOSE, ports, None, path, line))
    return out


def is_spring_build(path: str) -> bool:
    """A file that says how a Spring Boot app is built or configured: its build file (which
    names the web stack) or its application settings (which name the port)."""
    name = os.path.basename(path).lower()
    if name in {"pom.xml", "build.gradle", "build.gradle.kts"}:
        return True
    return name.startswith("application") and name.endswith((".properties", ".yml", ".yaml"))


def with_spring_build(servers: list[AppServer], texts: list[str]) -> list[AppServer]:
    """Spring Boot servers as the build says: none on WebFlux (Netty, framing unknown), and
    on the literal `server.port` of the application settings when they set one. Controllers
    without their main class count, once, only where a build file names a servlet starter."""
    controllers = [s for s in servers if s.name == CONTROLLER]
    servers = [s for s in servers if s.name != CONTROLLER]
    mains = any(s.name.startswith("Spring Boot") for s in servers)
    if controllers and not mains and any(_SERVLET_STARTER.search(t) for t in texts):
        servers.append(dataclasses.replace(controllers[0], name="Spring Boot (servlet starter)"))
    if not any(s.name.startswith("Spring Boot") for s in servers):
        return servers
    if any(_REACTIVE.search(text) for text in texts):
        return [s for s in servers if not s.name.startswith("Spring Boot")]
    port = None
    for text in texts:
        match = _SERVER_PORT.search(text) or _SERVER_PORT_YAML.search(text)
        if match:
            port = int(match.group(1))
            break
    if port is None:
        return servers
    return [
        dataclasses.replace(s, ports=_ports(str(port))) if s.name.startswith("Spring") else s
        for s in servers
    ]
