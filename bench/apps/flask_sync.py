"""The gunicorn-sync equivalent: a Flask streaming endpoint, one stream per worker."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

from flask import Flask, Response, request
from shared import chunk_json

from streamwarden.upstreams.sim import word

app = Flask(__name__)


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
                yield f"data: {chunk_json(cid, created, {'role': 'assistant', 'content': ''}, None)}\n\n"
            text = " " + word(index)
            yield f"data: {chunk_json(cid, created, {'content': text}, None)}\n\n"
        yield f"data: {chunk_json(cid, created, {}, 'stop')}\n\ndata: [DONE]\n\n"

    return Response(events(), mimetype="text/event-stream")
