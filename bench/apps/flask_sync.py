"""The gunicorn-sync equivalent: a Flask streaming endpoint, one stream per worker."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

from flask import Flask, Response, request
from shared import MODEL

app = Flask(__name__)
_WORDS = "the stream keeps flowing while proxies wait for bytes".split()


def _chunk(cid: str, created: int, delta: dict[str, str], finish: str | None) -> str:
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


@app.post("/v1/chat/completions")
def chat() -> Response:
    sim = (request.get_json(silent=True) or {}).get("sim") or {}
    tokens = int(sim.get("tokens", 64))
    tps = float(sim.get("tps", 1.0))
    ttft = float(sim.get("ttft", 0.0))

    def events() -> Iterator[str]:
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())
        time.sleep(ttft)
        for index in range(tokens):
            if index and tps > 0:
                time.sleep(1.0 / tps)  # the worker is held for the whole stream
            if index == 0:
                yield f"data: {_chunk(cid, created, {'role': 'assistant', 'content': ''}, None)}\n\n"
            word = _WORDS[index % len(_WORDS)]
            yield f"data: {_chunk(cid, created, {'content': ' ' + word}, None)}\n\n"
        yield f"data: {_chunk(cid, created, {}, 'stop')}\n\ndata: [DONE]\n\n"

    return Response(events(), mimetype="text/event-stream")
