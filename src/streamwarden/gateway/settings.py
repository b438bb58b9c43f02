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
    upstream: str = "sim"
    upstream_url: str | None = None
    #: Largest request body accepted, in bytes.
    max_body: int = 1_000_000
