"""AWS API Gateway integration timeouts, from Terraform and CloudFormation alike.

HTTP APIs (v2) end an integration after at most 30 s; REST APIs (v1) after 29 s by default
(Regional and private APIs can ask for more). Either cuts a stream that runs longer.
"""

from __future__ import annotations

from collections.abc import Callable

from streamwarden.lint import yamlnodes as y
from streamwarden.lint.durations import number, show
from streamwarden.lint.findings import Finding, Limits, Severity
from streamwarden.lint.registry import Registry

V2_DOCS = "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-quotas.html"
V1_DOCS = "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html"
V2_MAX = 30.0
V1_DEFAULT = 29.0

rules: Registry[Callable[..., list[Finding]]] = Registry("aws-apigateway")
TIMEOUT = rules.note(
    "integration-timeout",
    "an API Gateway integration timeout (29-30 s) ends the whole stream",
    Severity.ERROR,
    f"HTTP API integrations time out after at most 30 s ({V2_DOCS}); REST API integrations "
    f"after 29 s by default, more only for Regional and private APIs on request ({V1_DOCS}).",
)


def integration_timeout(
    version: int, raw_ms: str | None, what: str, file: str, line: int, limits: Limits
) -> list[Finding]:
    """`raw_ms` is the written timeout in milliseconds (None: unset)."""
    written = number(raw_ms) if raw_ms is not None else None
    if version == 2:
        # Whatever is written, an HTTP API never waits longer than 30 s.
        seconds = min(written / 1000, V2_MAX) if written else V2_MAX
    elif raw_ms is not None and written is None:
        return []  # a v1 timeout from a variable: unknown, and it may be raised
    else:
        seconds = written / 1000 if written else V1_DEFAULT
    if seconds >= limits.max_duration:
        return []
    api = "HTTP API" if version == 2 else "REST API"
    return [
        TIMEOUT.finding(
            f"{what}: the {api} integration times out after {show(seconds)}"
            f"{'' if raw_ms is not None else ' (default)'}, ending any stream still running "
            f"(--max-duration is {show(limits.max_duration)}).",
            "Serve streams from a front door without a total limit (an ALB, CloudFront with "
            "a Lambda function URL in RESPONSE_STREAM mode) and keep API Gateway for short "
            "calls.",
            file,
            line,
        )
    ]


def check_cloudformation(file: y.YamlFile, limits: Limits) -> list[Finding]:
    """AWS::ApiGatewayV2::Integration and AWS::ApiGateway::Method resources."""
    out: list[Finding] = []
    for doc in file.docs:
        for name, _, res in y.items(y.get(doc, "Resources")):
            kind = y.scalar(y.get(res, "Type"))
            props = y.get(res, "Properties")
            if kind == "AWS::ApiGatewayV2::Integration":
                parent, version = props, 2
            elif kind == "AWS::ApiGateway::Method":
                parent, version = y.get(props, "Integration"), 1
                if parent is None:
                    continue
            else:
                continue
            node = y.get(parent, "TimeoutInMillis")
            raw = y.scalar(node) if node is not None else None
            if node is not None and raw is None:
                raw = "?"  # an intrinsic function (!Ref): unknown
            at = node if node is not None else (y.key_node(res, "Type") or res)
            out += integration_timeout(
                version, raw, f"{kind} {name}", file.path, y.line(at), limits
            )
    return out
