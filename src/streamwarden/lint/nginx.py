"""nginx: load a config (following includes and `nginx -T` dumps), then give each proxied route
that streams one verdict from all its settings together.

Loading is the only I/O. The rules are pure functions over `Directive` trees. A setting that
cannot be read here (an include that is not in the linted files, a `${VAR}` template
placeholder) is *unknown*, never the default: no rule fires on it, and one info finding names it.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import crossplane  # the ngxparse distribution installs the `crossplane` module

from streamwarden.lint import appservers
from streamwarden.lint.durations import nginx_seconds, show
from streamwarden.lint.findings import AppServer, ConfigError, Finding, Framing, Limits, Severity
from streamwarden.lint.registry import Registry

DOCS = "https://nginx.org/en/docs/http/ngx_http_proxy_module.html"
# nginx proxies with HTTP/1.0 unless told otherwise, before 1.29.7.
HTTP11_DEFAULT_FROM = (1, 29, 7)
DEFAULT_READ_TIMEOUT = 60.0
_SCOPES = {"http", "server", "location", "if", "limit_except"}
_DUMP_MARKER = re.compile(r"^# configuration file (.+?):\s*$", re.MULTILINE)
# A line that is nothing but `${VAR}`: envsubst puts whole directives there.
_LINE_PLACEHOLDER = re.compile(r"^(\s*)(\$\{[A-Za-z_][A-Za-z0-9_]*\})\s*$", re.MULTILINE)
_PLACEHOLDER = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
UNKNOWN = "__unknown__"  # a directive standing for settings nobody can read here
# Files every nginx package or certbot ships, whose content is known to set none of the
# settings the rules read (types, fastcgi/uwsgi/scgi parameters, proxy headers, TLS options).
STOCK = {
    "mime.types",
    "fastcgi_params",
    "fastcgi.conf",
    "uwsgi_params",
    "scgi_params",
    "proxy_params",
    "koi-utf",
    "koi-win",
    "win-utf",
    "options-ssl-nginx.conf",
}
# Directives the rules read: a template placeholder in one makes the setting unknown.
READ = {
    "proxy_buffering",
    "proxy_http_version",
    "proxy_read_timeout",
    "proxy_ignore_headers",
    "gzip",
    "gzip_types",
    "proxy_cache",
    "proxy_cache_valid",
}
_HEALTH = re.compile(r"(^|/)(health|healthz|readyz|livez|ready|alive|ping|status|metrics)\b", re.I)
_STATIC = re.compile(
    r"(^|/)(static|assets|_next/static|favicon\.ico|robots\.txt|\.well-known)|"
    r"\\?\.\(?(css|js|png|jpe?g|gif|svg|ico|woff2?)\b",
    re.I,
)
# Stored files served through the app (Dify's and WeKnora's `/files`): downloads, not streams.
_FILES = re.compile(
    r"(^|/)(files|uploads|downloads|media|images|imgs?|icons|avatars|thumbnails|fonts)(/|$|\b)",
    re.I,
)
# Where an app's API lives: a catch-all `location /` beside one of these serves the front end.
_API_PATH = re.compile(r"^/(api|v\d+|backend|graphql|rpc)(/|$|\b)", re.I)
_CATCH_ALL = {("/",), ("^~", "/")}
# Service names that say "front end" whatever the stack; a catch-all to one serves pages.
_FRONTEND_PARTS = {"frontend", "front", "gui", "client", "nextjs", "nuxt", "vite", "spa"}
# Sign-in, admin and API-docs pages, by the first path segment (`/api/docs/chat` may stream,
# and so may `/admin-api/`, RuoYi's whole back-end API).
_PAGES = re.compile(
    r"^/(auth|login|logout|signin|signup|oauth2?|sso|saml|admin|docs|redoc|swagger|"
    r"openapi\.json)(?=/|$|[^\w-])",
    re.I,
)
_WEBSOCKET = re.compile(r"(^|/)(socket\.io|ws|websocket)(/|$)", re.I)
# Object stores answer with stored files, never with streams: MinIO and S3-compatible hosts by
# a host-name part, the big clouds' blob endpoints by their domain.
_OBJECT_STORE_PARTS = {"minio", "s3"}
_OBJECT_STORE_DOMAINS = (".blob.core.windows.net", "storage.googleapis.com")


@dataclass(frozen=True, slots=True)
class Directive:
    name: str
    args: tuple[str, ...]
    file: str
    line: int
    block: tuple[Directive, ...] | None = None


@dataclass(frozen=True, slots=True)
class Unknown:
    """Something that could hold settings and could not be read: what, and where."""

    what: str  # "include", "placeholder"
    text: str
    file: str
    line: int


@dataclass(frozen=True, slots=True)
class Loaded:
    """A parsed config with includes inlined, and the files it pulled in."""

    root: tuple[Directive, ...]
    files: frozenset[str]
    unknowns: tuple[Unknown, ...] = field(default=())


# -- loading (I/O edge) ------------------------------------------------------------------------


class _Source:
    """Where included files come from: the disk, or the sections of an `nginx -T` dump."""

    def __init__(
        self,
        files: dict[str, str] | None,
        base: str,
        roots: Sequence[tuple[str, str]] = (),
        prefix: str | None = None,
    ) -> None:
        self.files = files
        self.base = base
        self.roots = roots
        self.prefix = prefix

    def read(self, name: str) -> str:
        if self.files is not None:
            return self.files[name]
        with open(name, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def resolve(self, pattern: str) -> list[str]:
        if self.files is not None:
            # A dump holds absolute paths; a relative include is relative to nginx's conf dir.
            if not os.path.isabs(pattern):
                pattern = os.path.join(self.base, pattern)
            return sorted(n for n in self.files if fnmatch.fnmatch(n, pattern))
        candidates = self._mapped(pattern) if os.path.isabs(pattern) else self._relative(pattern)
        # The official nginx image renders `X.template` into `X` with envsubst at start-up.
        for suffix in ("", ".template"):
            for candidate in candidates:
                candidate += suffix
                found = sorted(glob.glob(candidate)) if glob.has_magic(candidate) else []
                if found:
                    return found
                if os.path.isfile(candidate):
                    return [candidate]
        return []

    def _mapped(self, pattern: str) -> list[str]:
        # --root /etc/nginx=PATH: the linted tree stands in for the server's file system.
        for absolute, local in self.roots:
            absolute = absolute.rstrip("/")
            if pattern == absolute or pattern.startswith(absolute + "/"):
                return [local.rstrip("/") + pattern[len(absolute) :]]
        # This machine's files belong to the config only when it lives among them (linting
        # /etc/nginx/nginx.conf in place); a repository's copy would otherwise pull in
        # whatever nginx the linting machine happens to have installed.
        shared = os.path.commonpath([self.base, pattern])
        if shared.count(os.path.sep) < 2 and shared != self.base:
            return []  # only `/` or one top folder (`/usr`) in common: not the same install
        return [pattern]

    def _relative(self, pattern: str) -> list[str]:
        # nginx resolves relative includes from its prefix (the main config's directory). A
        # linted copy may sit lower (conf.d/site.conf), so try its directory and parents, then
        # the prefix of the linted tree.
        out = []
        base = self.base
        for _ in range(3):
            out.append(os.path.join(base, pattern))
            base = os.path.dirname(base)
        if self.prefix:
            out.append(os.path.join(self.prefix, pattern))
        return out


def split_dump(text: str) -> dict[str, tuple[str, int]] | None:
    """Split `nginx -T` output into {path: (text, lines before it)}; None if not a dump."""
    markers = list(_DUMP_MARKER.finditer(text))
    if not markers:
        return None
    files: dict[str, tuple[str, int]] = {}
    for i, marker in enumerate(markers):
        end = markers[i + 1].start() if i + 1 < len(markers) else len(text)
        offset = text.count("\n", 0, marker.end()) + 1
        files.setdefault(marker.group(1), (text[marker.end() + 1 : end], offset))
    return files


def _stock(pattern: str) -> bool:
    return os.path.basename(pattern) in STOCK or "/modules-enabled/" in pattern


def _mark_placeholder_lines(text: str) -> str:
    return _LINE_PLACEHOLDER.sub(lambda m: f'{m.group(1)}{UNKNOWN} "{m.group(2)}";', text)


_JINJA_STATEMENT = re.compile(r"\{%-?.*?-?%\}")
# `$` before the braces: Kong's templates write `${{NGINX_DAEMON}}`.
_JINJA_EXPRESSION = re.compile(r"\$?\{\{-?\s*(.*?)\s*-?\}\}")
# Kong's (Penlight) template statements: a line starting with `>` (`> if x then`, `> end`).
_LINE_STATEMENT = re.compile(r"^[ \t]*>(?=[ \t]|$).*$", re.MULTILINE)


def jinja_to_placeholders(text: str) -> str:
    """An nginx config written as a Jinja template (Ansible's `nginx.conf.j2`, dstack's
    `service.jinja2`): statements (`{% for … %}`) go, so every branch and loop body is read
    once, and each `{{ expression }}` becomes a `${…}` placeholder, unknown like envsubst's.
    Line numbers stay."""

    def name(m: re.Match[str]) -> str:
        return "${" + (re.sub(r"\W+", "_", m.group(1)).strip("_") or "jinja") + "}"

    text = _LINE_STATEMENT.sub("", _JINJA_STATEMENT.sub("", text))
    return _JINJA_EXPRESSION.sub(name, text)


def _is_jinja(name: str, text: str) -> bool:
    """A templated config: Jinja by name or `{% %}`, or `{{ }}` expressions of any engine
    (Mustache, Handlebars, Go templates), which plain nginx syntax never contains."""
    lower = name.lower()
    return lower.endswith((".j2", ".jinja", ".jinja2")) or "{%" in text or "{{" in text


def load(
    path: str,
    text: str,
    roots: Sequence[tuple[str, str]] = (),
    prefix: str | None = None,
) -> Loaded:
    """Parse `text` (read from `path`) and inline every include it names.

    `roots` maps absolute paths onto the linted tree; `prefix` is the directory relative
    includes start from (nginx's prefix). Findings in an `nginx -T` dump point at the dump's
    own lines, under the dump's name.
    """
    dump = split_dump(text)
    offsets: dict[str, int] = {}
    if dump is not None:
        names = list(dump)
        source = _Source({n: t for n, (t, _) in dump.items()}, os.path.dirname(names[0]))
        offsets = {n: o for n, (_, o) in dump.items()}
        root_name = names[0]
    else:
        source = _Source(None, os.path.dirname(os.path.abspath(path)), roots, prefix)
        root_name = path

    files: set[str] = set()
    unknowns: list[Unknown] = []

    def where(name: str, line: int) -> tuple[str, int]:
        if dump is not None:
            return path, offsets.get(name, 0) + line
        if name == path or os.path.isabs(path):
            return name, line
        # Included files come back absolute; show them relative, like the path given.
        return os.path.relpath(name), line

    def parse(name: str) -> list[dict[str, Any]]:
        try:
            body = source.read(name) if (dump is not None or name != path) else text
        except OSError as exc:
            raise ConfigError(where(name, 0)[0], exc.strerror or str(exc)) from None
        if _is_jinja(name, body):
            body = jinja_to_placeholders(body)
        body = _mark_placeholder_lines(body)
        # A placeholder stands where nginx wants `on`/`off` or a number: unknown, not wrong.
        payload = crossplane.parse_string(
            body, name, single=True, check_ctx=False, check_args=not _PLACEHOLDER.search(body)
        )
        for error in payload["errors"]:
            problem = re.sub(r" in \S+:\d+$", "", str(error["error"]))
            file, line = where(name, error.get("line") or 0)
            raise ConfigError(file, f"cannot parse nginx config: {problem}", line or None)
        parsed: list[dict[str, Any]] = payload["config"][0]["parsed"]
        return parsed

    def convert(stmts: list[dict[str, Any]], name: str, stack: tuple[str, ...]) -> list[Directive]:
        out: list[Directive] = []
        for stmt in stmts:
            d = Directive(stmt["directive"], tuple(stmt["args"]), *where(name, stmt["line"]))
            if d.name == "include" and d.args:
                targets = source.resolve(d.args[0])
                if not targets and _stock(d.args[0]):
                    continue
                if not targets:
                    unknowns.append(Unknown("include", d.args[0], d.file, d.line))
                    out.append(Directive(UNKNOWN, d.args, d.file, d.line))
                for target in targets:
                    key = os.path.abspath(target) if dump is None else target
                    if key in stack:
                        raise ConfigError(d.file, f"include loop through {target}", d.line)
                    files.add(key)
                    out.extend(convert(parse(target), target, (*stack, key)))
                continue
            if d.name == UNKNOWN:
                unknowns.append(Unknown("placeholder", d.args[0], d.file, d.line))
            elif d.name in READ and any(_PLACEHOLDER.search(a) for a in d.args):
                unknowns.append(Unknown("placeholder", " ".join(d.args), d.file, d.line))
            if "block" in stmt:
                block = tuple(convert(stmt["block"], name, stack))
                d = Directive(d.name, d.args, d.file, d.line, block)
            out.append(d)
        return out

    root_key = os.path.abspath(root_name) if dump is None else root_name
    root = tuple(convert(parse(root_name), root_name, (root_key,)))
    return Loaded(root, frozenset(files), tuple(unknowns))


# -- model -------------------------------------------------------------------------------------

Chain = Sequence[Directive]  # enclosing blocks, outermost first; the last one holds proxy_pass


@dataclass(frozen=True, slots=True)
class Setting:
    """A directive's value on a route: set (`d`), default (`d` None), or unknown (`unknown`)."""

    d: Directive | None
    unknown: Directive | None = None

    @property
    def known(self) -> bool:
        return self.unknown is None

    def first(self, default: str) -> str:
        return self.d.args[0].lower() if self.d and self.d.args else default


def proxied(root: Sequence[Directive]) -> Iterator[tuple[Directive, Chain]]:
    """Yield every `proxy_pass` with the chain of blocks it sits in."""
    top = Directive("(root)", (), "", 0, tuple(root))

    def walk(block: Directive, chain: tuple[Directive, ...]) -> Iterator[tuple[Directive, Chain]]:
        for d in block.block or ():
            if d.name == "proxy_pass":
                yield d, chain
            elif d.block is not None and d.name in _SCOPES:
                yield from walk(d, (*chain, d))

    yield from walk(top, (top,))


def own(block: Directive, name: str) -> list[Directive]:
    return [d for d in block.block or () if d.name == name]


def lookup(chain: Chain, name: str) -> Setting:
    """The value that applies: the innermost block that sets it wins (nginx's merge). A block
    with an unreadable include or placeholder may set it too: then the value is unknown."""
    for block in reversed(chain):
        found = own(block, name)
        if found:
            d = found[-1]
            if any(_PLACEHOLDER.search(a) or a.startswith("$") for a in d.args):
                return Setting(None, d)
            return Setting(d)
        hidden = own(block, UNKNOWN)
        if hidden:
            return Setting(None, hidden[0])
    return Setting(None)


def effective(chain: Chain, name: str) -> Directive | None:
    """The directive that applies, ignoring what could not be read (for reporting)."""
    return lookup(chain, name).d


def label(chain: Chain) -> str:
    parts = []
    for block in chain[1:]:
        if block.name == "server":
            names = [d.args for d in own(block, "server_name")]
            parts.append(f"server {names[0][0]}" if names and names[0] else "server")
        elif block.name in {"location", "if"}:
            parts.append(f"{block.name} {' '.join(block.args)}")
    return " > ".join(parts) or "this block"


def _location_path(chain: Chain) -> tuple[str, bool]:
    """(the innermost location's path or regex, whether it is a regex)."""
    for block in reversed(chain):
        if block.name == "location" and block.args:
            args = block.args
            if args[0] in {"~", "~*"} and len(args) > 1:
                return args[1], True
            if args[0] in {"=", "^~"} and len(args) > 1:
                return args[1], False
            return args[0], False
    return "/", False


def _matches(path: str, regex: bool, prefix: str) -> bool:
    if regex:
        try:
            return re.search(path, prefix) is not None
        except re.error:
            return False
    return path.startswith(prefix) or prefix.startswith(path.rstrip("/") or "/")


def _object_store(proxy_pass: Directive) -> bool:
    """Whether proxy_pass names an object store's host (a variable host is unknown: no)."""
    if not proxy_pass.args:
        return False
    match = re.match(r"^https?://([^/:$]+)", proxy_pass.args[0], re.I)
    if match is None:
        return False
    host = match.group(1).lower()
    parts = set(re.split(r"[.\-_]", host))
    return bool(parts & _OBJECT_STORE_PARTS) or host.endswith(_OBJECT_STORE_DOMAINS)


def _host_parts(proxy_pass: Directive) -> set[str]:
    """The name parts of proxy_pass's host or upstream (`http://web-frontend:3000`: web,
    frontend); none for a variable host."""
    if not proxy_pass.args:
        return set()
    match = re.match(r"^https?://([^/:$]+)", proxy_pass.args[0], re.I)
    return set(re.split(r"[.\-_]", match.group(1).lower())) if match else set()


def _locations(chain: Chain) -> list[Directive]:
    return [b for b in chain if b.name == "location"]


def _api_like(path: str, regex: bool) -> bool:
    """Whether a location holds an app's API: a prefix like `/api`, or a regex that matches
    `/api/` or `/v1/` (Onyx's `~ ^/(api|openapi.json)(/.*)?$`)."""
    if not regex:
        return _API_PATH.search(path) is not None
    try:
        return any(re.search(path, probe) for probe in ("/api/", "/v1/"))
    except re.error:
        return False


def _api_sibling(server: Directive, me: Directive) -> str | None:
    """A proxied location of `server`, other than `me`, that holds the app's API or an
    upgraded connection: its path, else None."""
    for _, chain in proxied([server]):
        locations = _locations(chain)
        if not locations or locations[0] is me:
            continue
        path, regex = _location_path(chain)
        upgraded = any(
            d.args and d.args[0].lower() == "upgrade"
            for b in chain
            for d in own(b, "proxy_set_header")
        )
        if _api_like(path, regex) or _WEBSOCKET.search(path) or upgraded:
            return path
    return None


def front_end(chain: Chain, proxy_pass: Directive) -> str | None:
    """Why a catch-all `location /` serves a front end's pages rather than streams, or None.

    A server that sends its API (`/api`, `/v1`, …) or its WebSocket through more specific
    locations sends its streams there too; what is left for `location /` is the front end.
    A catch-all to a service named like one (`frontend`, `gui`, `client`, …) serves pages."""
    locations = _locations(chain)
    if len(locations) != 1 or locations[0].args not in _CATCH_ALL:
        return None
    if _host_parts(proxy_pass) & _FRONTEND_PARTS:
        return "a front end (the catch-all proxies a service named like one)"
    servers = [b for b in chain if b.name == "server"]
    sibling = _api_sibling(servers[-1], locations[0]) if servers else None
    if sibling is not None:
        return f"a front end (the catch-all beside {sibling}, where the API and its streams go)"
    return None


def why_not_streaming(chain: Chain, limits: Limits, proxy_pass: Directive) -> str | None:
    """None when the route may carry streams; else why it is skipped."""
    path, regex = _location_path(chain)
    if limits.stream_paths:
        if any(_matches(path, regex, p) for p in limits.stream_paths):
            return None
        return "not under --stream-path"
    inner = chain[-1]
    if own(inner, "return"):
        return "answers with `return`"
    cache = lookup(chain, "proxy_cache")
    if cache.known and cache.first("off") != "off" and lookup(chain, "proxy_cache_valid").d:
        return "cached (proxy_cache with proxy_cache_valid)"
    if _HEALTH.search(path):
        return "a health or status path"
    if _STATIC.search(path):
        return "static files"
    if _FILES.search(path):
        return "stored files (downloads, not streams)"
    if _WEBSOCKET.search(path):
        return "WebSocket (upgraded connections are not buffered)"
    if not regex and path in _auth_subrequests(chain):
        return "an auth_request subrequest (it answers nginx's access check, not the client)"
    if _object_store(proxy_pass):
        return "an object store (stored files, not streams)"
    if not regex and _PAGES.search(path):
        return "sign-in, admin or API-docs pages"
    return front_end(chain, proxy_pass)


def _auth_subrequests(chain: Chain) -> set[str]:
    """The URIs the route's server sends `auth_request` subrequests to."""
    server = next((d for d in chain if d.name == "server"), None)
    found: set[str] = set()
    stack = [server] if server is not None else []
    while stack:
        d = stack.pop()
        if d.name == "auth_request" and d.args and d.args[0] != "off":
            found.add(d.args[0])
        stack += d.block or ()
    return found


@dataclass(frozen=True, slots=True)
class Route:
    proxy_pass: Directive
    chain: Chain
    skipped: str | None  # why it is not treated as streaming; None: it is
    # (host, port) of each server the route proxies to; None: unknown (a variable, a socket).
    targets: list[tuple[str, int]] | None = None

    @property
    def label(self) -> str:
        return label(self.chain)


def _upstreams(root: Directive) -> dict[str, list[Directive]]:
    """`upstream NAME { server …; }` blocks anywhere in the config, by name."""
    found: dict[str, list[Directive]] = {}
    for d in root.block or ():
        if d.name == "upstream" and d.args and d.block is not None:
            found[d.args[0].lower()] = own(d, "server")
        elif d.block is not None:
            found.update(_upstreams(d))
    return found


def targets(chain: Chain, proxy_pass: Directive) -> list[tuple[str, int]] | None:
    """The (host, port) servers a proxy_pass reaches, through an upstream block if it names
    one; None when any of them cannot be read."""
    if not proxy_pass.args:
        return None
    url = proxy_pass.args[0]
    found = appservers.target(url)
    if found is None:
        return None
    match = re.match(r"^https?://([^/:$]+)(?:/|$)", url, re.I)
    servers = _upstreams(chain[0]).get(match.group(1).lower()) if match else None
    if servers is None:
        return [found]
    out: list[tuple[str, int]] = []
    for server in servers:
        one = appservers.target(f"http://{server.args[0]}") if server.args else None
        if one is None:
            return None
        out.append(one)
    return out or None


def routes(loaded: Loaded, limits: Limits) -> list[Route]:
    return [
        Route(pp, chain, why_not_streaming(chain, limits, pp), targets(chain, pp))
        for pp, chain in proxied(loaded.root)
    ]


def app_server(route: Route, limits: Limits) -> AppServer | None:
    """The app server behind the route: one the linted tree starts, else `--app-server`."""
    found = appservers.serving(route.targets, limits.app_servers, limits.service_hosts)
    return found or limits.app_server


def _version_default_http(limits: Limits) -> str:
    if limits.nginx_version is not None and limits.nginx_version >= HTTP11_DEFAULT_FROM:
        return "1.1"
    return "1.0"


def _ignores_accel(chain: Chain) -> Directive | None:
    d = lookup(chain, "proxy_ignore_headers").d
    if d is not None and any(a.lower() == "x-accel-buffering" for a in d.args):
        return d
    return None


def _quote(arg: str) -> str:
    return f'"{arg}"' if not arg or any(c in arg for c in " ;{}#") else arg


def _written(d: Directive) -> str:
    """A directive as it would be written back into the config."""
    return " ".join([d.name, *(_quote(a) for a in d.args)])


def _setting(d: Directive | None, default: str) -> str:
    return f"`{_written(d)}` (line {d.line})" if d else default


# -- rules -------------------------------------------------------------------------------------

Check = Callable[[Route, Limits], list[Finding]]
rules: Registry[Check] = Registry("nginx")
MEASURED = (
    "Measured on nginx 1.22 (tests/lint/test_verdicts_nginx.py: real nginx, a real SSE app): with "
    "proxy_buffering on and HTTP/1.0 to the app (both nginx defaults before 1.29.7) a "
    "close-delimited stream arrives in one burst when it ends; with `proxy_http_version 1.1` "
    "the app answers in chunks and each event passes as it comes, buffering or not; "
    "`X-Accel-Buffering: no` from the app turns buffering off per response unless "
    f"`proxy_ignore_headers` lists it ({DOCS}#proxy_buffering). Whether the app answers "
    "nginx's HTTP/1.0 in chunks is up to its server: uvicorn on httptools (its default "
    "whenever httptools is installed) does, and its events pass one by one; `uvicorn --http "
    "h11`, gunicorn's own workers, Node and Go answer close-delimited, and burst. In a linted "
    "tree the server is read from the start commands (nginx/app-server-chunked)."
)


def _bursts(route: Route, limits: Limits) -> tuple[Setting, Setting] | None:
    """(buffering, http version) when a stream through this route is held back; else None."""
    buffering = lookup(route.chain, "proxy_buffering")
    version = lookup(route.chain, "proxy_http_version")
    if not (buffering.known and version.known):
        return None
    if buffering.first("on") != "on" or version.first(_version_default_http(limits)) != "1.0":
        return None
    return buffering, version


@rules.rule(
    "proxy-buffering",
    "nginx holds the stream back: buffering on and HTTP/1.0 to the app",
    Severity.WARNING,
    MEASURED,
)
def proxy_buffering(route: Route, limits: Limits) -> list[Finding]:
    found = _bursts(route, limits)
    if found is None:
        return []
    server = app_server(route, limits)
    if server is not None and server.framing is Framing.CHUNKED:
        return _chunked(route, server)
    if _ignores_accel(route.chain) is not None:
        return []  # with X-Accel-Buffering ignored, nginx/ignores-accel-buffering reports it
    if limits.app_sends_accel_buffering:
        return []
    buffering, version = found
    if server is None and not limits.stream_paths:
        return _unverified(route, buffering, version)
    # One finding for the one cause; it is named after the setting the author wrote.
    rule = "http-version" if version.d and not buffering.d else "proxy-buffering"
    at = (version.d if rule == "http-version" else buffering.d) or route.proxy_pass
    why_version = _setting(
        version.d,
        "HTTP/1.0 to the app (nginx's default before 1.29.7; pass --nginx-version if newer)",
    )
    return [
        rules.info(rule).finding(
            f"{route.label}: {_setting(buffering.d, 'proxy_buffering is on by default')} and "
            f"{why_version}: {_who(server)}, so nginx holds its events in "
            "4-8 KB buffers and the client gets them in bursts, a short answer all at the end "
            "(measured on nginx 1.22). `X-Accel-Buffering: no` from the app would avoid it "
            "(then pass --app-sends-accel-buffering).",
            f'Add `proxy_http_version 1.1;` and `proxy_set_header Connection "";`, or '
            f"`proxy_buffering off;`, to {route.label}.",
            at.file,
            at.line,
        )
    ]


UNVERIFIED = rules.note(
    "buffering-unverified",
    "nginx's defaults hold a stream back unless the app answers in chunks or opts out; "
    "nothing linted says which",
    Severity.INFO,
    "The same measurement as nginx/proxy-buffering: behind buffering on and HTTP/1.0 a stream "
    "bursts only when the app answers close-delimited and does not send "
    "`X-Accel-Buffering: no`. Of 7 such routes in public projects, judged by hand by "
    "reading their apps (docs/lint.md), 2 burst; in the other 5 the app sent the header, "
    "answered in chunks or did not stream, and the config files could not tell them apart. "
    "So without the app server or `--stream-path` this is named, not warned. Linting the project's tree (start commands, "
    "requirements, app source), `--app-server`, `--app-sends-accel-buffering` or "
    "`--stream-path` turns it into a verdict.",
)


def _unverified(route: Route, buffering: Setting, version: Setting) -> list[Finding]:
    """nginx's burst-prone settings in front of an app nothing linted describes: unknown is
    not default, so this names what decides it instead of guessing a burst."""
    at = version.d or buffering.d or route.proxy_pass
    return [
        UNVERIFIED.finding(
            f"{route.label}: {_setting(buffering.d, 'proxy_buffering is on by default')} and "
            f"{_setting(version.d, 'HTTP/1.0 to the app (the default before nginx 1.29.7)')}: a "
            "stream bursts here if the app answers close-delimited (Node, Go, gunicorn's "
            "workers, uvicorn --http h11, aiohttp) without `X-Accel-Buffering: no`, and passes "
            "event by event if it answers in chunks (uvicorn on httptools, Sanic) or sends the "
            "header. Nothing linted says which app serves it, or that the route streams.",
            "Safe whatever serves it: add `proxy_http_version 1.1;` and "
            f'`proxy_set_header Connection "";` to {route.label}. To get a verdict, lint the '
            "project's directory, or pass --app-server NAME, --app-sends-accel-buffering or "
            "--stream-path PREFIX; `streamwarden probe` through nginx measures it.",
            at.file,
            at.line,
        )
    ]


def _who(server: AppServer | None) -> str:
    if server is None:
        return "the app cannot answer in chunks"
    where = f" ({server.file}:{server.line})" if server.file else ""
    return f"{server.name}{where} answers HTTP/1.0 close-delimited"


CHUNKED_APP = rules.note(
    "app-server-chunked",
    "the app server answers nginx's HTTP/1.0 in chunks, so default buffering holds nothing back",
    Severity.INFO,
    "Measured on nginx 1.22 (tests/lint/test_verdicts_nginx.py): behind nginx's defaults "
    "(proxy_buffering on, HTTP/1.0) uvicorn on httptools (its default whenever httptools is "
    "installed: uvicorn[standard], fastapi[standard]) still answers with "
    "`Transfer-Encoding: chunked`, and its events arrive one by one; the same app under "
    "`uvicorn --http h11` answers close-delimited and arrives in one burst. The app server "
    "is read from the linted tree's start commands, or from `--app-server`.",
)


def _chunked(route: Route, server: AppServer) -> list[Finding]:
    where = f" ({server.file}:{server.line})" if server.file else ""
    return [
        CHUNKED_APP.finding(
            f"{route.label}: buffering on and HTTP/1.0 to the app (nginx's defaults), but the "
            f"app server behind it, {server.name}{where}, answers in chunks: chunked, no "
            "hold-back; would burst under --http h11 (or any server that answers HTTP/1.0 "
            "close-delimited).",
            f"To stay safe whatever serves the app, add `proxy_http_version 1.1;` and "
            f'`proxy_set_header Connection "";` to {route.label}.',
            route.proxy_pass.file,
            route.proxy_pass.line,
        )
    ]


rules.note(
    "http-version",
    "nginx holds the stream back: HTTP/1.0 to the app while buffering",
    Severity.WARNING,
    MEASURED,
)


@rules.rule(
    "ignores-accel-buffering",
    "nginx ignores the app's X-Accel-Buffering: no",
    Severity.ERROR,
    MEASURED,
)
def ignores_accel_buffering(route: Route, limits: Limits) -> list[Finding]:
    ignore = _ignores_accel(route.chain)
    if ignore is None or _bursts(route, limits) is None:
        return []
    server = app_server(route, limits)
    if server is not None and server.framing is Framing.CHUNKED:
        return []  # chunked answers pass as they come; nginx/app-server-chunked says so
    kept = [a for a in ignore.args if a.lower() != "x-accel-buffering"]
    fix = f"`proxy_ignore_headers {' '.join(kept)};`" if kept else "delete the directive"
    buffering = lookup(route.chain, "proxy_buffering").d
    return [
        rules.info("ignores-accel-buffering").finding(
            f"{route.label}: proxy_ignore_headers lists X-Accel-Buffering while proxy_buffering "
            f"is on ({_setting(buffering, 'the default')}) over HTTP/1.0: nginx ignores the "
            "app's `X-Accel-Buffering: no` and buffers the stream anyway, so it reaches the "
            "client in 4-8 KB bursts, a short answer all at the end.",
            f"Remove X-Accel-Buffering from it ({fix}), or set `proxy_http_version 1.1;` or "
            f"`proxy_buffering off;` in {route.label}.",
            ignore.file,
            ignore.line,
        )
    ]


@rules.rule(
    "read-timeout",
    "nginx proxy_read_timeout cuts a stream during a pause",
    Severity.ERROR,
    f"`proxy_read_timeout` (60 s by default, {DOCS}#proxy_read_timeout) counts the "
    "silence between two reads from the app, not the whole response. In a tree whose app "
    "source streams with no heartbeat and waits on tools or agents it is held to 300 s, as a "
    "warning.",
)
def read_timeout(route: Route, limits: Limits) -> list[Finding]:
    setting = lookup(route.chain, "proxy_read_timeout")
    if not setting.known:
        return []
    d = setting.d
    seconds = nginx_seconds(d.args[0]) if d and d.args else DEFAULT_READ_TIMEOUT
    if seconds is None or seconds >= limits.idle_threshold:
        return []
    at = d or route.proxy_pass
    want = limits.idle_setting
    return [
        rules.info("read-timeout").finding(
            f"{route.label}: {_setting(d, 'the default proxy_read_timeout of 60 s')} closes "
            f"the stream after {show(seconds)} without a byte from the app, "
            f"{limits.idle_why}: a pause in generation cuts "
            "the answer mid-stream ('upstream timed out').",
            f"Set `proxy_read_timeout {want}s;` in {route.label} (anything >= "
            f"{show(limits.idle_threshold)} works).{limits.heartbeat_fix}",
            at.file,
            at.line,
            limits.idle_severity(seconds),
        )
    ]


@rules.rule(
    "gzip-event-stream",
    "nginx gzips text/event-stream",
    Severity.WARNING,
    "Measured on nginx 1.22: with gzip on and text/event-stream in gzip_types each "
    "event is flushed through zlib, so compression gains nothing, and a proxy or "
    "client that decompresses before parsing can hold events back "
    "(https://nginx.org/en/docs/http/ngx_http_gzip_module.html#gzip_types).",
)
def gzip_event_stream(route: Route, limits: Limits) -> list[Finding]:
    gzip = lookup(route.chain, "gzip")
    types = lookup(route.chain, "gzip_types")
    if not (gzip.known and types.known) or gzip.first("off") != "on" or types.d is None:
        return []  # the default gzip_types is text/html only
    hits = [t for t in types.d.args if t == "*" or t.lower() == "text/event-stream"]
    if not hits:
        return []
    return [
        rules.info("gzip-event-stream").finding(
            f"{route.label}: gzip is on (line {gzip.d.line if gzip.d else '?'}) and gzip_types "
            f"matches text/event-stream (`{hits[0]}`): nginx compresses the stream. Each event "
            "is flushed through zlib (measured on 1.22), so it gains nothing, and a proxy or "
            "client that decompresses before parsing can hold events back.",
            f"Remove `{hits[0]}` from gzip_types"
            + (" (list the types to compress instead)" if hits[0] == "*" else "")
            + f", or set `gzip off;` in {route.label}.",
            types.d.file,
            types.d.line,
        )
    ]


@rules.rule(
    "proxy-headers-hidden",
    "a block's own proxy_set_header drops the inherited ones",
    Severity.WARNING,
    "`proxy_set_header` is inherited only by a block that sets none itself "
    f'({DOCS}#proxy_set_header); without `Connection ""` nginx sends '
    "`Connection: close` to the app.",
)
def proxy_headers_hidden(route: Route, limits: Limits) -> list[Finding]:
    setters = [b for b in route.chain if own(b, "proxy_set_header")]
    if len(setters) < 2:
        return []
    inner, outer = setters[-1], setters[-2]
    have = {d.args[0].lower() for d in own(inner, "proxy_set_header") if d.args}
    lost = [d for d in own(outer, "proxy_set_header") if d.args and d.args[0].lower() not in have]
    if not lost:
        return []
    first = own(inner, "proxy_set_header")[0]
    names = ", ".join(d.args[0] for d in lost)
    extra = ""
    if any(d.args[0].lower() == "connection" for d in lost):
        extra = (
            ' Without `Connection ""` nginx sends `Connection: close`, so every stream opens a '
            "new upstream connection."
        )
    return [
        rules.info("proxy-headers-hidden").finding(
            f"{route.label}: this block sets its own proxy_set_header, so none of the "
            f"{len(lost)} set at line {lost[0].line} are inherited: {names} never reach the "
            f"app from here.{extra}",
            f"Repeat {' '.join(f'`{_written(d)};`' for d in lost)} here "
            "(or keep all proxy_set_header lines in one included file).",
            first.file,
            first.line,
        )
    ]


MISSING_INCLUDE = rules.note(
    "missing-include",
    "an include names a file that was not found",
    Severity.INFO,
    "An include the linter cannot read may set anything: the settings it could hold are "
    "unknown for that block and no rule judges them. Lint the tree that holds it (with "
    "`--root /etc/nginx=PATH` for absolute paths) or `nginx -T` output.",
)
PLACEHOLDER = rules.note(
    "template-placeholder",
    "a ${VAR} template placeholder hides a setting",
    Severity.INFO,
    "envsubst templates (the official nginx image renders /etc/nginx/templates/*.template) "
    "fill `${VAR}` at start-up; its value is unknown here, and no rule judges it.",
)


def _unknown_findings(loaded: Loaded) -> list[Finding]:
    out: list[Finding] = []
    named: set[tuple[str, str]] = set()
    for u in loaded.unknowns:
        if u.what == "include":
            out.append(
                MISSING_INCLUDE.finding(
                    f"`include {u.text}` names nothing in the linted files, so the settings "
                    "it may hold are unknown in that block, and no rule judged them.",
                    "Lint the tree that holds it (`--root /etc/nginx=PATH` maps absolute "
                    "paths), or lint `nginx -T` output instead.",
                    u.file,
                    u.line,
                )
            )
            continue
        for var in _PLACEHOLDER.findall(u.text):
            if (u.file, var) in named:
                continue
            named.add((u.file, var))
            out.append(
                PLACEHOLDER.finding(
                    f"`{var}` is a template placeholder (line {u.line}): what it stands for is "
                    "unknown here, so no rule judged the settings it fills.",
                    "Lint the rendered config (after envsubst), or `nginx -T` output.",
                    u.file,
                    u.line,
                )
            )
    return out


def check(loaded: Loaded, limits: Limits) -> list[Finding]:
    """One verdict per streaming route: each rule once per cause, then what was unreadable."""
    seen: set[tuple[str, str | None, int | None]] = set()
    out: list[Finding] = []
    for route in routes(loaded, limits):
        if route.skipped is not None:
            continue
        for _, rule in rules.checks:
            for finding in rule(route, limits):
                key = (finding.id, finding.file, finding.line)
                if key not in seen:
                    seen.add(key)
                    out.append(finding)
    return out + _unknown_findings(loaded)
