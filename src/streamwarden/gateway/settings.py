"""Everything `streamwarden serve` can be told, in one immutable object that checks itself.

A bad value raises ValueError naming the command-line flag, so the CLI only prints it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from streamwarden.guard import StreamPolicy
from streamwarden.upstreams.sim import SimCaps, SimParams

__all__ = ["UPSTREAMS", "GatewaySettings"]

UPSTREAMS = ("sim", "openai", "anthropic")


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    policy: StreamPolicy = field(default_factory=StreamPolicy)
    sim: SimParams = field(default_factory=SimParams)
    #: Bounds on the `sim` controls one request may ask for.
    sim_caps: SimCaps = field(default_factory=SimCaps)
    #: Whether requests may carry `sim` controls: `on`, `off`, or None (the default: on
    #: with the sim upstream, refused in front of a real upstream).
    sim_controls: str | None = None
    #: When set, `sim` controls are accepted only with `X-Streamwarden-Canary: TOKEN`.
    canary_token: str | None = None
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
    #: Largest non-streaming answer the gateway assembles, in bytes of text.
    max_answer: int = 8_000_000
    #: Seconds `/v1/models` answers from memory before asking the upstream again.
    models_ttl: float = 10.0
    #: One JSON line per finished request on stderr.
    access_log: bool = False

    def __post_init__(self) -> None:
        if self.upstream not in UPSTREAMS:
            raise ValueError(f"--upstream must be sim, openai or anthropic, not {self.upstream!r}")
        if self.upstream == "openai" and not self.upstream_url:
            raise ValueError(
                "--upstream openai needs --upstream-url URL (an OpenAI-compatible server)"
            )
        if self.sim_controls not in (None, "on", "off"):
            raise ValueError(f"--sim-controls must be on or off, not {self.sim_controls!r}")
        for flag, value in (
            ("max-streams", self.max_streams),
            ("key-max-streams", self.key_max_streams),
            ("queue", self.queue),
            ("drain-timeout", self.drain_timeout),
        ):
            if value is not None and not value >= 0:
                raise ValueError(f"--{flag} must be >= 0, got {value:g}")
        if not (self.queue_timeout > 0 and math.isfinite(self.queue_timeout)):
            raise ValueError("--queue-timeout must be > 0: a queued request must not wait forever")
        for flag, size in (("max-body", self.max_body), ("max-answer", self.max_answer)):
            if size < 1:
                raise ValueError(f"--{flag} must be >= 1 byte, got {size}")
        if any(not key.strip() for key in self.api_keys):
            raise ValueError(
                "--api-key is empty (was the variable you passed unset?); "
                "give a key or leave --api-key out"
            )
        if self.canary_token is not None and not self.canary_token.strip():
            raise ValueError(
                "--canary-token is empty (was the variable you passed unset?); "
                "give a token or leave --canary-token out"
            )

    @property
    def sim_controls_allowed(self) -> bool:
        """Whether a request's `sim` object is used (or, in front of a real upstream, sent on)."""
        if self.sim_controls is None:
            return self.upstream == "sim"
        return self.sim_controls == "on"
