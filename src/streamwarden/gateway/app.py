"""The gateway's ASGI app: protocols in front, the guard in the middle, an upstream behind."""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
import os
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

from streamwarden.doctor.canary import canary_app
from streamwarden.gateway import relay
from streamwarden.gateway.admission import Admission, Rejected, SharedStreams, Slot
from streamwarden.gateway.auth import KeyRing
from streamwarden.gateway.body import BadBody, parse_json, read_body
from streamwarden.gateway.drain import Drain
from streamwarden.gateway.ids import HEARTBEAT_LINE, STREAM_ID_HEADER, Numbering
from streamwarden.gateway.resume import GloballyFull, NotResumable, Resume
from streamwarden.gateway.settings import GatewaySettings
from streamwarden.gateway.waits import (
    ClientLeft,
    Expired,
    ShuttingDown,
    TimedItems,
    first_within,
    while_connected,
)
from streamwarden.guard import ErrorFormatter, Outcome, StreamStats, stream_response
from streamwarden.metrics import CONTENT_TYPE_LATEST, GatewayMetrics
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

__all__ = ["CANARY_HEADER", "Gateway", "build_upstream", "create_app"]

access_log = logging.getLogger("streamwarden.access")

#: The header that carries `--canary-token` on requests with `sim` controls.
CANARY_HEADER = "x-streamwarden-canary"

_OUTCOMES = {outcome.value for outcome in Outcome}

#: Access-log status for a client that left before it got an answer (as nginx logs it).
CLIENT_CLOSED = 499


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


def protocol_for(request: Request) -> _Protocol:
    """The protocol whose error shape a request expects, judged by path and headers."""
    if request.url.path.startswith("/v1/messages") or "anthropic-version" in request.headers:
        return ANTHROPIC
    return OPENAI


#: What an opener returns: parsed items, or the raw events of a pass-through relay.
_Opened = TypeVar("_Opened")


class _Counted:
    """Counts tokens and answer size, notices the upstream's finish, and turns anything the
    upstream sends that cannot be read into an `UpstreamError` (a 502, never a 500)."""

    def __init__(self, inner: ItemStream, max_text: int) -> None:
        self.inner = inner
        self.tokens = 0
        self.size = 0
        self.max_text = max_text
        self.finished = False

    def __aiter__(self) -> _Counted:
        return self

    async def __anext__(self) -> UpstreamItem:
        try:
            item = await self.inner.__anext__()
        except (StopAsyncIteration, UpstreamError):
            raise
        except Exception as exc:
            if isinstance(exc, anyio.get_cancelled_exc_class()):
                raise
            raise UpstreamError(
                f"the upstream sent something this gateway cannot read ({type(exc).__name__})"
            ) from None
        if isinstance(item, TextDelta):
            self.tokens += 1
            self.size += len(item.text)
            if self.size > self.max_text:
                raise UpstreamError(
                    f"the upstream's answer is larger than the limit of {self.max_text} "
                    "characters (--max-answer)"
                )
        elif isinstance(item, Finish):
            self.finished = True
        return item

    async def aclose(self) -> None:
        await self.inner.aclose()


