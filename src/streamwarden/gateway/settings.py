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
    #: Resumable streams (`GET /v1/streams/{id}`): generation outlives the connection.
    resume: bool = False
    #: Seconds a generation goes on with no client following it before it is cancelled.
    resume_grace: float = 30.0
    #: Bytes of events the in-process store keeps (least recently used streams go first).
    resume_max_bytes: int = 64 * 1024 * 1024
    #: Seconds a stream's events are kept after its last event.
    resume_ttl: float = 300.0
    #: `redis://…`: events also go to Redis, so any replica sharing it serves a resume
    #: (turns resume on).
    redis_url: str | None = None
    #: Seconds a replica's hold on a stream lasts unless refreshed; a follower of a replica
    #: that died hears `stream_lost` within it.
    resume_lease: float = 5.0
    #: Seconds any one Redis call may take before it counts as failed.
    redis_timeout: float = 1.0
    #: Streams at once across every replica sharing `redis_url`; None is unlimited.
    global_max_streams: int | None = None

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
            ("resume-grace", self.resume_grace),
        ):
            if value is not None and not value >= 0:
                raise ValueError(f"--{flag} must be >= 0, got {value:g}")
        if not (self.queue_timeout > 0 and math.isfinite(self.queue_timeout)):
            raise ValueError("--queue-timeout must be > 0: a queued request must not wait forever")
        if self.redis_url is not None and not self.redis_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ValueError(
                f"--redis must be a redis://, rediss:// or unix:// URL, not {self.redis_url!r}"
            )
        if self.global_max_streams is not None:
            if self.global_max_streams < 1:
                raise ValueError(
                    f"--global-max-streams must be >= 1 (0: unlimited), got {self.global_max_streams}"
                )
            if self.redis_url is None:
                raise ValueError(
                    "--global-max-streams needs --redis URL: the replicas count their streams there"
                )
        for flag, seconds in (
            ("resume-lease", self.resume_lease),
            ("redis-timeout", self.redis_timeout),
        ):
            if not (seconds > 0 and math.isfinite(seconds)):
                raise ValueError(f"--{flag} must be > 0 seconds, got {seconds:g}")
        if not (self.resume_ttl > 0 and math.isfinite(self.resume_ttl)):
            raise ValueError(f"--resume-ttl must be > 0 seconds, got {self.resume_ttl:g}")
        for flag, size in (
            ("max-body", self.max_body),
            ("max-answer", self.max_answer),
            ("resume-max-bytes", self.resume_max_bytes),
        ):
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
