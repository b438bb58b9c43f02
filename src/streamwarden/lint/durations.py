"""Time values as nginx, HAProxy, Envoy and Kubernetes write them, in seconds."""

from __future__ import annotations

import math
import re

_NGINX_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
    "M": 2592000.0,
    "y": 31536000.0,
}
_NGINX_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|M|y)?")
_HAPROXY = re.compile(r"^(\d+(?:\.\d+)?)(us|ms|s|m|h|d)?$")
_HAPROXY_UNITS = {"us": 1e-6, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def nginx_seconds(value: str) -> float | None:
    """`60`, `60s`, `1m30s`, `500ms` -> seconds. A bare number means seconds in nginx."""
    value = value.strip()
    if not value:
        return None
    total = 0.0
    pos = 0
    for match in _NGINX_PART.finditer(value):
        if match.start() != pos:
            return None
        total += int(match.group(1)) * _NGINX_UNITS[match.group(2) or "s"]
        pos = match.end()
    return total if pos == len(value) else None


def haproxy_seconds(value: str) -> float | None:
    """HAProxy times default to milliseconds: `timeout server 30000` is 30 s."""
    match = _HAPROXY.match(value.strip())
    if match is None:
        return None
    return float(match.group(1)) * _HAPROXY_UNITS[match.group(2) or "ms"]


def envoy_seconds(value: object) -> float | None:
    """Envoy durations: `15s`, `0.5s`, or `{seconds: 15, nanos: 0}`."""
    if isinstance(value, dict):
        seconds = value.get("seconds", 0)
        nanos = value.get("nanos", 0)
        if isinstance(seconds, int | float | str) and isinstance(nanos, int | float):
            try:
                return float(seconds) + float(nanos) / 1e9
            except ValueError:
                return None
        return None
    if isinstance(value, str) and value.endswith("s"):
        try:
            return float(value[:-1])
        except ValueError:
            return None
    return None


def plain_seconds(value: object) -> float | None:
    """A number of seconds written as a number or a string (Kubernetes annotations)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        text = value.strip().removesuffix("s")
        try:
            return float(text)
        except ValueError:
            return None
    return None


def number(value: str) -> float | None:
    """A plain number (gunicorn settings, Terraform attributes), or None when it is not one:
    a variable, an expression, or a value that is not finite."""
    try:
        out = float(value)
    except ValueError:
        return None
    return out if math.isfinite(out) else None


def show(seconds: float) -> str:
    """60.0 -> '60 s', 0.5 -> '0.5 s'."""
    return f"{seconds:g} s"
