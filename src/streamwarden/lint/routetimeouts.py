"""Total timeouts on routes declared in Kubernetes objects: Gateway API HTTPRoute, Envoy AI
Gateway AIGatewayRoute, Istio VirtualService, Cloud Run / Knative Service. Each counts the whole response, so a stream
still running when it expires is cut, heartbeats or not.
"""

from __future__ import annotations

from collections.abc import Callable

import yaml

from streamwarden.lint import yamlnodes as y
from streamwarden.lint.durations import nginx_seconds, plain_seconds, show
from streamwarden.lint.findings import Finding, Limits, Severity
from streamwarden.lint.registry import Registry, RuleInfo

Check = Callable[[y.YamlFile, Limits], list[Finding]]
gateway_api: Registry[Check] = Registry("gateway-api")
ai_gateway: Registry[Check] = Registry("ai-gateway")
istio: Registry[Check] = Registry("istio")
cloud_run: Registry[Check] = Registry("cloud-run")
gke: Registry[Check] = Registry("gcp-lb")  # the YAML side of terraform.gcp's rule

GATEWAY_DOCS = "https://gateway-api.sigs.k8s.io/api-types/httproute/#timeouts-optional"
ISTIO_DOCS = "https://istio.io/latest/docs/reference/config/networking/virtual-service/#HTTPRoute"
CLOUD_RUN_DOCS = "https://cloud.google.com/run/docs/configuring/request-timeout"
CLOUD_RUN_DEFAULT = 300.0
GKE_BACKEND_DEFAULT = 30.0
GKE_DOCS = (
    "https://cloud.google.com/kubernetes-engine/docs/how-to/ingress-configuration"
    "#timeout and https://cloud.google.com/kubernetes-engine/docs/how-to/"
    "configure-gateway-resources#configure_timeout"
)
AI_GATEWAY_DOCS = "https://aigateway.envoyproxy.io/docs/api/#aigatewayrouterule"
AI_GATEWAY_DEFAULT = 60.0


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


def _total_setting(
    file: y.YamlFile,
    limits: Limits,
    doc: yaml.Node,
    holder: yaml.Node | None,
    key: str,
    default: float,
    rule: RuleInfo,
    what: str,
    fix: str,
) -> list[Finding]:
    """A whole-response limit written as `key` under `holder` (its default when unset, nothing
    when a template hides it), reported where it is written or at the resource's `kind`."""
    if file.unknown(holder, key):
        return []
    node = y.get(holder, key)
    seconds = plain_seconds(y.scalar(node)) if node is not None else default
    found = _total(limits, seconds, what, key + ("" if node is not None else " (default)"), fix)
    if not found:
        return []
    at = node if node is not None else (y.key_node(doc, "kind") or doc)
    return [rule.finding(*found, file.path, y.line(at))]


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


@ai_gateway.rule(
    "request-timeout",
    "an AIGatewayRoute rule's request timeout (60 s default) ends the whole stream",
    Severity.ERROR,
    "Each AIGatewayRoute rule's `timeouts.request` bounds the whole request, response "
    "included; unset, Envoy AI Gateway applies 60 s, not Envoy Gateway's 15 s "
    f"({AI_GATEWAY_DOCS}).",
)
def aigatewayroute_timeout(file: y.YamlFile, limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    for doc in file.docs:
        api = y.scalar(y.get(doc, "apiVersion")) or ""
        if y.kind_of(doc) != "AIGatewayRoute" or not api.startswith("aigateway.envoyproxy.io"):
            continue
        spec = y.get(doc, "spec")
        rules = y.get(spec, "rules")
        if file.unknown(spec, "rules") or not isinstance(rules, yaml.SequenceNode):
            continue
        name = f"AIGatewayRoute {y.name_of(doc)}"
        want = f"`timeouts: {{request: {int(limits.max_duration) + 60}s}}`"
        on_default: list[yaml.Node] = []
        for rule in rules.value:
            timeouts = y.get(rule, "timeouts")
            if file.unknown(rule, "timeouts") or file.unknown(timeouts, "request"):
                continue
            node = y.get(timeouts, "request")
            if node is None:
                on_default.append(rule)
                continue
            found = _total(
                limits,
                nginx_seconds(y.scalar(node) or ""),
                name,
                "timeouts.request",
                f"Set {want} on the rule.",
            )
            if found:
                out.append(
                    ai_gateway.info("request-timeout").finding(*found, file.path, y.line(node))
                )
        # One cause, one finding: the rules left on the default share it.
        found = _total(
            limits,
            AI_GATEWAY_DEFAULT if on_default else None,
            f"{name} ({len(on_default)} of its rules)",
            "timeouts.request (default)",
            f"Set {want} on each streaming rule.",
        )
        if found:
            out.append(
                ai_gateway.info("request-timeout").finding(*found, file.path, y.line(on_default[0]))
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
        out += _total_setting(
            file,
            limits,
            doc,
            spec,
            "timeoutSeconds",
            CLOUD_RUN_DEFAULT,
            cloud_run.info("request-timeout"),
            f"Cloud Run service {y.name_of(doc)}",
            f"Set `timeoutSeconds: {min(3600, int(limits.max_duration) + 60)}` (max 3600).",
        )
    return out


@gke.rule(
    "backend-timeout",
    "the GCP backend timeout (30 s default) ends the whole stream",
    Severity.ERROR,
    "A GKE BackendConfig's `timeoutSec` (Ingress) and a GCPBackendPolicy's "
    "`default.timeoutSec` (Gateway) set the load balancer's backend service timeout, the "
    f"whole-response limit, 30 s when unset ({GKE_DOCS}).",
)
def gke_backend_timeout(file: y.YamlFile, limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    for doc in file.docs:
        kind = y.kind_of(doc)
        api = y.scalar(y.get(doc, "apiVersion")) or ""
        if kind == "BackendConfig" and api.startswith("cloud.google.com"):
            holder = y.get(doc, "spec")
        elif kind == "GCPBackendPolicy" and api.startswith("networking.gke.io"):
            holder = y.get(y.get(doc, "spec"), "default")
        else:
            continue
        out += _total_setting(
            file,
            limits,
            doc,
            holder,
            "timeoutSec",
            GKE_BACKEND_DEFAULT,
            gke.info("backend-timeout"),
            f"{kind} {y.name_of(doc)}",
            f"Set `timeoutSec: {int(limits.max_duration) + 30}` (longer than the longest stream).",
        )
    return out


def check(file: y.YamlFile, limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    for registry in (gateway_api, ai_gateway, istio, cloud_run, gke):
        out += registry.run(file, limits)
    return out
