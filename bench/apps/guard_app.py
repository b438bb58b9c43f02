"""The streamwarden guard (`stream_response`, default policy) in a bare Starlette app."""

from __future__ import annotations

from shared import chunks, params_from_body
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from streamwarden import StreamPolicy, stream_response

_POLICY = StreamPolicy()


async def chat(request: Request) -> Response:
    params = params_from_body(await request.body())
    return stream_response(request, chunks(params), policy=_POLICY)


app = Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])
