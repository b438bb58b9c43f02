"""Kubernetes ingress-nginx: annotations on Ingress objects and the controller's ConfigMap.

ingress-nginx's own semantics, not nginx's: it proxies with HTTP/1.1 (`proxy-http-version`
"1.1"), so `proxy-buffering: "on"` does not hold chunked streams back; and it reads the timeout
annotations as integer seconds, so `"600s"` is rejected and the controller's default (60 s) is
used instead, silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import yaml

from streamwarden.lint import yamlnodes as y
from streamwarden.lint.durations import plain_seconds, show
from streamwarden.lint.findings import Finding, Limits, Severity
from streamwarden.lint.registry import Registry

PREFIX = "nginx.ingress.kubernetes.io/"
DOCS = "https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/annotations/"
DEFAULT_READ_TIMEOUT = 60.0
INTEGER_ANNOTATIONS = ("proxy-read-timeout", "proxy-send-timeout", "proxy-connect-timeout")


@dataclass(frozen=True, slots=True)
class Settings:
    """An Ingress's annotations (prefix removed) or a controller ConfigMap's data."""

    what: str  # "Ingress api" or "ConfigMap ingress-nginx-controller"
    values: dict[str, tuple[str, int]]  # setting -> (text, line)
    line: int  # where to report defaults
    is_ingress: bool

    def key(self, name: str) -> str:
        return (PREFIX if self.is_ingress else "") + name

    def seconds(self, name: str) -> tuple[float | None, int | None, bool]:
        """(seconds that apply, line, whether the written value was rejected)."""
        if name not in self.values:
            return None, None, False
        text, line = self.values[name]
        if "__helm__" in text:
            return None, line, False  # a template fills it: unknown
        if self.is_ingress:
            # ingress-nginx parses these annotations with strconv.Atoi: "600s" is invalid.
            try:
                return float(int(text.strip())), line, False
            except ValueError:
                return None, line, True
        return plain_seconds(text), line, False


def _settings(doc: yaml.Node, file: y.YamlFile) -> Settings | None:
    kind = y.kind_of(doc)
    meta = y.get(doc, "metadata")
    if kind == "Ingress":
        if file.unknown(meta, "annotations"):
            file.note(y.line(doc), f"annotations of Ingress {y.name_of(doc)}")
            return None
        values = {
            key.removeprefix(PREFIX): (y.scalar(v) or "", y.line(k))
            for key, k, v in y.items(y.get(meta, "annotations"))
            if key.startswith(PREFIX)
        }
        line = y.line(y.key_node(doc, "kind") or doc)
        return Settings(f"Ingress {y.name_of(doc)}", values, line, True)
    if kind == "ConfigMap":
        data = y.get(doc, "data")
        values = {key: (y.scalar(v) or "", y.line(k)) for key, k, v in y.items(data)}
        if not {"proxy-buffering", "proxy-read-timeout"} & values.keys():
            return None  # some other ConfigMap
        return Settings(f"ConfigMap {y.name_of(doc)}", values, y.line(doc), False)
    return None


Check = Callable[[Settings, str, Limits], list[Finding]]
rules: Registry[Check] = Registry("ingress")


@rules.rule(
    "invalid-annotation",
    "ingress-nginx rejects a timeout annotation and uses its default instead",
    Severity.WARNING,
    "ingress-nginx reads proxy-read-timeout, proxy-send-timeout and proxy-connect-timeout as "
    f"integer seconds ({DOCS}#custom-timeouts); a value with a unit (`600s`) fails to parse and "
    "the controller's default applies (proxy-read-timeout 60 s) without a word to the user.",
)
def invalid_annotation(s: Settings, file: str, limits: Limits) -> list[Finding]:
    if not s.is_ingress:
        return []
    bad = [(n, *s.values[n]) for n in INTEGER_ANNOTATIONS if n in s.values and s.seconds(n)[2]]
    if not bad:
        return []
    listed = ", ".join(f'`{s.key(n)}: "{text}"`' for n, text, _ in bad)
    fixed = ", ".join(f'`{s.key(n)}: "{_digits(text)}"`' for n, text, _ in bad)
    return [
        rules.info("invalid-annotation").finding(
            f"{s.what}: {listed} {'is' if len(bad) == 1 else 'are'} not integer seconds, so "
            "ingress-nginx rejects them and uses the controller's defaults (proxy-read-timeout: "
            "60 s unless its ConfigMap says otherwise): streams get the default, not these.",
            f"Write plain seconds: {fixed}.",
            file,
            bad[0][2],
        )
    ]


def _digits(text: str) -> str:
    seconds = plain_seconds(text)
    return str(int(seconds)) if seconds is not None else "300"


@rules.rule(
    "read-timeout",
    "ingress-nginx proxy-read-timeout cuts a stream during a pause",
    Severity.ERROR,
    f"proxy-read-timeout is the silence allowed between two reads from the app, 60 s by "
    f"default ({DOCS}#custom-timeouts).",
)
def read_timeout(s: Settings, file: str, limits: Limits) -> list[Finding]:
    seconds, line, invalid = s.seconds("proxy-read-timeout")
    if line is None and not s.is_ingress:
        return []  # a ConfigMap without the key keeps the default; the Ingress reports it
    if seconds is None and not invalid and line is not None:
        return []  # unreadable
    default = seconds is None
    seconds = DEFAULT_READ_TIMEOUT if default else seconds
    assert seconds is not None
    if seconds >= limits.idle_threshold:
        return []
    want = limits.idle_setting
    return [
        rules.info("read-timeout").finding(
            f"{s.what}: proxy-read-timeout is {show(seconds)}{' (default)' if default else ''}: "
            "ingress-nginx closes a stream after that long without a byte from the app, "
            f"{limits.idle_why}, so a pause cuts the answer.",
            f'Set `{s.key("proxy-read-timeout")}: "{want}"` (anything >= '
            f"{show(limits.idle_threshold)}).{limits.heartbeat_fix}",
            file,
            line or s.line,
            limits.idle_severity(seconds),
        )
    ]


@rules.rule(
    "proxy-buffering",
    "ingress-nginx buffers the response over HTTP/1.0",
    Severity.WARNING,
    "ingress-nginx proxies with HTTP/1.1 (proxy-http-version, "
    f"{DOCS}#proxy-http-version), so the app answers in chunks and buffering does not hold "
    "events back (measured on nginx 1.22, docs/lint.md); only buffering together with "
    '`proxy-http-version: "1.0"` does.',
)
def proxy_buffering(s: Settings, file: str, limits: Limits) -> list[Finding]:
    buffering = s.values.get("proxy-buffering")
    version = s.values.get("proxy-http-version")
    if not buffering or buffering[0].lower() != "on" or not version or version[0] != "1.0":
        return []
    if limits.app_sends_accel_buffering:
        return []
    return [
        rules.info("proxy-buffering").finding(
            f'{s.what}: `{s.key("proxy-buffering")}: "on"` with `{s.key("proxy-http-version")}:'
            ' "1.0"`: the app cannot answer in chunks, so ingress-nginx holds events in 4-8 KB '
            "buffers and the client gets them in bursts, a short answer all at the end.",
            f'Set `{s.key("proxy-buffering")}: "off"` or drop the HTTP/1.0 setting.',
            file,
            buffering[1],
        )
    ]


def check(file: y.YamlFile, limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    for doc in file.docs:
        settings = _settings(doc, file)
        if settings is None:
            continue
        for _, rule in rules.checks:
            out += rule(settings, file.path, limits)
    return out
