"""What every benchmarked app does per request and per token, so that only the streaming
machinery differs between them: parse the same body, run the same simulated model, build
the same OpenAI chunk JSON for every token (the shape of `protocols.openai._chunk`)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from streamwarden.upstreams.sim import SimParams, sim_tokens

MODEL = "sim-1"


def params_from_body(raw: bytes) -> SimParams:
    body: dict[str, Any] = json.loads(raw) if raw else {}
    return SimParams().override(body.get("sim") or {})


def chunk_json(cid: str, created: int, delta: dict[str, Any], finish: str | None) -> str:
    return json.dumps(
        {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        },
        separators=(",", ":"),
    )


async def chunks(params: SimParams) -> AsyncIterator[str]:
    """The OpenAI chunk JSON strings for one answer: role, one per token, finish, [DONE].
    Same sequence as the gateway sends, so every app emits the same events."""
    cid = "chatcmpl-" + uuid.uuid4().hex[:24]
    created = int(time.time())
    started = False
    async for token in sim_tokens(params):
        if not started:
            started = True
            yield chunk_json(cid, created, {"role": "assistant", "content": ""}, None)
        yield chunk_json(cid, created, {"content": token}, None)
    yield chunk_json(cid, created, {}, "stop")
    yield "[DONE]"
