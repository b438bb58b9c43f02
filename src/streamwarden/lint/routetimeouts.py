"""Total timeouts on routes declared in Kubernetes objects: Gateway API HTTPRoute, Istio
VirtualService, Cloud Run / Knative Service. Each counts the whole response, so a stream
still running when it expires is cut, heartbeats or not.
"""

from __future__ import annotations

from collections.abc import Callable

from streamwarden.lint import yamlnodes as y
from streamwarden.lint.durations import nginx_seconds, plain_seconds, show
from streamwarden.lint.findings import Finding, Limits, Severity
from streamwarden.lint.registry import Registry

Check = Callable[[y.YamlFile, Limits], list[Finding]]
gateway_api: Registry[Check] = Registry("gateway-api")
istio: Registry[Check] = Registry("istio")
cloud_run: Registry[Check] = Registry("cloud-run")

GATEWAY_DOCS = "https://gateway-api.sigs.k8s.io/api-types/httproute/#timeouts-optional"
ISTIO_DOCS = "https://istio.io/latest/docs/reference/config/networking/virtual-service/#HTTPRoute"
CLOUD_RUN_DOCS = "https://cloud.google.com/run/docs/configuring/request-timeout"
CLOUD_RUN_DEFAULT = 300.0


def _total(
    limits: Limits, seconds: float | None, what: str, setting: str, fix: str
) -> tuple[str, str] | None:
    if seconds is None or seconds == 0 or seconds >= limits.max_duration:
        return None
    return (
        f"{what}: {setting} {show(seconds)} counts the whole response: a stream still running "
        f"then is cut, heartbeats or not (--max-duration is {show(limits.max_duration)}).",
        fix,
    )


@gateway_api.rule(
    "request-timeout",
    "an HTTPRoute request timeout ends the whole stream",
    Severity.ERROR,
    "`timeouts.request` and `timeouts.backendRequest` bound the whole request, response "
    f"included ({GATEWAY_DOCS}); unset, the implementation's default applies.",
)
def httproute_timeout(file: y.YamlFile, limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    for doc in file.docs:
        if y.kind_of(doc) != "HTTPRoute":
            continue
        for rule in y.walk(doc):
            timeouts = y.get(rule, "timeouts")
            for key in ("request", "backendRequest"):
                node = y.get(timeouts, key)
                if node is None or file.unknown(timeouts, key):
                    continue
                seconds = nginx_seconds(y.scalar(node) or "")
                want = f"{int(limits.max_duration) + 60}s"
                found = _total(
                    limits,
                    seconds,
                    f"HTTPRoute {y.name_of(doc)}",
                    f"timeouts.{key}",
                    f"Set `timeouts: {{{key}: {want}}}` on the streaming rule (or `0s` where the "
                    "implementation allows no limit).",
                )
                if found:
                    out.append(
                        gateway_api.info("request-timeout").finding(*found, file.path, y.line(node))
                    )
    return out


@istio.rule(
    "route-timeout",
    "an Istio VirtualService timeout ends the whole stream",
    Severity.ERROR,
    f"`timeout` on an HTTP route bounds the whole response; it is off by default ({ISTIO_DOCS}).",
)
def virtualservice_timeout(file: y.YamlFile, limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    for doc in file.docs:
        if y.kind_of(doc) != "VirtualService":
            continue
        http = y.get(y.get(doc, "spec"), "http")
        for route in http.value if http is not None and hasattr(http, "value") else []:
            node = y.get(route, "timeout")
            if node is None or file.unknown(route, "timeout"):
                continue
            seconds = nginx_seconds(y.scalar(node) or "")
            found = _total(
                limits,
                seconds,
                f"VirtualService {y.name_of(doc)}",
                "timeout",
                "Remove `timeout` from the streaming route (Istio sets none by default) or set "
                f"it above the longest stream (`timeout: {int(limits.max_duration) + 60}s`).",
            )
            if found:
                out.append(istio.info("route-timeout").finding(*found, file.path, y.line(node)))
    return out


@cloud_run.rule(
    "request-timeout",
    "the Cloud Run request timeout (300 s default) ends the whole stream",
    Severity.ERROR,
    f"Cloud Run ends a request after its timeout, 5 minutes by default and at most 60 "
    f"({CLOUD_RUN_DOCS}), streaming or not.",
)
def knative_timeout(file: y.YamlFile, limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    for doc in file.docs:
        api = y.scalar(y.get(doc, "apiVersion")) or ""
        if y.kind_of(doc) != "Service" or not api.startswith("serving.knative.dev"):
            continue
        spec = y.get(y.get(y.get(doc, "spec"), "template"), "spec")
        if file.unknown(spec, "timeoutSeconds"):
            continue
        node = y.get(spec, "timeoutSeconds")
        seconds = plain_seconds(y.scalar(node)) if node is not None else CLOUD_RUN_DEFAULT
        found = _total(
            limits,
            seconds,
            f"Cloud Run service {y.name_of(doc)}",
            "timeoutSeconds" + ("" if node is not None else " (default)"),
            f"Set `timeoutSeconds: {min(3600, int(limits.max_duration) + 60)}` (max 3600).",
        )
        if found:
            at = node if node is not None else (y.key_node(doc, "kind") or doc)
            out.append(cloud_run.info("request-timeout").finding(*found, file.path, y.line(at)))
    return out


def check(file: y.YamlFile, limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    for registry in (gateway_api, istio, cloud_run):
        for _, rule in registry.checks:
            out += rule(file, limits)
    return out
