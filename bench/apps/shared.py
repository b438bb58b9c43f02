"""What every benchmarked app does per request and per token, so that only the streaming
machinery differs between them: parse the same body, run the same simulated model, frame
its tokens with the gateway's own OpenAI encoder."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

from streamwarden.protocols import openai
from streamwarden.upstreams.base import Finish, TextDelta, UpstreamItem
from streamwarden.upstreams.sim import SimParams, sim_tokens

MODEL = "sim-1"


def params_from_body(raw: bytes) -> SimParams:
    body: dict[str, Any] = json.loads(raw) if raw else {}
    return SimParams().override(body.get("sim") or {})


def chunk_json(cid: str, created: int, delta: dict[str, Any], finish: str | None) -> str:
    return openai.chunk_json(cid, created, MODEL, delta, finish)


async def _items(params: SimParams) -> AsyncIterator[UpstreamItem]:
    count = 0
    async for token in sim_tokens(params):
        count += 1
        yield TextDelta(token)
    yield Finish(output_tokens=count)


def chunks(params: SimParams) -> AsyncIterator[str]:
    """The OpenAI chunk JSON strings for one answer: role, one per token, finish, [DONE],
    the sequence the gateway sends."""
    cid = "chatcmpl-" + uuid.uuid4().hex[:24]
    return openai.stream_events(_items(params), cid=cid, model=MODEL, include_usage=False)


__all__ = ["MODEL", "chunk_json", "chunks", "params_from_body"]
