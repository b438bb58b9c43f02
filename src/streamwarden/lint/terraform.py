"""Terraform: load balancer, API Gateway, Cloud Run and CloudFront timeouts.

HCL is read with a small brace scanner rather than a full parser (python-hcl2 exists but is a
heavy dependency for a few attributes): it finds `resource "TYPE" "NAME" {` and the
`key = value` lines inside, nested blocks included (as `block.key`), skipping strings and
comments. A value that is a variable or an expression is unknown, and no rule judges it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from streamwarden.lint import apigateway
from streamwarden.lint.durations import nginx_seconds, number, show
from streamwarden.lint.findings import ConfigError, Finding, Limits, Severity
from streamwarden.lint.registry import Registry

_RESOURCE = re.compile(r'^\s*resource\s+"([^"]+)"\s+"([^"]+)"\s*\{', re.MULTILINE)
_ATTR = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(.+?)\s*$")
_BLOCK = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*(\"[^\"]*\"\s*)*\{\s*$")
ALB_TYPES = {"aws_lb", "aws_alb"}
GCP_TYPES = {"google_compute_backend_service", "google_compute_region_backend_service"}
ALB_DEFAULT_IDLE = 60.0
ALB_MAX_IDLE = 4000
GCP_DEFAULT_TIMEOUT = 30.0
CLOUD_RUN_DEFAULT = 300.0
CLOUDFRONT_DEFAULT_READ = 30.0


@dataclass(frozen=True, slots=True)
class Resource:
    type: str
    name: str
    line: int
    attrs: dict[str, tuple[str, int]]  # `key` or `block.key`: raw value text and line

    @property
    def where(self) -> str:
        return f'{self.type} "{self.name}"'

    def seconds(
        self, key: str, parse: Callable[[str], float | None] = number
    ) -> tuple[float | None, int | None, bool]:
        """(value, line, whether it is set); a set value that is not a literal is None."""
        raw = self.attrs.get(key)
        if raw is None:
            return None, None, False
        return parse(raw[0]), raw[1], True


def _strip_comment(line: str) -> str:
    out, quoted = [], False
    for i, ch in enumerate(line):
        if ch == '"' and (i == 0 or line[i - 1] != "\\"):
            quoted = not quoted
        if not quoted and (ch == "#" or line.startswith("//", i)):
            break
        out.append(ch)
    return "".join(out)


def parse(text: str, file: str) -> list[Resource]:
    lines = [_strip_comment(raw) for raw in text.splitlines()]
    resources: list[Resource] = []
    i = 0
    while i < len(lines):
        match = _RESOURCE.match(lines[i])
        if match is None:
            i += 1
            continue
        start = i
        depth = lines[i].count("{") - lines[i].count("}")
        path: list[str] = []
        attrs: dict[str, tuple[str, int]] = {}
        i += 1
        while depth > 0 and i < len(lines):
            line = lines[i]
            block = _BLOCK.match(line)
            attr = _ATTR.match(line)
            opened, closed = line.count("{"), line.count("}")
            pushed = False
            if block is not None:
                path.append(block.group(1))
                pushed = True
            elif attr is not None and opened == 0:
                key = ".".join([*path, attr.group(1)])
                attrs.setdefault(key, (attr.group(2).strip().strip('"'), i + 1))
            elif opened > closed:
                path.append("?")  # `key = {` maps and other nesting
                pushed = True
            for _ in range(closed - opened + (1 if pushed else 0)):
                if path:
                    path.pop()
            depth += opened - closed
            i += 1
        if depth > 0:
            raise ConfigError(file, f"resource {match.group(1)} is never closed", start + 1)
        resources.append(Resource(match.group(1), match.group(2), start + 1, attrs))
    return resources


Check = Callable[[Resource, str, Limits], list[Finding]]
alb: Registry[Check] = Registry("aws-alb")
gcp: Registry[Check] = Registry("gcp-lb")
cloud_run: Registry[Check] = Registry("cloud-run")
cloudfront: Registry[Check] = Registry("cloudfront")


@alb.rule(
    "idle-timeout",
    "the ALB idle timeout cuts a stream during a pause",
    Severity.ERROR,
    "An ALB closes a connection idle for idle_timeout seconds, 60 by default, up to 4000 "
    "(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/"
    "edit-load-balancer-attributes.html#connection-idle-timeout).",
)
def alb_idle(res: Resource, file: str, limits: Limits) -> list[Finding]:
    if res.type not in ALB_TYPES:
        return []
    if res.attrs.get("load_balancer_type", ("application", 0))[0] != "application":
        return []  # NLB and GWLB have no HTTP idle timeout
    seconds, line, written = res.seconds("idle_timeout")
    if written and seconds is None:
        return []
    seconds = ALB_DEFAULT_IDLE if seconds is None else seconds
    if seconds >= limits.idle_threshold:
        return []
    want = min(ALB_MAX_IDLE, limits.idle_setting)
    return [
        alb.info("idle-timeout").finding(
            f"{res.where}: idle_timeout is {show(seconds)}{'' if written else ' (default)'}: "
            "the ALB closes a stream that is silent that long (the client sees a cut or 504), "
            f"{limits.idle_why}.",
            f"Set `idle_timeout = {want}` (max {ALB_MAX_IDLE}; anything >= "
            f"{show(limits.idle_threshold)}).{limits.heartbeat_fix}",
            file,
            line or res.line,
            limits.idle_severity(seconds),
        )
    ]


@gcp.rule(
    "backend-timeout",
    "the GCP backend timeout (30 s default) ends the whole stream",
    Severity.ERROR,
    "A backend service's timeout_sec is the whole-response timeout for HTTP(S) load balancers, "
    "30 s by default (https://cloud.google.com/load-balancing/docs/backend-service#timeout-setting). "
    "On GKE it is a BackendConfig's `timeoutSec` (Ingress) or a GCPBackendPolicy's "
    "`default.timeoutSec` (Gateway), read from YAML by the same rule.",
)
def gcp_backend(res: Resource, file: str, limits: Limits) -> list[Finding]:
    if res.type not in GCP_TYPES:
        return []
    seconds, line, written = res.seconds("timeout_sec")
    if written and seconds is None:
        return []
    seconds = GCP_DEFAULT_TIMEOUT if seconds is None else seconds
    if seconds >= limits.max_duration:
        return []
    return [
        gcp.info("backend-timeout").finding(
            f"{res.where}: timeout_sec is {show(seconds)}{'' if written else ' (default)'} and "
            "counts the whole response: the load balancer ends any stream still running then, "
            f"heartbeats or not (--max-duration is {show(limits.max_duration)}).",
            f"Set `timeout_sec = {int(limits.max_duration) + 30}` (longer than the longest "
            "stream).",
            file,
            line or res.line,
        )
    ]


@cloud_run.rule(
    "request-timeout",
    "the Cloud Run request timeout (300 s default) ends the whole stream",
    Severity.ERROR,
    "Cloud Run ends a request after the service's timeout, 5 minutes by default, at most 60 "
    "(https://cloud.google.com/run/docs/configuring/request-timeout).",
)
def cloud_run_timeout(res: Resource, file: str, limits: Limits) -> list[Finding]:
    if res.type == "google_cloud_run_v2_service":
        seconds, line, written = res.seconds("template.timeout", nginx_seconds)
        key = "template { timeout }"
    elif res.type == "google_cloud_run_service":
        seconds, line, written = res.seconds("template.spec.timeout_seconds")
        key = "template { spec { timeout_seconds } }"
    else:
        return []
    if written and seconds is None:
        return []
    seconds = CLOUD_RUN_DEFAULT if seconds is None else seconds
    if seconds >= limits.max_duration:
        return []
    want = min(3600, int(limits.max_duration) + 60)
    return [
        cloud_run.info("request-timeout").finding(
            f"{res.where}: the request timeout is {show(seconds)}"
            f"{'' if written else ' (default)'}: Cloud Run ends any stream still running then "
            f"(--max-duration is {show(limits.max_duration)}).",
            f"Set {key} to {want} seconds (max 3600).",
            file,
            line or res.line,
        )
    ]


@cloudfront.rule(
    "origin-read-timeout",
    "CloudFront's origin_read_timeout (30 s default) cuts a stream during a pause",
    Severity.ERROR,
    "CloudFront waits origin_read_timeout seconds for each packet from the origin, 30 by "
    "default, 60 at most without a quota increase (https://docs.aws.amazon.com/AmazonCloudFront/"
    "latest/DeveloperGuide/DownloadDistValuesOrigin.html#DownloadDistValuesOriginResponseTimeout).",
)
def cloudfront_read(res: Resource, file: str, limits: Limits) -> list[Finding]:
    if res.type != "aws_cloudfront_distribution":
        return []
    key = "origin.custom_origin_config.origin_read_timeout"
    if (
        "origin.custom_origin_config.origin_protocol_policy" not in res.attrs
        and key not in res.attrs
    ):
        return []  # S3 origins only
    seconds, line, written = res.seconds(key)
    if written and seconds is None:
        return []
    seconds = CLOUDFRONT_DEFAULT_READ if seconds is None else seconds
    if seconds >= limits.idle_threshold:
        return []
    return [
        cloudfront.info("origin-read-timeout").finding(
            f"{res.where}: origin_read_timeout is {show(seconds)}"
            f"{'' if written else ' (default)'}: CloudFront gives up on an origin silent that "
            f"long (504), {limits.idle_why}.",
            "Set `origin_read_timeout = 60` and heartbeat more often than every 30 s (above 60 "
            "needs a quota increase).",
            file,
            line or res.line,
            limits.idle_severity(seconds),
        )
    ]


def check(resources: list[Resource], file: str, limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    for res in resources:
        for registry in (alb, gcp, cloud_run, cloudfront):
            for _, rule in registry.checks:
                out += rule(res, file, limits)
        if res.type == "aws_apigatewayv2_integration":
            raw = res.attrs.get("timeout_milliseconds")
            line = raw[1] if raw else res.line
            out += apigateway.integration_timeout(
                2, raw[0] if raw else None, res.where, file, line, limits
            )
        elif res.type == "aws_api_gateway_integration":
            raw = res.attrs.get("timeout_milliseconds")
            line = raw[1] if raw else res.line
            out += apigateway.integration_timeout(
                1, raw[0] if raw else None, res.where, file, line, limits
            )
    return out
