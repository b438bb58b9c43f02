"""Prometheus metrics, one registry per app (no global state).

With several worker processes, set PROMETHEUS_MULTIPROC_DIR (`serve --workers N` does) and
/metrics aggregates every worker's values.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from streamwarden.guard import Outcome, StreamStats

__all__ = ["CONTENT_TYPE_LATEST", "OUTCOMES", "GatewayMetrics"]

#: Every outcome a request can end with: the guard's, plus endings before any stream.
OUTCOMES = (
    *(outcome.value for outcome in Outcome),
    "unauthorized",  # no or a wrong API key, or sim controls without the canary token
    "invalid_request",  # the client's mistake: bad JSON, bad fields, unknown path or model
    "upstream_refused",  # the upstream answered an error status, or refused the connection
    "upstream_timeout",  # the upstream did not answer within --first-token-timeout
)

# Outcomes after which the upstream was still producing: its request was cancelled.
_CANCELLED = {
    Outcome.CLIENT_DISCONNECTED,
    Outcome.FIRST_TOKEN_TIMEOUT,
    Outcome.IDLE_TIMEOUT,
    Outcome.MAX_DURATION,
    Outcome.SEND_TIMEOUT,
    Outcome.SHUTDOWN,
}


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.active_streams = Gauge(
            "streamwarden_active_streams",
            "Streams open now",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.queue_depth = Gauge(
            "streamwarden_queue_depth",
            "Requests waiting for a slot",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.streams_total = Counter(
            "streamwarden_streams_total",
            "Finished requests by outcome (streamed or not, refusals included)",
            ["outcome"],
            registry=r,
        )
        self.heartbeats_total = Counter(
            "streamwarden_heartbeats_total", "Keepalive comments sent", registry=r
        )
        self.upstream_cancelled_total = Counter(
            "streamwarden_upstream_cancelled_total",
            "Upstream requests cancelled before they finished (client left, deadline, shutdown)",
            registry=r,
        )
        self.ttft_seconds = Histogram(
            "streamwarden_ttft_seconds",
            "Time to first token",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=r,
        )
        self.tokens_total = Counter("streamwarden_tokens_total", "Tokens relayed", registry=r)
        for outcome in OUTCOMES:
            self.streams_total.labels(outcome=outcome)

    def stream_finished(self, stats: StreamStats, tokens: int, upstream_done: bool) -> None:
        self.streams_total.labels(outcome=stats.outcome.value).inc()
        self.heartbeats_total.inc(stats.heartbeats)
        self.tokens_total.inc(tokens)
        if stats.ttft is not None:
            self.ttft_seconds.observe(stats.ttft)
        if stats.outcome in _CANCELLED and not upstream_done:
            self.upstream_cancelled_total.inc()

    def request_finished(self, outcome: str) -> None:
        """A request that ended without a guarded stream (refused, or not streamed)."""
        self.streams_total.labels(outcome=outcome).inc()

    def upstream_cancelled(self, upstream_done: bool) -> None:
        if not upstream_done:
            self.upstream_cancelled_total.inc()

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
