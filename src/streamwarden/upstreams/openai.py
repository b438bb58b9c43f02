"""Any OpenAI-compatible server as the upstream (`--upstream openai --upstream-url URL`)."""

from __future__ import annotations

import json
from typing import Any

from streamwarden.sse import Event
from streamwarden.upstreams.base import ChatRequest, Finish, TextDelta, UpstreamError, UpstreamItem
from streamwarden.upstreams.http import ResponseStream, list_model_ids, open_sse, post
from streamwarden.upstreams.http1 import HTTPClient, Response

__all__ = ["OpenAIUpstream"]


class OpenAIUpstream:
    name = "openai"

    def __init__(self, base_url: str, api_key: str | None, client: HTTPClient) -> None:
        # Accept both "http://host:port" and "http://host:port/v1".
        base = base_url.rstrip("/")
        self.url = base + ("/chat/completions" if base.endswith("/v1") else "/v1/chat/completions")
        self._headers = {"accept": "text/event-stream"}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"
        self._client = client

    async def list_models(self) -> list[str]:
        models_url = self.url.removesuffix("/chat/completions") + "/models"
        headers = {k: v for k, v in self._headers.items() if k != "accept"}
        return await list_model_ids(self._client, models_url, headers)

    async def open(self, request: ChatRequest) -> ResponseStream:
        payload: dict[str, object] = {
            "model": request.model,
            "messages": ([{"role": "system", "content": request.system}] if request.system else [])
            + request.messages,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.max_tokens is not None:
            payload["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            payload["temperature"] = request.temperature
        if request.sim:
            payload["sim"] = request.sim  # lets a gateway chain keep the sim controls
        state = _ChunkState()
        return await open_sse(self._client, self.url, payload, self._headers, state.parse)

    async def open_raw(self, payload: dict[str, Any] | bytes) -> Response:
        """Send a client's chat-completions body as it is (bytes go up unchanged, with no
        JSON encoded again per request); the response once it streams
        (the pass-through relay reads its bytes). Errors before the stream raise
        `UpstreamError`, as `open` does."""
        return await post(self._client, self.url, payload, self._headers)


class _ChunkState:
    """Turns OpenAI chunks into items; the finish waits for the usage chunk or [DONE]."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.output_tokens = 0

    def parse(self, event: Event) -> list[UpstreamItem]:
        if event.data.strip() == "[DONE]":
            return [Finish(self.reason or "stop", 0, self.output_tokens)]
        try:
            chunk = json.loads(event.data)
        except ValueError:
            raise UpstreamError(
                f"upstream sent a chunk that is not JSON: {event.data[:80]!r}"
            ) from None
        if isinstance(chunk, dict) and chunk.get("error"):
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else str(error)
            raise UpstreamError(f"upstream error mid-stream: {message}")
        items: list[UpstreamItem] = []
        for choice in chunk.get("choices") or []:
            text = (choice.get("delta") or {}).get("content")
            if text:
                self.output_tokens += 1
                items.append(TextDelta(text))
            if choice.get("finish_reason"):
                self.reason = choice["finish_reason"]
        usage = chunk.get("usage")
        if usage:
            self.output_tokens = int(usage.get("completion_tokens", self.output_tokens))
        return items
