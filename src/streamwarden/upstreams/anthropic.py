"""The Anthropic Messages API as the upstream (`--upstream anthropic`)."""

from __future__ import annotations

import json

from streamwarden.sse import Event
from streamwarden.upstreams.base import ChatRequest, Finish, TextDelta, UpstreamError, UpstreamItem
from streamwarden.upstreams.http import ResponseStream, list_model_ids, open_sse
from streamwarden.upstreams.http1 import HTTPClient

__all__ = ["AnthropicUpstream"]

_REASONS = {"end_turn": "stop", "max_tokens": "length", "stop_sequence": "stop"}


class AnthropicUpstream:
    name = "anthropic"

    def __init__(self, base_url: str, api_key: str | None, client: HTTPClient) -> None:
        base = base_url.rstrip("/")
        self.url = base + ("/messages" if base.endswith("/v1") else "/v1/messages")
        self._headers = {"accept": "text/event-stream", "anthropic-version": "2023-06-01"}
        if api_key:
            self._headers["x-api-key"] = api_key
        self._client = client

    async def list_models(self) -> list[str]:
        models_url = self.url.removesuffix("/messages") + "/models"
        headers = {k: v for k, v in self._headers.items() if k != "accept"}
        return await list_model_ids(self._client, models_url, headers)

    async def open(self, request: ChatRequest) -> ResponseStream:
        payload: dict[str, object] = {
            "model": request.model,
            "messages": [m for m in request.messages if m.get("role") != "system"],
            "max_tokens": request.max_tokens or 1024,
            "stream": True,
        }
        system = request.system or "\n".join(
            str(m.get("content", "")) for m in request.messages if m.get("role") == "system"
        )
        if system:
            payload["system"] = system
        if request.temperature is not None:
            payload["temperature"] = request.temperature
        if request.sim:
            payload["sim"] = request.sim
        state = _EventState()
        return await open_sse(self._client, self.url, payload, self._headers, state.parse)


class _EventState:
    def __init__(self) -> None:
        self.reason = "stop"
        self.input_tokens = 0
        self.output_tokens = 0

    def parse(self, event: Event) -> list[UpstreamItem]:
        try:
            data = json.loads(event.data)
        except ValueError:
            raise UpstreamError(
                f"upstream sent an event that is not JSON: {event.data[:80]!r}"
            ) from None
        kind = data.get("type") if isinstance(data, dict) else None
        if kind == "error" or event.event == "error":
            error = data.get("error") or {}
            raise UpstreamError(f"upstream error mid-stream: {error.get('message', data)}")
        if kind == "message_start":
            usage = data.get("message", {}).get("usage", {})
            self.input_tokens = int(usage.get("input_tokens", 0))
        elif kind == "content_block_delta":
            delta = data.get("delta", {})
            if delta.get("type") == "text_delta" and delta.get("text"):
                return [TextDelta(delta["text"])]
        elif kind == "message_delta":
            stop = data.get("delta", {}).get("stop_reason")
            self.reason = _REASONS.get(stop, "stop")
            self.output_tokens = int(data.get("usage", {}).get("output_tokens", 0))
        elif kind == "message_stop":
            return [Finish(self.reason, self.input_tokens, self.output_tokens)]
        return []
