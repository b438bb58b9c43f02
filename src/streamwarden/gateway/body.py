"""Request bodies: read with a size limit, parsed as strict JSON, checked before any model.

Everything wrong with a body is the client's mistake and becomes `BadBody` (a 4xx), never
an exception that would reach the server as a 500: JSON nested past `MAX_DEPTH`, numbers that
are not finite (`NaN`, `Infinity`, `1e400`), strings that cannot be encoded as UTF-8 (a lone
surrogate such as `"\\ud800"`), a body over the limit, or one that is not `application/json`.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request

__all__ = ["MAX_DEPTH", "BadBody", "parse_json", "read_body", "read_json"]

#: Deepest nesting of arrays and objects accepted. Chat requests need about 6.
MAX_DEPTH = 64


class BadBody(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _reject_constant(name: str) -> Any:
    raise BadBody(400, f"request body has {name}; JSON numbers must be finite")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadBody(400, f"request body has the number {text[:40]}, too large for a float")
    return value


async def read_json(request: Request, limit: int) -> Any:
    """The body as JSON, or `BadBody` with the status and message to answer with."""
    return parse_json(await read_body(request, limit))


async def read_body(request: Request, limit: int) -> bytes:
    """The body's bytes, once its type and size are right; else `BadBody`."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json":
        raise BadBody(
            415,
            f"Content-Type is {media_type or 'missing'!r}; send the body as application/json",
        )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise BadBody(413, f"request body is {declared} bytes; the limit is {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BadBody(413, f"request body is larger than the limit of {limit} bytes")
    if not body:
        raise BadBody(400, "request body is empty; send a JSON object")
    return bytes(body)


def parse_json(body: bytes) -> Any:
    try:
        payload = json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise BadBody(400, f"request body is nested too deeply; the limit is {MAX_DEPTH}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadBody(400, f"request body is not valid JSON: {exc}") from None
    check_shape(payload)
    return payload


def check_shape(payload: Any) -> None:
    """Depth within `MAX_DEPTH` and every string encodable as UTF-8 (iterative: no recursion)."""
    pending: list[tuple[Any, int]] = [(payload, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            _check_text(value)
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                raise BadBody(400, f"request body is nested too deeply; the limit is {MAX_DEPTH}")
            if isinstance(value, dict):
                for key, item in value.items():
                    _check_text(key)
                    pending.append((item, depth + 1))
            else:
                pending.extend((item, depth + 1) for item in value)


def _check_text(text: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise BadBody(
                400, "request body has a string that is not valid Unicode (a lone surrogate)"
            ) from None
