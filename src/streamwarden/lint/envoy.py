"""Envoy: route timeouts, stream timeouts on the HTTP connection manager, and ext_proc body
modes. A route's `timeout` counts the whole response, 15 s by default, and ends a stream that
is still sending; `0s` disables it. `idle_timeout` and `stream_idle_timeout` count silence.
"""

from __future__ import annotations

from collections.abc import Callable

import yaml

from streamwarden.lint import yamlnodes as y
from streamwarden.lint.durations import envoy_seconds, show
from streamwarden.lint.findings import Finding, Limits, Severity
from streamwarden.lint.registry import Registry

DEFAULT_ROUTE_TIMEOUT = 15.0
DEFAULT_STREAM_IDLE = 300.0
TIMEOUTS = "https://www.envoyproxy.io/docs/envoy/latest/faq/configuration/timeouts"
EXT_PROC = (
    "https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/http/ext_proc/v3/"
    "processing_mode.proto"
)
_TARGETS = {"cluster", "cluster_header", "weighted_clusters", "cluster_specifier_plugin"}


def looks_like_envoy(docs: list[yaml.Node]) -> bool:
    keys = {"static_resources", "virtual_hosts", "route_config", "dynamic_resources"}
    keys |= {"processing_mode", "stream_idle_timeout"}
    # Envoy Gateway's EnvoyPatchPolicy carries raw Envoy config in its JSON patches.
    if any(y.kind_of(d) == "EnvoyPatchPolicy" for d in docs):
        return True
    return any(any(k in keys for k, _, _ in y.items(m)) for d in docs for m in y.walk(d))


def _seconds(node: yaml.Node | None) -> float | None:
    return envoy_seconds(y.to_python(node)) if node is not None else None


Check = Callable[[y.YamlFile, Limits], list[Finding]]
rules: Registry[Check] = Registry("envoy")


def _routes(file: y.YamlFile) -> list[tuple[yaml.Node, yaml.Node, str]]:
    out = []
    for doc in file.docs:
        for mapping in y.walk(doc):
            route = y.get(mapping, "route")
            if not any(y.get(route, t) is not None for t in _TARGETS):
                continue
            assert route is not None
            name = y.scalar(y.get(mapping, "name"))
            match = y.get(mapping, "match")
            prefix = y.scalar(y.get(match, "prefix")) or y.scalar(y.get(match, "path"))
            out.append((mapping, route, f"route {name or prefix or '?'}"))
    return out


