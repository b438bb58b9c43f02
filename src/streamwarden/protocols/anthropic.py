"""Anthropic Messages framing: request model, the event sequence, errors, `message_stop`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from streamwarden.guard import Outcome
from streamwarden.sse import Event
from streamwarden.upstreams.base import ChatRequest, Finish, TextDelta, UpstreamItem, collect

__all__ = [
    "MessagesRequest",
    "complete",
    "error_body",
    "error_events",
    "event",
    "stream_events",
    "to_chat_request",
]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    415: "invalid_request_error",
    429: "rate_limit_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}

# Guard outcomes as Anthropic error types, so that clients branch on familiar names.
_OUTCOME_TYPES = {
    Outcome.FIRST_TOKEN_TIMEOUT: "timeout_error",
    Outcome.IDLE_TIMEOUT: "timeout_error",
    Outcome.MAX_DURATION: "timeout_error",
    Outcome.UPSTREAM_ERROR: "api_error",
    Outcome.SHUTDOWN: "overloaded_error",
}

_STOP_REASONS = {"stop": "end_turn", "length": "max_tokens"}


class MessagesRequest(BaseModel):
    model_config = ConfigDict(extra="allow")

    model: str
    messages: list[dict[str, Any]] = Field(min_length=1)
    max_tokens: int = Field(ge=1)
    stream: bool = False
    system: str | list[dict[str, Any]] | None = None
    temperature: float | None = None
    sim: dict[str, Any] | None = None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(b.get("text", "")) for b in content if isinstance(b, dict))
    return ""


def to_chat_request(body: MessagesRequest) -> ChatRequest:
    system = (
        body.system if isinstance(body.system, str) or body.system is None else _text(body.system)
    )
    return ChatRequest(
        model=body.model,
        messages=[
            {"role": m.get("role", "user"), "content": _text(m.get("content"))}
            for m in body.messages
        ],
        max_tokens=body.max_tokens,
        sim=body.sim or {},
        temperature=body.temperature,
        system=system,
    )


def error_body(status: int, message: str) -> dict[str, Any]:
    return {
        "type": "error",
        "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message},
    }


def error_events(outcome: Outcome, message: str) -> Sequence[Event | str]:
    body = {
        "type": "error",
        "error": {"type": _OUTCOME_TYPES.get(outcome, "api_error"), "message": message},
    }
    return [Event(json.dumps(body, separators=(",", ":")), event="error")]


def event(name: str, payload: dict[str, Any]) -> Event:
    """One Messages stream event: its name as the SSE `event:` and in the JSON's `type`."""
    return Event(json.dumps({"type": name, **payload}, separators=(",", ":")), event=name)


async def stream_events(
    items: AsyncIterator[UpstreamItem], *, mid: str, model: str
) -> AsyncIterator[Event]:
    """Frame upstream items as Anthropic events. Only a finished upstream gets `message_stop`."""
    started = False
    async for item in items:
        if not started:
            # message_start goes out with the first real item, so that TTFT measures the model.
            started = True
            yield event(
                "message_start",
                {
                    "message": {
                        "id": mid,
                        "type": "message",
                        "role": "assistant",
                        "model": model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {"input_tokens": 0, "output_tokens": 0},
                    }
                },
            )
            yield event(
                "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}
            )
        if isinstance(item, TextDelta):
            yield event(
                "content_block_delta",
                {"index": 0, "delta": {"type": "text_delta", "text": item.text}},
            )
        elif isinstance(item, Finish):
            yield event("content_block_stop", {"index": 0})
            yield event(
                "message_delta",
                {
                    "delta": {
                        "stop_reason": _STOP_REASONS.get(item.reason, "end_turn"),
                        "stop_sequence": None,
                    },
                    "usage": {
                        "input_tokens": item.input_tokens,
                        "output_tokens": item.output_tokens,
                    },
                },
            )
            yield event("message_stop", {})


async def complete(items: AsyncIterator[UpstreamItem], *, mid: str, model: str) -> dict[str, Any]:
    text, finish = await collect(items)
    return {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": _STOP_REASONS.get(finish.reason, "end_turn"),
        "stop_sequence": None,
        "usage": {"input_tokens": finish.input_tokens, "output_tokens": finish.output_tokens},
    }