class _Refusal(Exception):
    """A request answered with an error before any stream: one status, one outcome."""

    def __init__(
        self, status: int, message: str, outcome: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.outcome = outcome
        self.headers = headers

    def response(self, protocol: _Protocol) -> Response:
        return JSONResponse(
            protocol.error_body(self.status, str(self)), self.status, headers=self.headers
        )


def _upstream_refusal(exc: UpstreamError) -> _Refusal:
    if exc.kind in ("invalid_request", "model_not_found"):
        outcome = "invalid_request"
    elif exc.kind == "timeout" or exc.status == 504:
        outcome = "upstream_timeout"
    else:
        outcome = "upstream_refused"
    headers = {"Retry-After": exc.retry_after} if exc.retry_after else None
    return _Refusal(exc.status, str(exc), outcome, headers)


def _shutting_down() -> _Refusal:
    return _Refusal(
        503,
        "the server is shutting down; retry on another instance",
        "shutdown",
        {"Retry-After": "1"},
    )


@dataclass(slots=True)
class _Exchange:
    """One request's bookkeeping, so that every path logs and counts it exactly once."""

    protocol: _Protocol
    rid: str
    key: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def build_upstream(settings: GatewaySettings, client: HTTPClient) -> Upstream:
    if settings.upstream == "sim":
        return SimUpstream(settings.sim, settings.sim_caps)
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
        shared_streams: SharedStreams | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = GatewayMetrics()
        self._queued_shown = 0
        self.admission = Admission(
            max_streams=settings.max_streams,
            queue=settings.queue,
            queue_timeout=settings.queue_timeout,
            key_max_streams=settings.key_max_streams,
            on_change=self._admission_changed,
            shared=shared_streams,
        )
        self.drain = Drain(self.admission, settings.drain_timeout)
        self.keys = KeyRing(settings.api_keys)
        # One pool for every upstream request: no read timeout here (the guard's deadlines
        # decide); connects fail fast so an unreachable upstream is a quick 502.
        self.client = HTTPClient(
            max_connections=settings.upstream_max_connections, connect_timeout=10.0
        )
        self.upstream = upstream or build_upstream(settings, self.client)
        self._models: tuple[float, list[str]] | None = None
        self._models_lock = anyio.Lock()
        self.resume = Resume(self)

    def _admission_changed(self) -> None:
        # Called twice per stream; a gauge set takes a lock, so skip the one that rarely moves.
        self.metrics.active_streams.set(self.admission.active)
        queued = self.admission.queued
        if queued != self._queued_shown:
            self._queued_shown = queued
            self.metrics.queue_depth.set(queued)

    async def aclose(self) -> None:
        await self.client.aclose()

    # -- request flow ---------------------------------------------------------------------
    async def handle(self, request: Request, protocol: _Protocol) -> Response:
        exchange = _Exchange(protocol, protocol.id_prefix + secrets.token_hex(12))
        try:
            return await self._serve(request, exchange)
        except _Refusal as refusal:
            self.finished(exchange, refusal.outcome, status=refusal.status)
            return refusal.response(protocol)

    async def _serve(self, request: Request, exchange: _Exchange) -> Response:
        if self.drain.draining:
            refusal = _shutting_down()
            refusal.outcome = "rejected"
            raise refusal
        exchange.key = self._authenticate(request)
        raw, body, chat = await self._parse(request, exchange.protocol)
        self._check_sim_controls(request, chat)
        slot = await self._admit(request, exchange.key)
        try:
            started = time.monotonic()
            items: _Counted | relay.RawRelay
            if relay.passes_through(self.upstream, exchange.protocol.name, body):
                upstream = self.upstream
                assert isinstance(upstream, OpenAIUpstream)
                items = await self._open(request, lambda: relay.open_passthrough(upstream, raw))
            else:
                opened = await self._open(request, lambda: self.upstream.open(chat))
                items = _Counted(opened, self.settings.max_answer)
        except BaseException:
            slot.release()
            raise
        if isinstance(items, relay.RawRelay) or getattr(body, "stream", False):
            return self._stream(request, exchange, body, chat, items, slot, started)
        return await self._complete(request, exchange, chat, items, slot, started)

    def _authenticate(self, request: Request) -> str | None:
        allowed, key = self.keys.check(request.headers)
        if not allowed:
            raise _Refusal(
                401,
                "missing or invalid API key: send 'Authorization: Bearer KEY' or 'x-api-key: KEY'",
                "unauthorized",
            )
        return key

    async def _parse(self, request: Request, protocol: _Protocol) -> tuple[bytes, Any, ChatRequest]:
        """The body's bytes as sent, its validated model, and the chat request it asks for."""
        try:
            raw = await read_body(request, self.settings.max_body)
            body = protocol.model.model_validate(parse_json(raw))
            return raw, body, protocol.to_chat(body)
        except BadBody as exc:
            raise _Refusal(exc.status, str(exc), "invalid_request") from None
        except (ValidationError, ValueError) as exc:
            raise _Refusal(400, _one_line(exc), "invalid_request") from None

    def _check_sim_controls(self, request: Request, chat: ChatRequest) -> None:
        if not chat.sim:
            return
        settings = self.settings
        if not settings.sim_controls_allowed:
            where = (
                "they are turned off (--sim-controls off)"
                if settings.sim_controls == "off"
                else f"this gateway relays to a real model (--upstream {settings.upstream})"
            )
            raise _Refusal(400, f"the 'sim' controls are not accepted: {where}", "invalid_request")
        token = settings.canary_token
        if token is not None:
            given = request.headers.get(CANARY_HEADER, "")
            if not hmac.compare_digest(given.encode(), token.encode()):
                raise _Refusal(
                    401,
                    "the 'sim' controls need the canary token: send 'X-Streamwarden-Canary: TOKEN'",
                    "unauthorized",
                )

    async def _admit(self, request: Request, key: str | None) -> Slot:
        """A slot, waiting in the queue if there is one; a client that leaves the queue
        gives its place up at once."""
        try:
            slot = self.admission.try_acquire(key)
            if slot is None:  # a wait: the client may leave while it queues
                slot = await while_connected(request.receive, lambda: self.admission.acquire(key))
        except Rejected as exc:
            raise _Refusal(
                exc.status, str(exc), "rejected", {"Retry-After": str(exc.retry_after)}
            ) from None
        except ClientLeft:
            raise _Refusal(CLIENT_CLOSED, "client went away", "client_disconnected") from None
        try:
            await self.resume.admit(slot)
        except GloballyFull as exc:
            slot.release()
            raise _Refusal(exc.status, str(exc), "rejected", {"Retry-After": "1"}) from None
        except BaseException:
            slot.release()
            raise
        return slot

    async def _open(self, request: Request, opener: Callable[[], Awaitable[_Opened]]) -> _Opened:
        """The upstream request, connected and answering, within --first-token-timeout."""
        limit = self.settings.policy.first_token_timeout
        try:
            return await while_connected(
                request.receive, lambda: first_within(limit, opener), self.drain.shutdown
            )
        except UpstreamError as exc:
            raise _upstream_refusal(exc) from None
        except Expired as exc:
            raise _Refusal(
                504,
                f"the upstream did not answer within {exc.limit:g}s (--first-token-timeout)",
                "upstream_timeout",
            ) from None
        except ClientLeft:
            raise _Refusal(CLIENT_CLOSED, "client went away", "client_disconnected") from None
        except ShuttingDown:
            raise _shutting_down() from None

    def _stream(
        self,
        request: Request,
        exchange: _Exchange,
        body: Any,
        chat: ChatRequest,
        items: _Counted | relay.RawRelay,
        slot: Slot,
        started: float,
    ) -> Response:
        protocol = exchange.protocol
        events: AsyncIterator[Event | str | bytes]
        if isinstance(items, relay.RawRelay):
            events = items  # the upstream's own events, as they came
        else:
            events = protocol.stream(items, exchange.rid, chat.model, body)
        if self.resume.on:
            return self._resumable(request, exchange, events, items, slot, started)

        async def on_close(stats: StreamStats) -> None:
            # The guard closed `events`; close the upstream request too (it may be mid-read),
            # unless `events` is that request (the pass-through) and the guard closed it.
            try:
                if items is not events or stats.extra.get("abandoned_source"):
                    # Bounded: an upstream that hangs while closing must not hold the slot.
                    with anyio.move_on_after(self.settings.policy.close_timeout):
                        await items.aclose()
            finally:
                slot.release()
                self.metrics.stream_finished(stats, items.tokens, items.finished)
                self._log(exchange, stats.outcome.value, stats=stats, tokens=items.tokens)

        numbering = Numbering(exchange.rid)
        response = stream_response(
            request,
            events,
            policy=self.settings.policy,
            on_close=on_close,
            format_error=numbering.errors(protocol.error_events),
            shutdown=self.drain.shutdown,
            started=started,
            headers={STREAM_ID_HEADER: exchange.rid},
        )
        response.heartbeat = HEARTBEAT_LINE
        response.encoder = numbering.encode
        return response

    def _resumable(
        self,
        request: Request,
        exchange: _Exchange,
        events: AsyncIterator[Event | str | bytes],
        items: _Counted | relay.RawRelay,
        slot: Slot,
        started: float,
    ) -> Response:
        """The generation runs on its own (`gateway.resume`); the client follows it."""

        def on_close(stats: StreamStats, ended: str | None, tokens: int) -> None:
            # The generation's deadline or error is this request's outcome too.
            if stats.outcome is Outcome.COMPLETED and ended in _OUTCOMES:
                stats.outcome = Outcome(ended)
            self.metrics.stream_finished(stats, 0, True)  # tokens: counted by the generation
            self._log(exchange, stats.outcome.value, stats=stats, tokens=tokens)

        return self.resume.start(
            request,
            stream_id=exchange.rid,
            protocol=exchange.protocol,
            key=exchange.key,
            events=events,
            upstream=items,
            slot=slot,
            started=started,
            on_close=on_close,
        )

    async def resume_stream(self, request: Request) -> Response:
        """`GET /v1/streams/{id}`: replay after `Last-Event-ID` or `?after=N`, then follow."""
        stream_id = request.path_params["stream_id"]
        protocol = ANTHROPIC if stream_id.startswith(ANTHROPIC.id_prefix) else OPENAI
        exchange = _Exchange(protocol, stream_id, extra={"resume": True})

        def on_close(stats: StreamStats, ended: str | None, tokens: int) -> None:
            self._log(exchange, stats.outcome.value, stats=stats)

        try:
            exchange.key = self._authenticate(request)
            return await self.resume.follow(request, stream_id, protocol, exchange.key, on_close)
        except _Refusal as refusal:
            self.finished(exchange, refusal.outcome, status=refusal.status, count=False)
            return refusal.response(protocol)
        except NotResumable as exc:
            self.finished(exchange, "invalid_request", status=exc.status, count=False)
            headers = {"Retry-After": "1"} if exc.status == 503 else None
            return JSONResponse(
                protocol.error_body(exc.status, str(exc)), exc.status, headers=headers
            )

    async def _complete(
        self,
        request: Request,
        exchange: _Exchange,
        chat: ChatRequest,
        items: _Counted,
        slot: Slot,
        started: float,
    ) -> Response:
        """A non-streaming answer: the stream's deadlines, and cancelled if the client leaves."""
        protocol = exchange.protocol
        timed = TimedItems(items, self.settings.policy, started)
        try:
            result = await while_connected(
                request.receive,
                lambda: protocol.complete(timed, exchange.rid, chat.model),
                self.drain.shutdown,
            )
        except UpstreamError as exc:
            raise _Refusal(502, str(exc), "upstream_error") from None
        except Expired as exc:
            self.metrics.upstream_cancelled(items.finished)
            message = f"the upstream did not finish: {exc.outcome.value} ({exc.limit:g}s)"
            raise _Refusal(504, message, exc.outcome.value) from None
        except ClientLeft:
            self.metrics.upstream_cancelled(items.finished)
            raise _Refusal(CLIENT_CLOSED, "client went away", "client_disconnected") from None
        except ShuttingDown:
            self.metrics.upstream_cancelled(items.finished)
            raise _shutting_down() from None
        finally:
            with (
                contextlib.suppress(Exception),
                anyio.move_on_after(self.settings.policy.close_timeout, shield=True),
            ):
                await items.aclose()
            slot.release()
        self.metrics.tokens_total.inc(items.tokens)
        return _Answer(result, self, exchange, items.tokens)

    # -- logs and counts ------------------------------------------------------------------
    def finished(
        self, exchange: _Exchange, outcome: str, *, status: int, tokens: int = 0, count: bool = True
    ) -> None:
        """A request that ended without a guarded stream: one count, one log line."""
        if count:
            self.metrics.request_finished(outcome)
        self._log(exchange, outcome, status=status, tokens=tokens)

    def _log(
        self,
        exchange: _Exchange,
        outcome: str,
        *,
        stats: StreamStats | None = None,
        tokens: int = 0,
        status: int = 200,
    ) -> None:
        if not access_log.isEnabledFor(logging.INFO):
            return
        record: dict[str, Any] = {
            "id": exchange.rid,
            "key": exchange.key,
            "protocol": exchange.protocol.name,
            "status": status,
            "outcome": outcome,
            "tokens": tokens,
        }
        record.update(exchange.extra)
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
        """The upstream's models, kept for `models_ttl` seconds: one upstream call at a time,
        so that a burst of anonymous calls cannot spend the gateway's upstream key."""
        async with self._models_lock:
            now = time.monotonic()
            if self._models is not None and now - self._models[0] < self.settings.models_ttl:
                return self._models[1]
            with anyio.fail_after(15):
                names = await self.upstream.list_models()
            self._models = (now, list(names))
            return names

    async def list_models(self, request: Request) -> Response:
        exchange = _Exchange(protocol_for(request), "models-" + uuid.uuid4().hex[:12])
        try:
            exchange.key = self._authenticate(request)
            try:
                names = await self.models()
            except UpstreamError as exc:
                raise _upstream_refusal(exc) from None
            except TimeoutError:
                raise _Refusal(
                    504, "the upstream did not list its models in time", "upstream_timeout"
                ) from None
        except _Refusal as refusal:
            self.finished(exchange, refusal.outcome, status=refusal.status, count=False)
            return refusal.response(exchange.protocol)
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
        self.finished(exchange, "completed", status=200, count=False)
        return JSONResponse({"object": "list", "data": data, "has_more": False})


class _Answer(JSONResponse):
    """A non-streaming answer, logged once it is sent. It goes out in pieces, so that the
    connection's flow control applies and a client that never reads is dropped after the
    send timeout instead of holding the whole answer in the server's memory."""

    PIECE = 65_536

    def __init__(self, content: Any, gateway: Gateway, exchange: _Exchange, tokens: int) -> None:
        super().__init__(content)
        self._gateway = gateway
        self._exchange = exchange
        self._tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self._gateway.settings.policy.send_timeout
        outcome = Outcome.SEND_TIMEOUT.value
        with anyio.move_on_after(limit if limit is not None else float("inf")):
            try:
                await self._send_in_pieces(send)
                outcome = Outcome.COMPLETED.value
            except OSError:
                outcome = Outcome.CLIENT_DISCONNECTED.value
        self._gateway.finished(self._exchange, outcome, status=200, tokens=self._tokens)

    async def _send_in_pieces(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        body = memoryview(self.body)
        for start in range(0, len(body), self.PIECE):
            piece = bytes(body[start : start + self.PIECE])
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        return f"invalid request: {where}: {first['msg']}"
    return f"invalid request: {exc}"


def create_app(
    settings: GatewaySettings | None = None,
    upstream: Upstream | None = None,
    *,
    serve_metrics: bool = True,
    shared_streams: SharedStreams | None = None,
) -> Starlette:
    """The gateway app. `serve_metrics=False` leaves `/metrics` to `metrics_app` on its own
    port (`--metrics-port`); `shared_streams` is one worker's share of `--max-streams` under
    `--workers N`."""
    gateway = Gateway(settings or GatewaySettings(), upstream, shared_streams)

    async def chat_completions(request: Request) -> Response:
        return await gateway.handle(request, OPENAI)

    async def messages(request: Request) -> Response:
        return await gateway.handle(request, ANTHROPIC)

    async def models(request: Request) -> Response:
        return await gateway.list_models(request)

    async def resume_stream(request: Request) -> Response:
        return await gateway.resume_stream(request)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "pid": os.getpid()})

    async def readyz(request: Request) -> Response:
        if gateway.drain.draining:
            return JSONResponse({"status": "draining"}, 503)
        status = "degraded" if gateway.resume.degraded else "ready"
        return JSONResponse(
            {
                "status": status,
                "active_streams": gateway.admission.active,
                "resume": gateway.resume.mode,
            }
        )

    async def no_route(request: Request, exc: Exception) -> Response:
        # Unknown paths and methods answer in the protocol's error shape, logged and counted.
        status = exc.status_code if isinstance(exc, HTTPException) else 404
        protocol = protocol_for(request)
        if status == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
            headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else None
        else:
            message = f"no endpoint {request.url.path}; see GET /v1/models and POST /v1/chat/completions or /v1/messages"
            headers = None
        exchange = _Exchange(protocol, "none-" + uuid.uuid4().hex[:12])
        gateway.finished(exchange, "invalid_request", status=status)
        return JSONResponse(protocol.error_body(status, message), status, headers=headers)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            async with gateway.resume.running():
                yield
        finally:
            await gateway.aclose()

    routes: list[BaseRoute] = [
        Route("/v1/chat/completions", chat_completions, methods=["POST"]),
        Route("/v1/messages", messages, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/v1/streams/{stream_id}", resume_stream, methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
    ]
    token = gateway.settings.canary_token
    if token is not None:
        # The doctor's canary rides the gateway's own route, middleware and ingress.
        routes.append(Mount("/_streamwarden", app=canary_app(token)))
    if serve_metrics:
        routes.append(_metrics_route(gateway))
    app = _GatewayApp(
        gateway,
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: no_route, 405: no_route},
    )
    app.state.gateway = gateway
    return app


class _GatewayApp(Starlette):
    """Starlette, except that the two streaming endpoints are called directly: they answer
    every error themselves, so Starlette's routing and exception middleware (two `send`
    wrappers around every event of every stream) add nothing there but CPU. Anything else,
    and everything once middleware has been added to the app, goes through Starlette."""

    def __init__(self, gateway: Gateway, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._gateway = gateway
        self._direct = {"/v1/chat/completions": OPENAI, "/v1/messages": ANTHROPIC}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and not scope.get("root_path")
            and not self.user_middleware
        ):
            protocol = self._direct.get(scope["path"])
            if protocol is not None:
                scope["app"] = self
                response = await self._gateway.handle(Request(scope, receive, send), protocol)
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _metrics_route(gateway: Gateway) -> Route:
    async def metrics(request: Request) -> Response:
        return Response(gateway.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return Route("/metrics", metrics, methods=["GET"])


def metrics_app(gateway: Gateway) -> Starlette:
    """`/metrics` alone, for `--metrics-port`: scraping stays off the public port."""
    return Starlette(routes=[_metrics_route(gateway)])
