"""Kubernetes ingress-nginx: annotations on Ingress objects and the controller's ConfigMap.

ingress-nginx defaults differ from nginx's: proxy-buffering is "off" and proxy-http-version is
"1.1", so only explicit settings and the read timeout (60 s) can hurt a stream.
"""

from __future__ import annotations

import yaml

from streamwarden.lint import yamlnodes as y
from streamwarden.lint.durations import plain_seconds, show
from streamwarden.lint.findings import Finding, Limits, Severity

PREFIX = "nginx.ingress.kubernetes.io/"
DEFAULT_READ_TIMEOUT = 60.0


def _settings(doc: yaml.Node) -> tuple[str, dict[str, tuple[str, int]], int] | None:
    """(what, {setting: (value, line)}, line to report defaults) for an Ingress or ConfigMap."""
    kind = y.scalar(y.get(doc, "kind"))
    meta = y.get(doc, "metadata")
    if kind == "Ingress":
        name = y.scalar(y.get(meta, "name")) or "?"
        out = {
            key.removeprefix(PREFIX): (y.scalar(v) or "", y.line(k))
            for key, k, v in y.items(y.get(meta, "annotations"))
            if key.startswith(PREFIX)
        }
        return f"Ingress {name}", out, y.line(y.key_node(doc, "kind") or doc)
    if kind == "ConfigMap":
        data = y.get(doc, "data")
        out = {key: (y.scalar(v) or "", y.line(k)) for key, k, v in y.items(data)}
        if not {"proxy-buffering", "proxy-read-timeout"} & out.keys():
            return None  # some other ConfigMap
        name = y.scalar(y.get(meta, "name")) or "?"
        return f"ConfigMap {name}", out, y.line(doc)
    return None


def check(docs: list[yaml.Node], file: str, limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    for doc in docs:
        found = _settings(doc)
        if found is None:
            continue
        what, settings, default_line = found
        is_ingress = what.startswith("Ingress")
        key = (PREFIX if is_ingress else "") + "proxy-buffering"
        buffering = settings.get("proxy-buffering")
        if buffering and buffering[0].lower() == "on":
            out.append(
                Finding(
                    "ingress/proxy-buffering",
                    Severity.WARNING,
                    f'{what}: `{key}: "on"` makes ingress-nginx collect responses in 4-8 KB '
                    "buffers: SSE events reach the client in bursts, short answers all at the "
                    "end, unless the app sends `X-Accel-Buffering: no`.",
                    f'Set `{key}: "off"` (the ingress-nginx default).',
                    file=file,
                    line=buffering[1],
                )
            )
        timeout = settings.get("proxy-read-timeout")
        if timeout is None and not is_ingress:
            continue  # a ConfigMap without the key keeps the default; the Ingress reports it
        seconds = plain_seconds(timeout[0]) if timeout else DEFAULT_READ_TIMEOUT
        if seconds is not None and seconds < limits.idle_threshold:
            key = (PREFIX if is_ingress else "") + "proxy-read-timeout"
            want = max(300, int(limits.idle_threshold * 2))
            out.append(
                Finding(
                    "ingress/read-timeout",
                    Severity.ERROR,
                    f"{what}: proxy-read-timeout is {show(seconds)}"
                    f"{'' if timeout else ' (default)'}: ingress-nginx closes a stream after "
                    f"that long without a byte from the app, less than twice the longest "
                    f"expected gap ({show(limits.max_gap)}), so a pause cuts the answer.",
                    f'Set `{key}: "{want}"` (anything >= {show(limits.idle_threshold)}).',
                    file=file,
                    line=timeout[1] if timeout else default_line,
                )
            )
    return out
