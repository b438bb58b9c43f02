"""A Flask streaming endpoint, the way most tutorials write it. Run on gunicorn `sync`:
each open stream holds one worker process for its whole life."""

from __future__ import annotations

import time
from collections.abc import Iterator

from flask import Flask, Response, request

from streamwarden.lab.apps.common import DONE, Pace, chunk, sse

app = Flask(__name__)


@app.post("/v1/chat/completions")
def chat() -> Response:
    pace = Pace.from_query(request.args)

    def generate() -> Iterator[bytes]:
        time.sleep(pace.ttft)
        for index in range(pace.tokens):
            if index:
                time.sleep(pace.interval)
            yield sse(chunk(index))
        yield sse(DONE)

    return Response(generate(), mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})
