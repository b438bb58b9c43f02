"""OpenAI chat-completions framing: request model, chunks, errors, the `[DONE]` terminator."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from streamwarden.guard import Outcome
from streamwarden.sse import Event
from streamwarden.upstreams.base import ChatRequest, Finish, TextDelta, UpstreamItem, collect

__all__ = [
    "DONE",
    "ChatCompletionRequest",
    "chunk_json",
    "complete",
    "error_body",
    "error_events",
    "stream_events",
    "to_chat_request",
]

DONE = "[DONE]"


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(default=None, ge=0)
    max_completion_tokens: int | None = Field(default=None, ge=0)
    temperature: float | None = None
    sim: dict[str, Any] | None = None


def to_chat_request(body: ChatCompletionRequest) -> ChatRequest:
    return ChatRequest(
        model=body.model,
        messages=body.messages,
        max_tokens=body.max_completion_tokens
        if body.max_completion_tokens is not None
        else body.max_tokens,
        sim=body.sim or {},
        temperature=body.temperature,
    )


_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    502: "upstream_error",
    503: "overloaded_error",
    504: "timeout_error",
}


def error_body(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    """OpenAI's JSON error shape, as the SDK parses it."""
    return {
        "error": {
            "message": message,
            "type": _ERROR_TYPES.get(status, "api_error"),
            "param": None,
            "code": code,
        }
    }


def error_events(outcome: Outcome, message: str) -> Sequence[Event | str]:
    """A mid-stream error: the SDK raises APIError on a chunk carrying an `error` object."""
    body = {
        "error": {"message": message, "type": outcome.value, "param": None, "code": outcome.value}
    }
    return [json.dumps(body, separators=(",", ":"))]


def chunk_json(
    cid: str, created: int, model: str, delta: dict[str, Any], finish: str | None
) -> str:
    """One `chat.completion.chunk`, the `data:` of an SSE event: the one encoder of the
    chunk that the gateway, the lab's apps, the benchmarks and the demo target send."""
    return json.dumps(
        {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        },
        separators=(",", ":"),
    )


async def stream_events(
    items: AsyncIterator[UpstreamItem], *, cid: str, model: str, include_usage: bool
) -> AsyncIterator[str]:
    """Frame upstream items as OpenAI chunks. Only a finished upstream gets `[DONE]`."""
    created = int(time.time())
    started = False
    async for item in items:
        if not started:
            # The role chunk goes out with the first real item, so that time to first
            # token measures the model, not this framing.
            started = True
            yield chunk_json(cid, created, model, {"role": "assistant", "content": ""}, None)
        if isinstance(item, TextDelta):
            yield chunk_json(cid, created, model, {"content": item.text}, None)
        elif isinstance(item, Finish):
            yield chunk_json(cid, created, model, {}, item.reason)
            if include_usage:
                yield json.dumps(
                    {
                        "id": cid,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": model,
                        "choices": [],
                        "usage": _usage(item),
                    },
                    separators=(",", ":"),
                )
            yield DONE


def _usage(finish: Finish) -> dict[str, int]:
    return {
        "prompt_tokens": finish.input_tokens,
        "completion_tokens": finish.output_tokens,
        "total_tokens": finish.input_tokens + finish.output_tokens,
    }


async def complete(items: AsyncIterator[UpstreamItem], *, cid: str, model: str) -> dict[str, Any]:
    """A non-streaming chat completion built from the same upstream items."""
    text, finish = await collect(items)
    return {
        "id": cid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": finish.reason,
                "logprobs": None,
            }
        ],
        "usage": _usage(finish),
    }
