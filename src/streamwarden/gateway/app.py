"""The gateway's ASGI app: protocols in front, the guard in the middle, an upstream behind."""

from __future__ import annotations

import json
import uuid
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from streamwarden.gateway.settings import GatewaySettings
from streamwarden.guard import stream_response
from streamwarden.protocols import openai as openai_protocol
from streamwarden.upstreams.base import Upstream
from streamwarden.upstreams.sim import SimUpstream

__all__ = ["create_app"]


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _read_json(request: Request, limit: int) -> Any:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _BadRequest(413, f"request body is larger than {limit} bytes")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _BadRequest(400, f"request body is not valid JSON: {exc}") from None


def create_app(
    settings: GatewaySettings | None = None, upstream: Upstream | None = None
) -> Starlette:
    settings = settings or GatewaySettings()
    source: Upstream = upstream or SimUpstream(settings.sim)

    async def chat_completions(request: Request) -> Response:
        try:
            payload = await _read_json(request, settings.max_body)
            body = openai_protocol.ChatCompletionRequest.model_validate(payload)
            chat = openai_protocol.to_chat_request(body)
        except _BadRequest as exc:
            return JSONResponse(openai_protocol.error_body(exc.status, str(exc)), exc.status)
        except (ValidationError, ValueError) as exc:
            return JSONResponse(openai_protocol.error_body(400, _one_line(exc)), 400)
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        items = source.stream(chat)
        if not body.stream:
            result = await openai_protocol.complete(items, cid=cid, model=body.model)
            return JSONResponse(result)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        events = openai_protocol.stream_events(
            items, cid=cid, model=body.model, include_usage=include_usage
        )
        return stream_response(
            request, events, policy=settings.policy, format_error=openai_protocol.error_events
        )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        return f"invalid request: {where}: {first['msg']}"
    return f"invalid request: {exc}"
