"""Everything `streamwarden serve` can be told, in one immutable object."""

from __future__ import annotations

from dataclasses import dataclass, field

from streamwarden.guard import StreamPolicy
from streamwarden.upstreams.sim import SimParams

__all__ = ["GatewaySettings"]


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    policy: StreamPolicy = field(default_factory=StreamPolicy)
    sim: SimParams = field(default_factory=SimParams)
    #: `sim`, `openai` (any OpenAI-compatible server at upstream_url) or `anthropic`.
    upstream: str = "sim"
    upstream_url: str | None = None
    #: Connections to the upstream at once (kept alive and reused); None is unlimited.
    #: Requests beyond it wait up to 30 s for one, then get 503.
    upstream_max_connections: int | None = None
    #: Streams served at once; None is unlimited.
    max_streams: int | None = None
    #: Requests that may wait for a slot when all are taken.
    queue: int = 0
    #: Seconds a queued request waits before it gets 503.
    queue_timeout: float = 10.0
    #: Accepted API keys; empty means no authentication.
    api_keys: tuple[str, ...] = ()
    key_max_streams: int | None = None
    #: Seconds running streams may go on after SIGTERM before they end with `shutdown`.
    drain_timeout: float = 30.0
    #: Largest request body accepted, in bytes.
    max_body: int = 1_000_000
    #: One JSON line per finished stream on stderr.
    access_log: bool = False
