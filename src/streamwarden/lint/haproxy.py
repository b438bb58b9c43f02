"""HAProxy: `timeout server` and `timeout client` in defaults, frontend, backend and listen.

A proxy section takes its timeouts from the last `defaults` section above it (or the one
named with `defaults from NAME`), unless it sets its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from streamwarden.lint.durations import haproxy_seconds, show
from streamwarden.lint.findings import ConfigError, Finding, Limits, Severity
from streamwarden.lint.registry import Registry

SECTIONS = {"global", "defaults", "frontend", "backend", "listen", "resolvers", "peers"}
SECTIONS |= {"userlist", "program", "http-errors", "ring", "cache", "mailers"}


@dataclass(slots=True)
class Section:
    kind: str
    name: str
    line: int
    timeouts: dict[str, tuple[float, int]] = field(default_factory=dict)
    parent: Section | None = None
    stats: bool = False  # serves HAProxy's statistics page
    servers: int = 0  # `server` lines: an app behind it

    @property
    def streams(self) -> bool:
        """False for a section that clearly serves no stream: only the stats page, or a
        backend named for static files."""
        return not ((self.stats and not self.servers) or _NOT_STREAMS.search(self.name))

    def timeout(self, which: str) -> tuple[float, int] | None:
        if which in self.timeouts:
            return self.timeouts[which]
        return self.parent.timeout(which) if self.parent else None


def parse(text: str, file: str) -> list[Section]:
    sections: list[Section] = []
    named_defaults: dict[str, Section] = {}
    last_defaults: Section | None = None
    current: Section | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] in SECTIONS:
            name = words[1] if len(words) > 1 and words[1] != "from" else ""
            parent = last_defaults
            if "from" in words:
                parent = named_defaults.get(words[words.index("from") + 1], last_defaults)
            current = Section(words[0], name, number, parent=parent)
            sections.append(current)
            if words[0] == "defaults":
                last_defaults = current
                if name:
                    named_defaults[name] = current
            continue
        if current is None:
            raise ConfigError(file, f"`{words[0]}` outside any section", number)
        if words[0] == "stats" and len(words) >= 2 and words[1] in {"enable", "uri"}:
            current.stats = True
        elif words[0] == "server":
            current.servers += 1
        if words[0] == "timeout" and len(words) >= 3:
            seconds = haproxy_seconds(words[2])
            if seconds is None:
                raise ConfigError(file, f"bad time value `{words[2]}`", number)
            current.timeouts[words[1]] = (seconds, number)
        elif words[0] in {"contimeout", "srvtimeout", "clitimeout"} and len(words) >= 2:
            old = {"contimeout": "connect", "srvtimeout": "server", "clitimeout": "client"}
            seconds = haproxy_seconds(words[1])
            if seconds is not None:
                current.timeouts[old[words[0]]] = (seconds, number)
    if not any(s.kind in {"frontend", "backend", "listen", "defaults"} for s in sections):
        raise ConfigError(file, "no HAProxy defaults, frontend, backend or listen section")
    return sections


DOCS = "https://docs.haproxy.org/2.8/configuration.html#4.2-timeout%20server"
_NOT_STREAMS = re.compile(r"(^|[-_.])(static|assets?|stats|images?|cdn)($|[-_.])", re.I)
Check = Callable[[list[Section], str, Limits], list[Finding]]
rules: Registry[Check] = Registry("haproxy")


def _idle(
    sections: list[Section],
    which: str,
    kinds: set[str],
    who: str,
    rule: str,
    file: str,
    limits: Limits,
) -> list[Finding]:
    out: list[Finding] = []
    seen: set[int] = set()
    for section in sections:
        if section.kind not in kinds or not section.streams:
            continue
        got = section.timeout(which)
        if got is None or got[1] in seen:
            continue  # unset means no timeout (HAProxy warns at startup, streams live)
        seconds, line = got
        if seconds >= limits.idle_threshold:
            continue
        seen.add(line)
        want = limits.idle_setting
        out.append(
            rules.info(rule).finding(
                f"{section.kind} {section.name}: `timeout {which} {show(seconds)}` closes a "
                f"stream once the {who} side has been quiet that long, {limits.idle_why}: a "
                "pause in generation cuts the answer.",
                f"Set `timeout {which} {want}s` (anything >= {show(limits.idle_threshold)})."
                f"{limits.heartbeat_fix}",
                file,
                line,
                limits.idle_severity(seconds),
            )
        )
    return out


@rules.rule(
    "timeout-server",
    "HAProxy timeout server cuts a stream during a pause",
    Severity.ERROR,
    f"`timeout server` is the inactivity allowed on the server side ({DOCS}); a section "
    "inherits it from its defaults section. The stats page and backends named for static "
    "files are not taken for streams.",
)
def timeout_server(sections: list[Section], file: str, limits: Limits) -> list[Finding]:
    return _idle(sections, "server", {"backend", "listen"}, "app", "timeout-server", file, limits)


@rules.rule(
    "timeout-client",
    "HAProxy timeout client cuts a stream during a pause",
    Severity.WARNING,
    "`timeout client` is the inactivity allowed on the client side "
    "(https://docs.haproxy.org/2.8/configuration.html#4.2-timeout%20client).",
)
def timeout_client(sections: list[Section], file: str, limits: Limits) -> list[Finding]:
    return _idle(
        sections, "client", {"frontend", "listen"}, "client", "timeout-client", file, limits
    )


def check(sections: list[Section], file: str, limits: Limits) -> list[Finding]:
    return rules.run(sections, file, limits)
