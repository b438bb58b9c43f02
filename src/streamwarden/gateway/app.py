"""The gateway's ASGI app: protocols in front, the guard in the middle, an upstream behind."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from streamwarden.gateway import relay
from streamwarden.gateway.admission import Admission, Rejected, Slot
from streamwarden.gateway.auth import KeyRing
from streamwarden.gateway.drain import Drain
from streamwarden.gateway.metrics import CONTENT_TYPE_LATEST, GatewayMetrics
from streamwarden.gateway.settings import GatewaySettings
from streamwarden.guard import ErrorFormatter, StreamStats, stream_response
from streamwarden.protocols import anthropic as anthropic_protocol
from streamwarden.protocols import openai as openai_protocol
from streamwarden.sse import Event
from streamwarden.upstreams.anthropic import AnthropicUpstream
from streamwarden.upstreams.base import (
    ChatRequest,
    Finish,
    ItemStream,
    TextDelta,
    Upstream,
    UpstreamError,
    UpstreamItem,
)
from streamwarden.upstreams.http1 import HTTPClient
from streamwarden.upstreams.openai import OpenAIUpstream
from streamwarden.upstreams.sim import SimUpstream

__all__ = ["Gateway", "build_upstream", "create_app"]

access_log = logging.getLogger("streamwarden.access")


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class _Protocol:
    """What differs between the OpenAI and Anthropic endpoints; the flow is shared."""

    name: str
    model: type[BaseModel]
    to_chat: Callable[[Any], ChatRequest]
    error_body: Callable[[int, str], dict[str, Any]]
    error_events: ErrorFormatter
    id_prefix: str
    stream: Callable[[AsyncIterator[UpstreamItem], str, str, Any], AsyncIterator[Event | str]]
    complete: Callable[[AsyncIterator[UpstreamItem], str, str], Awaitable[dict[str, Any]]]


def _openai_stream(
    items: AsyncIterator[UpstreamItem], rid: str, model: str, body: Any
) -> AsyncIterator[Event | str]:
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    return openai_protocol.stream_events(items, cid=rid, model=model, include_usage=include_usage)


def _anthropic_stream(
    items: AsyncIterator[UpstreamItem], rid: str, model: str, body: Any
) -> AsyncIterator[Event | str]:
    return anthropic_protocol.stream_events(items, mid=rid, model=model)


OPENAI = _Protocol(
    name="openai",
    model=openai_protocol.ChatCompletionRequest,
    to_chat=openai_protocol.to_chat_request,
    error_body=lambda status, message: openai_protocol.error_body(status, message),
    error_events=openai_protocol.error_events,
    id_prefix="chatcmpl-",
    stream=_openai_stream,
    complete=lambda items, rid, model: openai_protocol.complete(items, cid=rid, model=model),
)
ANTHROPIC = _Protocol(
    name="anthropic",
    model=anthropic_protocol.MessagesRequest,
    to_chat=anthropic_protocol.to_chat_request,
    error_body=anthropic_protocol.error_body,
    error_events=anthropic_protocol.error_events,
    id_prefix="msg_",
    stream=_anthropic_stream,
    complete=lambda items, rid, model: anthropic_protocol.complete(items, mid=rid, model=model),
)


class _Counted:
    """Counts tokens and notices the upstream's finish, passing items through unchanged."""

    def __init__(self, inner: ItemStream) -> None:
        self.inner = inner
        self.tokens = 0
        self.finished = False

    def __aiter__(self) -> _Counted:
        return self

    async def __anext__(self) -> UpstreamItem:
        item = await self.inner.__anext__()
        if isinstance(item, TextDelta):
            self.tokens += 1
        elif isinstance(item, Finish):
            self.finished = True
        return item

    async def aclose(self) -> None:
        await self.inner.aclose()