@rules.rule(
    "route-timeout",
    "Envoy's route timeout (15 s default) ends the whole stream",
    Severity.ERROR,
    f"A route's `timeout` spans the whole response and defaults to 15 s ({TIMEOUTS}); `0s` "
    "turns it off. A WebSocket is cut by it only during its upgrade handshake "
    "(envoyproxy/envoy#41068), so on a route a WebSocket upgrade covers it is a warning.",
)
def route_timeout(file: y.YamlFile, limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    upgraded = _websocket_scopes(file)
    for mapping, route, what in _routes(file):
        websocket = id(route) in upgraded
        timeout = y.get(route, "timeout")
        seconds = _seconds(timeout) if timeout is not None else DEFAULT_ROUTE_TIMEOUT
        if seconds is None or seconds == 0 or seconds >= limits.max_duration:
            continue
        key = y.key_node(route, "timeout") or y.key_node(mapping, "route") or mapping
        out.append(
            rules.info("route-timeout").finding(
                f"{what}: the route timeout is {show(seconds)}"
                f"{'' if timeout is not None else ' (the default)'} and counts the whole "
                "response: Envoy ends any stream still running at that point, heartbeats or "
                f"not (--max-duration is {show(limits.max_duration)})."
                + (_WEBSOCKETS if websocket else ""),
                "Set `timeout: 0s` on the route (no total limit) or at least "
                f"`timeout: {int(limits.max_duration)}s`, and bound silence with "
                f"`idle_timeout: {limits.idle_setting}s`.",
                file.path,
                y.line(key),
                Severity.WARNING if websocket else None,
            )
        )
    return out


# Envoy applies the route timeout to a WebSocket's upgrade handshake only, not to the
# upgraded connection (envoyproxy/envoy#41068 and #41075), so a WebSocket-only route is not
# cut by it; SSE and other HTTP streams on the same route are.
_WEBSOCKETS = (
    " This config upgrades WebSockets, which the route timeout does not cut once upgraded "
    "(only their handshake); if the route carries nothing else, this does not apply."
)


def _websocket_scopes(file: y.YamlFile) -> set[int]:
    """The nodes under an `upgrade_configs` that upgrades WebSockets: a connection manager's
    (every route it holds) or a route action's own."""
    out: set[int] = set()
    for doc in file.docs:
        for node in y.walk(doc):
            upgrades = y.get(node, "upgrade_configs")
            if isinstance(upgrades, yaml.SequenceNode) and any(
                (y.scalar(y.get(item, "upgrade_type")) or "").lower() == "websocket"
                for item in upgrades.value
            ):
                out |= {id(inner) for inner in y.walk(node)}
    return out


@rules.rule(
    "idle-timeout",
    "Envoy's route idle_timeout cuts a stream during a pause",
    Severity.ERROR,
    f"A route's `idle_timeout` ends a stream silent that long ({TIMEOUTS}).",
)
def idle_timeout(file: y.YamlFile, limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    for mapping, route, what in _routes(file):
        idle = _seconds(y.get(route, "idle_timeout"))
        if not idle or idle >= limits.idle_threshold:
            continue
        out.append(
            rules.info("idle-timeout").finding(
                f"{what}: idle_timeout {show(idle)} ends a stream that is silent that long, "
                f"{limits.idle_why}.",
                f"Set `idle_timeout: {limits.idle_setting}s`.{limits.heartbeat_fix}",
                file.path,
                y.line(y.key_node(route, "idle_timeout") or mapping),
                limits.idle_severity(idle),
            )
        )
    return out


@rules.rule(
    "stream-idle-timeout",
    "the connection manager's stream_idle_timeout cuts a stream during a pause",
    Severity.ERROR,
    "`stream_idle_timeout` on the HTTP connection manager (5 min by default) resets a stream "
    f"with no activity for that long ({TIMEOUTS}).",
)
def stream_idle_timeout(file: y.YamlFile, limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    for doc in file.docs:
        for mapping in y.walk(doc):
            node = y.get(mapping, "stream_idle_timeout")
            seconds = _seconds(node)
            if node is None or not seconds or seconds >= limits.idle_threshold:
                continue
            out.append(
                rules.info("stream-idle-timeout").finding(
                    f"stream_idle_timeout {show(seconds)} resets a stream silent that long, "
                    f"{limits.idle_why}.",
                    f"Set `stream_idle_timeout: {limits.idle_setting}s`.{limits.heartbeat_fix}",
                    file.path,
                    y.line(node),
                    limits.idle_severity(seconds),
                )
            )
    return out


@rules.rule(
    "max-stream-duration",
    "max_stream_duration ends the whole stream",
    Severity.ERROR,
    "`common_http_protocol_options.max_stream_duration` (connection manager) and a route's "
    f"`max_stream_duration.max_stream_duration` end a stream after that long ({TIMEOUTS}); "
    "unset means no limit.",
)
def max_stream_duration(file: y.YamlFile, limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    for doc in file.docs:
        for mapping in y.walk(doc):
            node = y.get(mapping, "max_stream_duration")
            if isinstance(node, yaml.MappingNode):  # the route form nests it
                node = y.get(node, "max_stream_duration")
            seconds = _seconds(node)
            if node is None or not seconds or seconds >= limits.max_duration:
                continue
            out.append(
                rules.info("max-stream-duration").finding(
                    f"max_stream_duration {show(seconds)} ends any stream still running then, "
                    f"heartbeats or not (--max-duration is {show(limits.max_duration)}).",
                    f"Remove it or set it above the longest stream "
                    f"(`{int(limits.max_duration) + 60}s`).",
                    file.path,
                    y.line(node),
                )
            )
    return out


@rules.rule(
    "ext-proc-buffered",
    "an ext_proc filter buffers the whole response body",
    Severity.WARNING,
    "`response_body_mode: BUFFERED` sends the whole body to the processor before the client "
    "sees a byte; BUFFERED_PARTIAL holds it up to the buffer limit; STREAMED and FULL_DUPLEX_"
    f"STREAMED pass chunks on ({EXT_PROC}).",
)
def ext_proc_buffered(file: y.YamlFile, limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    for doc in file.docs:
        for mapping in y.walk(doc):
            node = y.get(y.get(mapping, "processing_mode"), "response_body_mode")
            mode = y.scalar(node)
            if node is None or mode not in {"BUFFERED", "BUFFERED_PARTIAL"}:
                continue
            out.append(
                rules.info("ext-proc-buffered").finding(
                    f"ext_proc `response_body_mode: {mode}`: Envoy holds the response for the "
                    "external processor, so a stream reaches the client "
                    + ("only when it ends." if mode == "BUFFERED" else "in buffer-sized bursts."),
                    "Use `response_body_mode: STREAMED` (or FULL_DUPLEX_STREAMED) for streaming "
                    "routes, or `NONE` where the processor does not need the body.",
                    file.path,
                    y.line(node),
                )
            )
    return out


def check(file: y.YamlFile, limits: Limits) -> list[Finding]:
    return rules.run(file, limits)
