"""Terraform: `aws_lb` idle_timeout (idle) and GCP backend service timeout_sec (total).

HCL is read with a small brace scanner rather than a full parser (python-hcl2 exists but is a
heavy dependency for two attributes): it finds `resource "TYPE" "NAME" {` and the top-level
`key = value` lines inside, skipping strings, comments and nested blocks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from streamwarden.lint.durations import number, show
from streamwarden.lint.findings import ConfigError, Finding, Limits, Severity

_RESOURCE = re.compile(r'^\s*resource\s+"([^"]+)"\s+"([^"]+)"\s*\{', re.MULTILINE)
_ATTR = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*(.+?)\s*$")
ALB_TYPES = {"aws_lb", "aws_alb"}
GCP_TYPES = {"google_compute_backend_service", "google_compute_region_backend_service"}
ALB_DEFAULT_IDLE = 60.0
ALB_MAX_IDLE = 4000
GCP_DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Resource:
    type: str
    name: str
    line: int
    attrs: dict[str, tuple[str, int]]  # top-level attributes: raw value text and line


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
        attrs: dict[str, tuple[str, int]] = {}
        i += 1
        while depth > 0 and i < len(lines):
            if depth == 1:
                attr = _ATTR.match(lines[i])
                if attr is not None:
                    attrs[attr.group(1)] = (attr.group(2).strip().strip('"'), i + 1)
            depth += lines[i].count("{") - lines[i].count("}")
            i += 1
        if depth > 0:
            raise ConfigError(file, f"resource {match.group(1)} is never closed", start + 1)
        resources.append(Resource(match.group(1), match.group(2), start + 1, attrs))
    return resources


def check(resources: list[Resource], file: str, limits: Limits) -> list[Finding]:
    out: list[Finding] = []
    for res in resources:
        where = f'{res.type} "{res.name}"'
        if res.type in ALB_TYPES:
            kind = res.attrs.get("load_balancer_type", ("application", 0))[0]
            if kind != "application":
                continue  # NLB and GWLB have no HTTP idle timeout
            raw = res.attrs.get("idle_timeout")
            seconds = number(raw[0]) if raw else ALB_DEFAULT_IDLE
            if seconds is None or seconds >= limits.idle_threshold:
                continue
            want = min(ALB_MAX_IDLE, max(300, int(limits.idle_threshold * 2)))
            out.append(
                Finding(
                    "aws-alb/idle-timeout",
                    Severity.ERROR,
                    f"{where}: idle_timeout is {show(seconds)}{'' if raw else ' (default)'}: "
                    "the ALB closes a stream that is silent that long (the client sees a cut "
                    f"or 504), less than twice the longest expected gap ({show(limits.max_gap)}).",
                    f"Set `idle_timeout = {want}` (max {ALB_MAX_IDLE}; anything >= "
                    f"{show(limits.idle_threshold)}).",
                    file=file,
                    line=raw[1] if raw else res.line,
                )
            )
        elif res.type in GCP_TYPES:
            raw = res.attrs.get("timeout_sec")
            seconds = number(raw[0]) if raw else GCP_DEFAULT_TIMEOUT
            if seconds is None or seconds >= limits.max_duration:
                continue
            out.append(
                Finding(
                    "gcp-lb/backend-timeout",
                    Severity.ERROR,
                    f"{where}: timeout_sec is {show(seconds)}{'' if raw else ' (default)'} and "
                    "counts the whole response: the load balancer ends any stream still running "
                    f"then, heartbeats or not (--max-duration is {show(limits.max_duration)}).",
                    f"Set `timeout_sec = {int(limits.max_duration) + 30}` (longer than the "
                    "longest stream).",
                    file=file,
                    line=raw[1] if raw else res.line,
                )
            )
    return out
