"""Locust (FastHttpUser, streaming) against the probe benchmark's target: each user reads
SSE streams line by line with `client.iter_lines`, the idiomatic Locust way, and counts
`data:` lines. The total goes to $PROBE_BENCH_EVENTS when Locust quits."""

from __future__ import annotations

import json
import os
from typing import Any

from locust import FastHttpUser, events, task

COUNT = [0]


class StreamUser(FastHttpUser):
    @task
    def stream(self) -> None:
        n = 0
        for line in self.client.iter_lines(os.environ.get("PROBE_BENCH_PATH", "/")):
            if line.startswith("data:"):
                n += 1
        COUNT[0] += n


@events.quitting.add_listener
def _write(environment: Any, **kw: Any) -> None:
    with open(os.environ["PROBE_BENCH_EVENTS"], "w") as f:
        json.dump({"events": COUNT[0]}, f)
