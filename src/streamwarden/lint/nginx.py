"""nginx: load a config (following includes and `nginx -T` dumps), then check every proxied
location against the settings it really gets after inheritance.

Loading is the only I/O. The rules are pure functions over `Directive` trees.
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

from streamwarden.lint.durations import nginx_seconds, show
from streamwarden.lint.findings import ConfigError, Finding, Limits, Severity

# nginx proxies with HTTP/1.0 unless told otherwise, before 1.29.7.
HTTP11_DEFAULT_FROM = (1, 29, 7)
DEFAULT_READ_TIMEOUT = 60.0
_SCOPES = {"http", "server", "location", "if", "limit_except"}
_DUMP_MARKER = re.compile(r"^# configuration file (.+?):\s*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Directive:
    name: str
    args: tuple[str, ...]
    file: str
    line: int
    block: tuple[Directive, ...] | None = None


@dataclass(frozen=True, slots=True)
class Loaded:
    """A parsed config with includes inlined, and the files it pulled in."""

    root: tuple[Directive, ...]
    files: frozenset[str]
    missing_includes: tuple[Directive, ...] = field(default=())


# -- loading (I/O edge) ------------------------------------------------------------------------


class _Source:
    """Where included files come from: the disk, or the sections of an `nginx -T` dump."""

    def __init__(self, files: dict[str, str] | None, base: str) -> None:
        self.files = files
        self.base = base

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
        candidates = [pattern] if os.path.isabs(pattern) else self._relative(pattern)
        for candidate in candidates:
            found = sorted(glob.glob(candidate)) if glob.has_magic(candidate) else []
            if found:
                return found
            if os.path.isfile(candidate):
                return [candidate]
        return []

    def _relative(self, pattern: str) -> list[str]:
        # nginx resolves relative includes from its prefix (the main config's directory).
        # A linted copy may sit lower (conf.d/site.conf), so also try the parent directories.
        base = self.base
        out = []
        for _ in range(3):
            out.append(os.path.join(base, pattern))
            base = os.path.dirname(base)
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


def load(path: str, text: str) -> Loaded:
    """Parse `text` (read from `path`) and inline every include it names.

    Findings in an `nginx -T` dump point at the dump's own lines, under the dump's name.
    """
    dump = split_dump(text)
    offsets: dict[str, int] = {}
    if dump is not None:
        names = list(dump)
        source = _Source({n: t for n, (t, _) in dump.items()}, os.path.dirname(names[0]))
        offsets = {n: o for n, (_, o) in dump.items()}
        root_name = names[0]
    else:
        source = _Source(None, os.path.dirname(os.path.abspath(path)))
        root_name = path

    files: set[str] = set()
    missing: list[Directive] = []

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
        payload = crossplane.parse_string(body, name, single=True, check_ctx=False)
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
                if not targets and not glob.has_magic(d.args[0]):
                    missing.append(d)
                for target in targets:
                    key = os.path.abspath(target) if dump is None else target
                    if key in stack:
                        raise ConfigError(d.file, f"include loop through {target}", d.line)
                    files.add(key)
                    out.extend(convert(parse(target), target, (*stack, key)))
                continue
            if "block" in stmt:
                block = tuple(convert(stmt["block"], name, stack))
                d = Directive(d.name, d.args, d.file, d.line, block)
            out.append(d)
        return out

    root_key = os.path.abspath(root_name) if dump is None else root_name
    root = tuple(convert(parse(root_name), root_name, (root_key,)))
    return Loaded(root, frozenset(files), tuple(missing))


# -- model -------------------------------------------------------------------------------------

Chain = Sequence[Directive]  # enclosing blocks, outermost first; the last one holds proxy_pass


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


def effective(chain: Chain, name: str) -> Directive | None:
    """The directive that applies: the innermost block that sets it wins (nginx's merge)."""
    for block in reversed(chain):
        found = own(block, name)
        if found:
            return found[-1]
    return None


def label(chain: Chain) -> str:
    parts = []
    for block in chain[1:]:
        if block.name == "server":
            names = [d.args for d in own(block, "server_name")]
            parts.append(f"server {names[0][0]}" if names and names[0] else "server")
        elif block.name in {"location", "if"}:
            parts.append(f"{block.name} {' '.join(block.args)}")
    return " > ".join(parts) or "this block"


def _version_default_http(limits: Limits) -> str:
    if limits.nginx_version is not None and limits.nginx_version >= HTTP11_DEFAULT_FROM:
        return "1.1"
    return "1.0"


def _ignores_accel(chain: Chain) -> Directive | None:
    d = effective(chain, "proxy_ignore_headers")
    if d is not None and any(a.lower() == "x-accel-buffering" for a in d.args):
        return d
    return None


def _buffering_on(chain: Chain) -> tuple[bool, Directive | None]:
    d = effective(chain, "proxy_buffering")
    return (d is None or (bool(d.args) and d.args[0].lower() == "on")), d


# -- rules -------------------------------------------------------------------------------------

Rule = Callable[[Directive, Chain, Limits], list[Finding]]


def _quote(arg: str) -> str:
    return f'"{arg}"' if not arg or any(c in arg for c in " ;{}#") else arg


def _written(d: Directive) -> str:
    """A directive as it would be written back into the config."""
    return " ".join([d.name, *(_quote(a) for a in d.args)])


def _setting(d: Directive | None, default: str) -> str:
    return f"`{_written(d)}` (line {d.line})" if d else default


def rule_proxy_buffering(pp: Directive, chain: Chain, limits: Limits) -> list[Finding]:
    on, d = _buffering_on(chain)
    if not on or _ignores_accel(chain) is not None:
        return []  # with X-Accel-Buffering ignored, nginx/ignores-accel-buffering reports it
    where = label(chain)
    at = d or pp
    return [
        Finding(
            "nginx/proxy-buffering",
            Severity.WARNING,
            f"{where}: {_setting(d, 'proxy_buffering is on by default')}: nginx reads the "
            "app's response into 4-8 KB buffers; a stream without chunked encoding (HTTP/1.0, "
            "nginx's default) reaches the client only as buffers fill, in bursts, and a short "
            "answer all at the end. Only `X-Accel-Buffering: no` from the app avoids it.",
            f"Set `proxy_buffering off;` in {where} "
            "(or send `X-Accel-Buffering: no` from the app).",
            file=at.file,
            line=at.line,
        )
    ]


def rule_ignores_accel_buffering(pp: Directive, chain: Chain, limits: Limits) -> list[Finding]:
    ignore = _ignores_accel(chain)
    on, d = _buffering_on(chain)
    if ignore is None or not on:
        return []
    kept = [a for a in ignore.args if a.lower() != "x-accel-buffering"]
    fix = f"`proxy_ignore_headers {' '.join(kept)};`" if kept else "delete the directive"
    return [
        Finding(
            "nginx/ignores-accel-buffering",
            Severity.ERROR,
            f"{label(chain)}: proxy_ignore_headers lists X-Accel-Buffering while proxy_buffering "
            f"is on ({_setting(d, 'the default')}): nginx ignores the app's "
            "`X-Accel-Buffering: no` and buffers the stream anyway; a stream that is not "
            "chunked then reaches the client in 4-8 KB bursts, a short answer all at the end.",
            f"Remove X-Accel-Buffering from it ({fix}), or set `proxy_buffering off;` "
            f"in {label(chain)}.",
            file=ignore.file,
            line=ignore.line,
        )
    ]


def rule_read_timeout(pp: Directive, chain: Chain, limits: Limits) -> list[Finding]:
    d = effective(chain, "proxy_read_timeout")
    seconds = nginx_seconds(d.args[0]) if d and d.args else DEFAULT_READ_TIMEOUT
    if seconds is None or seconds >= limits.idle_threshold:
        return []
    at = d or pp
    want = max(300, int(limits.idle_threshold * 2))
    return [
        Finding(
            "nginx/read-timeout",
            Severity.ERROR,
            f"{label(chain)}: {_setting(d, 'the default proxy_read_timeout of 60 s')} closes "
            f"the stream after {show(seconds)} without a byte from the app, less than twice "
            f"the longest expected gap ({show(limits.max_gap)}): a pause in generation cuts "
            "the answer mid-stream ('upstream timed out').",
            f"Set `proxy_read_timeout {want}s;` in {label(chain)} (heartbeats every "
            f"{show(limits.max_gap)} keep the stream alive; anything >= "
            f"{show(limits.idle_threshold)} works).",
            file=at.file,
            line=at.line,
        )
    ]


def rule_http_version(pp: Directive, chain: Chain, limits: Limits) -> list[Finding]:
    d = effective(chain, "proxy_http_version")
    default = _version_default_http(limits)
    version = d.args[0] if d and d.args else default
    if version != "1.0":
        return []
    at = d or pp
    why = (
        _setting(d, "")
        if d
        else "nginx older than 1.29.7 proxies with HTTP/1.0 by default "
        "(pass --nginx-version if yours is newer)"
    )
    return [
        Finding(
            "nginx/http-version",
            Severity.WARNING,
            f"{label(chain)}: {why}: the app cannot use chunked encoding and ends each stream "
            "by closing the connection; with proxy_buffering on, nginx then holds events until "
            "a 4-8 KB buffer fills or the stream ends (measured on 1.22), and upstream "
            "keep-alive is off.",
            'Add `proxy_http_version 1.1;` and `proxy_set_header Connection "";` '
            f"to {label(chain)}.",
            file=at.file,
            line=at.line,
        )
    ]


def rule_gzip_event_stream(pp: Directive, chain: Chain, limits: Limits) -> list[Finding]:
    gzip = effective(chain, "gzip")
    if gzip is None or not gzip.args or gzip.args[0].lower() != "on":
        return []
    types = effective(chain, "gzip_types")
    if types is None:
        return []  # the default gzip_types is text/html only
    hits = [t for t in types.args if t == "*" or t.lower() == "text/event-stream"]
    if not hits:
        return []
    return [
        Finding(
            "nginx/gzip-event-stream",
            Severity.WARNING,
            f"{label(chain)}: gzip is on (line {gzip.line}) and gzip_types matches "
            f"text/event-stream (`{hits[0]}`): nginx compresses the stream. Each event is "
            "flushed through zlib (measured on 1.22), so it gains nothing, and a proxy or "
            "client that decompresses before parsing can hold events back; SSE responses "
            "should stay uncompressed (`Cache-Control: no-transform`).",
            f"Remove `{hits[0]}` from gzip_types"
            + (" (list the types to compress instead)" if hits[0] == "*" else "")
            + f", or set `gzip off;` in {label(chain)}.",
            file=types.file,
            line=types.line,
        )
    ]


def rule_proxy_headers_hidden(pp: Directive, chain: Chain, limits: Limits) -> list[Finding]:
    """proxy_set_header is inherited only by a block that sets none itself."""
    setters = [b for b in chain if own(b, "proxy_set_header")]
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
        Finding(
            "nginx/proxy-headers-hidden",
            Severity.WARNING,
            f"{label(chain)}: this block sets its own proxy_set_header, so none of the "
            f"{len(lost)} set at line {lost[0].line} are inherited: {names} never reach the "
            f"app from here.{extra}",
            f"Repeat {' '.join(f'`{_written(d)};`' for d in lost)} here "
            "(or keep all proxy_set_header lines in one included file).",
            file=first.file,
            line=first.line,
        )
    ]


RULES: tuple[Rule, ...] = (
    rule_proxy_buffering,
    rule_ignores_accel_buffering,
    rule_read_timeout,
    rule_http_version,
    rule_gzip_event_stream,
    rule_proxy_headers_hidden,
)


def check(loaded: Loaded, limits: Limits) -> list[Finding]:
    """Run every rule on every proxied location; one finding per rule and line."""
    seen: set[tuple[str, str | None, int | None]] = set()
    out: list[Finding] = []
    for pp, chain in proxied(loaded.root):
        for rule in RULES:
            for finding in rule(pp, chain, limits):
                key = (finding.id, finding.file, finding.line)
                if key not in seen:
                    seen.add(key)
                    out.append(finding)
    for inc in loaded.missing_includes:
        out.append(
            Finding(
                "nginx/missing-include",
                Severity.INFO,
                f"`include {inc.args[0]}` names a file that is not here, so the settings in it "
                "were not checked.",
                "Lint the directory that holds it too, or lint `nginx -T` output instead.",
                file=inc.file,
                line=inc.line,
            )
        )
    return out
