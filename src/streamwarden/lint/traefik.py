"""Traefik (static and dynamic YAML): entry point write timeouts and the buffering middleware."""

from __future__ import annotations

from collections.abc import Callable

import yaml

from streamwarden.lint import yamlnodes as y
from streamwarden.lint.durations import nginx_seconds, show
from streamwarden.lint.findings import Finding, Limits, Severity
from streamwarden.lint.registry import Registry

ENTRYPOINTS = "https://doc.traefik.io/traefik/routing/entrypoints/#respondingtimeouts"
BUFFERING = "https://doc.traefik.io/traefik/middlewares/http/buffering/"

Check = Callable[[y.YamlFile, Limits], list[Finding]]
rules: Registry[Check] = Registry("traefik")


def looks_like_traefik(docs: list[yaml.Node]) -> bool:
    return any(
        y.get(d, "entryPoints") is not None or y.get(y.get(d, "http"), "middlewares") is not None
        for d in docs
    )


def _seconds(text: str | None) -> float | None:
    if text is None:
        return None
    return nginx_seconds(text) if not text.isdigit() else float(text)


@rules.rule(
    "write-timeout",
    "an entry point's respondingTimeouts.writeTimeout ends the whole stream",
    Severity.ERROR,
    "`respondingTimeouts.writeTimeout` is the longest time to write a response; 0 (the "
    f"default) means no limit ({ENTRYPOINTS}).",
)
def write_timeout(file: y.YamlFile, limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    for doc in file.docs:
        for name, _, entry in y.items(y.get(doc, "entryPoints")):
            node = y.get(y.get(y.get(entry, "transport"), "respondingTimeouts"), "writeTimeout")
            seconds = _seconds(y.scalar(node))
            if node is None or not seconds or seconds >= limits.max_duration:
                continue
            out.append(
                rules.info("write-timeout").finding(
                    f"entry point {name}: writeTimeout {show(seconds)} ends any response still "
                    f"being written then, a stream included (--max-duration is "
                    f"{show(limits.max_duration)}).",
                    "Set `writeTimeout: 0s` (no limit, the default) or above the longest stream.",
                    file.path,
                    y.line(node),
                )
            )
    return out


@rules.rule(
    "buffering",
    "the buffering middleware holds the whole response",
    Severity.WARNING,
    f"The buffering middleware reads whole requests and responses into memory before passing "
    f"them on ({BUFFERING}).",
)
def buffering(file: y.YamlFile, limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    for doc in file.docs:
        for name, key, middleware in y.items(y.get(y.get(doc, "http"), "middlewares")):
            if y.get(middleware, "buffering") is None:
                continue
            out.append(
                rules.info("buffering").finding(
                    f"middleware {name} buffers: a stream routed through it reaches the client "
                    "only when it ends.",
                    "Keep the buffering middleware off the streaming routers.",
                    file.path,
                    y.line(key),
                )
            )
    return out


def check(file: y.YamlFile, limits: Limits) -> list[Finding]:
    return rules.run(file, limits)
