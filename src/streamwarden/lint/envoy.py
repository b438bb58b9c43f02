"""Envoy: route timeouts. A route's `timeout` counts the whole response, 15 s by default, and
ends a stream that is still sending; `0s` disables it. `idle_timeout` on a route counts silence.
"""

from __future__ import annotations

import yaml

from streamwarden.lint import yamlnodes as y
from streamwarden.lint.durations import envoy_seconds, show
from streamwarden.lint.findings import Finding, Limits, Severity

DEFAULT_ROUTE_TIMEOUT = 15.0
_TARGETS = {"cluster", "cluster_header", "weighted_clusters", "cluster_specifier_plugin"}


def looks_like_envoy(docs: list[yaml.Node]) -> bool:
    keys = {"static_resources", "virtual_hosts", "route_config", "dynamic_resources"}
    return any(any(k in keys for k, _, _ in y.items(m)) for d in docs for m in y.walk(d))


def check(docs: list[yaml.Node], file: str, limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    for doc in docs:
        for mapping in y.walk(doc):
            route = y.get(mapping, "route")
            if not any(y.get(route, t) is not None for t in _TARGETS):
                continue
            name = y.scalar(y.get(mapping, "name"))
            match = y.get(mapping, "match")
            prefix = y.scalar(y.get(match, "prefix")) or y.scalar(y.get(match, "path"))
            what = f"route {name or prefix or '?'}"
            timeout_key = y.key_node(route, "timeout")
            timeout = y.get(route, "timeout")
            seconds = (
                envoy_seconds(y.to_python(timeout))
                if timeout is not None
                else DEFAULT_ROUTE_TIMEOUT
            )
            if seconds is not None and seconds != 0 and seconds < limits.max_duration:
                line = (
                    y.line(timeout_key)
                    if timeout_key
                    else y.line(y.key_node(mapping, "route") or mapping)
                )
                out.append(
                    Finding(
                        "envoy/route-timeout",
                        Severity.ERROR,
                        f"{what}: the route timeout is {show(seconds)}"
                        f"{'' if timeout is not None else ' (the default)'} and counts the whole "
                        "response: Envoy ends any stream still running at that point, "
                        f"heartbeats or not (--max-duration is {show(limits.max_duration)}).",
                        "Set `timeout: 0s` on the route (no total limit) or at least "
                        f"`timeout: {int(limits.max_duration)}s`, and bound silence with "
                        f"`idle_timeout: {max(300, int(limits.idle_threshold * 2))}s`.",
                        file=file,
                        line=line,
                    )
                )
            idle = y.get(route, "idle_timeout")
            idle_s = envoy_seconds(y.to_python(idle)) if idle is not None else None
            if idle is not None and idle_s and idle_s < limits.idle_threshold:
                out.append(
                    Finding(
                        "envoy/idle-timeout",
                        Severity.ERROR,
                        f"{what}: idle_timeout {show(idle_s)} ends a stream that is silent that "
                        f"long, less than twice the longest expected gap ({show(limits.max_gap)}).",
                        f"Set `idle_timeout: {max(300, int(limits.idle_threshold * 2))}s`.",
                        file=file,
                        line=y.line(y.key_node(route, "idle_timeout") or mapping),
                    )
                )
    return out