def build_upstream(settings: GatewaySettings, client: HTTPClient) -> Upstream:
    if settings.upstream == "sim":
        return SimUpstream(settings.sim)
    if settings.upstream == "openai":
        if not settings.upstream_url:
            raise ValueError(
                "--upstream openai needs --upstream-url URL (an OpenAI-compatible server)"
            )
        key = os.environ.get("STREAMWARDEN_UPSTREAM_KEY") or os.environ.get("OPENAI_API_KEY")
        return OpenAIUpstream(settings.upstream_url, key, client)
    if settings.upstream == "anthropic":
        key = os.environ.get("STREAMWARDEN_UPSTREAM_KEY") or os.environ.get("ANTHROPIC_API_KEY")
        return AnthropicUpstream(settings.upstream_url or "https://api.anthropic.com", key, client)
    raise ValueError(f"unknown upstream {settings.upstream!r}; use sim, openai or anthropic")


class Gateway:
    """The running gateway's parts. One per app; nothing is global."""

    def __init__(
        self,
        settings: GatewaySettings,
        upstream: Upstream | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = GatewayMetrics()
        self.admission = Admission(
            max_streams=settings.max_streams,
            queue=settings.queue,
            queue_timeout=settings.queue_timeout,
            key_max_streams=settings.key_max_streams,
            on_change=self._admission_changed,
        )
        self.drain = Drain(self.admission, settings.drain_timeout)
        self.keys = KeyRing(settings.api_keys)
        # One pool for every upstream request: no read timeout here (the guard's deadlines
        # decide); connects fail fast so an unreachable upstream is a quick 502.
        self.client = HTTPClient(
            max_connections=settings.upstream_max_connections, connect_timeout=10.0
        )
        self.upstream = upstream or build_upstream(settings, self.client)

    def _admission_changed(self) -> None:
        self.metrics.active_streams.set(self.admission.active)
        self.metrics.queue_depth.set(self.admission.queued)

    async def aclose(self) -> None:
        await self.client.aclose()

    # -- request flow ---------------------------------------------------------------------
    async def handle(self, request: Request, protocol: _Protocol) -> Response:
        def fail(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
            return JSONResponse(protocol.error_body(status, message), status, headers=headers)

        if self.drain.draining:
            return fail(
                503, "the server is shutting down; retry on another instance", {"Retry-After": "1"}
            )
        allowed, key = self.keys.check(request.headers)
        if not allowed:
            return fail(
                401,
                "missing or invalid API key: send 'Authorization: Bearer KEY' or 'x-api-key: KEY'",
            )
        try:
            payload = await _read_json(request, self.settings.max_body)
            body = protocol.model.model_validate(payload)
            chat = protocol.to_chat(body)
        except _BadRequest as exc:
            return fail(exc.status, str(exc))
        except (ValidationError, ValueError) as exc:
            return fail(400, _one_line(exc))
        try:
            slot = await self.admission.acquire(key)
        except Rejected as exc:
            self.metrics.rejected()
            return fail(exc.status, str(exc), {"Retry-After": str(exc.retry_after)})
        rid = protocol.id_prefix + uuid.uuid4().hex[:24]
        passthrough = relay.passes_through(self.upstream, protocol.name, body)
        items: _Counted | relay.RawRelay
        try:
            if passthrough:
                assert isinstance(self.upstream, OpenAIUpstream)
                items = await relay.open_passthrough(self.upstream, payload)
            else:
                items = _Counted(await self.upstream.open(chat))
        except UpstreamError as exc:
            slot.release()
            self._log(
                rid,
                key,
                protocol,
                "rejected" if exc.status < 500 else "upstream_error",
                status=exc.status,
            )
            return fail(exc.status, str(exc))
        except BaseException:
            slot.release()
            raise
        events: AsyncIterator[Event | str | bytes]
        if isinstance(items, relay.RawRelay):
            events = items  # the upstream's own events, as they came
        elif not getattr(body, "stream", False):
            return await self._complete(protocol, items, rid, chat.model, slot, key)
        else:
            events = protocol.stream(items, rid, chat.model, body)

        async def on_close(stats: StreamStats) -> None:
            # The guard closed `events`; close the upstream request too (it may be mid-read).
            try:
                # Bounded: an upstream that hangs while closing must not hold the slot.
                with anyio.move_on_after(self.settings.policy.close_timeout):
                    await items.aclose()
            finally:
                slot.release()
                self.metrics.stream_finished(stats, items.tokens, items.finished)
                self._log(rid, key, protocol, stats.outcome.value, stats=stats, tokens=items.tokens)

        return stream_response(
            request,
            events,
            policy=self.settings.policy,
            on_close=on_close,
            format_error=protocol.error_events,
            shutdown=self.drain.shutdown,
        )

    async def _complete(
        self,
        protocol: _Protocol,
        items: _Counted,
        rid: str,
        model: str,
        slot: Slot,
        key: str | None,
    ) -> Response:
        # No stream means no guard: the whole answer gets the stream's total deadline.
        limit = self.settings.policy.max_duration
        try:
            with anyio.fail_after(limit if limit is not None else math.inf):
                result = await protocol.complete(items, rid, model)
        except UpstreamError as exc:
            self._log(rid, key, protocol, "upstream_error", status=502)
            return JSONResponse(protocol.error_body(502, str(exc)), 502)
        except TimeoutError:
            self._log(rid, key, protocol, "max_duration", status=504)
            message = f"the upstream did not finish within {limit:g}s"
            return JSONResponse(protocol.error_body(504, message), 504)
        finally:
            with (
                contextlib.suppress(Exception),
                anyio.move_on_after(self.settings.policy.close_timeout),
            ):
                await items.aclose()
            slot.release()
        self.metrics.tokens_total.inc(items.tokens)
        self._log(rid, key, protocol, "completed", tokens=items.tokens)
        return JSONResponse(result)

    def _log(
        self,
        rid: str,
        key: str | None,
        protocol: _Protocol,
        outcome: str,
        *,
        stats: StreamStats | None = None,
        tokens: int = 0,
        status: int = 200,
    ) -> None:
        if not access_log.isEnabledFor(logging.INFO):
            return
        record: dict[str, Any] = {
            "id": rid,
            "key": key,
            "protocol": protocol.name,
            "status": status,
            "outcome": outcome,
            "tokens": tokens,
        }
        if stats is not None:
            record.update(
                ttft=None if stats.ttft is None else round(stats.ttft, 4),
                duration=round(stats.duration, 4),
                heartbeats=stats.heartbeats,
                bytes=stats.bytes,
                events=stats.events,
            )
        access_log.info(json.dumps(record, separators=(",", ":")))

    # -- plain endpoints ------------------------------------------------------------------
    async def models(self) -> Sequence[str]:
        return await self.upstream.list_models()


async def _read_json(request: Request, limit: int) -> Any:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _BadRequest(413, f"request body is {declared} bytes; the limit is {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _BadRequest(413, f"request body is larger than the limit of {limit} bytes")
    if not body:
        raise _BadRequest(400, "request body is empty; send a JSON object")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise _BadRequest(400, f"request body is not valid JSON: {exc}") from None


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        return f"invalid request: {where}: {first['msg']}"
    return f"invalid request: {exc}"


def create_app(
    settings: GatewaySettings | None = None, upstream: Upstream | None = None
) -> Starlette:
    gateway = Gateway(settings or GatewaySettings(), upstream)

    async def chat_completions(request: Request) -> Response:
        return await gateway.handle(request, OPENAI)

    async def messages(request: Request) -> Response:
        return await gateway.handle(request, ANTHROPIC)

    async def models(request: Request) -> Response:
        try:
            names = await gateway.models()
        except UpstreamError as exc:
            return JSONResponse(OPENAI.error_body(exc.status, str(exc)), exc.status)
        data = [
            {
                "id": m,
                "object": "model",
                "type": "model",
                "created": 0,
                "owned_by": "streamwarden",
                "display_name": m,
            }
            for m in names
        ]
        return JSONResponse({"object": "list", "data": data, "has_more": False})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "pid": os.getpid()})

    async def readyz(request: Request) -> Response:
        if gateway.drain.draining:
            return JSONResponse({"status": "draining"}, 503)
        return JSONResponse({"status": "ready", "active_streams": gateway.admission.active})

    async def metrics(request: Request) -> Response:
        return Response(gateway.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await gateway.aclose()

    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/messages", messages, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return app
