"""What a probe run is asked to do, checked before any socket opens.

`ProbeConfig` holds the run's settings; `validate` turns one into a `Target` or raises
`ProbeError` with the line the CLI prints. Nothing here touches the network.
"""

from __future__ import annotations

import ipaddress
import math
import ssl
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from streamwarden.probe.formats import FORMATS

__all__ = [
    "ProbeConfig",
    "ProbeError",
    "Target",
    "parse_target",
    "tls_context",
    "validate",
]


class ProbeError(Exception):
    """A usage error or an unreachable target: the CLI prints it on one line, exit 2."""


@dataclass(frozen=True, slots=True)
class ProbeConfig:
    url: str
    format: str = "auto"
    #: Defaults to POST when there is a body, GET otherwise.
    method: str | None = None
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    #: Closed-loop steps: this many requests in flight, each restarted when it ends.
    concurrency: tuple[int, ...] = (1, 2, 4, 8)
    #: Open loop instead: Poisson arrivals per second, for `step_duration`.
    rate: float | None = None
    step_duration: float = 10.0
    #: Client timeout of one request, from connect to the end of the body.
    timeout: float = 60.0
    #: Requests started per step at most (None: as many as the duration allows).
    max_requests: int | None = None
    #: Open loop: requests in flight at most; arrivals past it wait, and the wait shows up
    #: as schedule lag instead of silently thinning the load (coordinated omission).
    max_inflight: int = 10_000
    #: Closed loop: spread the first wave's starts over this many seconds.
    ramp: float = 0.0
    allow_remote: bool = False
    seed: int | None = None
    loop_lag_interval: float = 0.05
    #: `--bodies`: one body per request, in turn (or at random with `seed`); templates in
    #: any body are expanded per request (`probe.workload`).
    bodies: tuple[bytes, ...] = ()
    #: Stop the run when the first `EARLY_STOP_AFTER` requests of a step all fail with the
    #: same 4xx: the rest of the step would only repeat it.
    early_stop: bool = True
    #: Once asked to stop, how long streams in flight get to end on their own.
    stop_grace: float = 2.0
    #: HTTP/2 over TLS (ALPN `h2`): the streams share one connection.
    http2: bool = False
    #: TLS: skip the certificate checks (a self-signed test server).
    insecure: bool = False
    #: TLS: a CA bundle (PEM) to trust instead of the system's, for a private CA.
    ca: str | None = None

    def describe(self) -> dict[str, object]:
        out = asdict(self)
        out["body"] = None if self.body is None else f"{len(self.body)} bytes"
        out["bodies"] = len(self.bodies)
        out["headers"] = [name for name, _ in self.headers]  # values may hold keys
        out["concurrency"] = list(self.concurrency)
        return out


@dataclass(frozen=True, slots=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    netloc: str

    @property
    def tls(self) -> bool:
        return self.scheme == "https"


def parse_target(url: str, allow_remote: bool = False) -> Target:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ProbeError(f"bad URL {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ProbeError(f"URL must start with http:// or https://: {url!r}")
    host = parts.hostname
    if not host:
        raise ProbeError(f"URL has no host: {url!r}")
    if not allow_remote and not _is_loopback(host):
        raise ProbeError(
            f"refusing to load {host}: the probe targets loopback only "
            "(127.0.0.0/8, ::1, localhost); pass --allow-remote for a host you own"
        )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    default_port = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, host, port or default_port, path, parts.netloc.rpartition("@")[2])


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def validate(config: ProbeConfig) -> Target:
    """Check a config without touching the network; returns the parsed target."""
    if config.format not in FORMATS:
        raise ProbeError(f"unknown format {config.format!r}; choose from {', '.join(FORMATS)}")
    # `not (x > 0)` also rejects NaN; an infinite value would never end a step or a request.
    if config.rate is not None and not (0 < config.rate < math.inf):
        raise ProbeError("--rate must be a positive number")
    if config.rate is None and (not config.concurrency or min(config.concurrency) < 1):
        raise ProbeError("--concurrency needs positive integers, e.g. 1,2,4,8")
    if not (0 < config.step_duration < math.inf):
        raise ProbeError("--step-duration must be a positive number of seconds")
    if not (0 < config.timeout < math.inf):
        raise ProbeError("--timeout must be a positive number of seconds")
    if config.max_requests is not None and config.max_requests < 1:
        raise ProbeError("--max-requests must be at least 1")
    # A semaphore of 0 never lets an arrival start: the open loop would wait forever.
    if config.max_inflight < 1:
        raise ProbeError("--max-inflight must be at least 1")
    if not (0 <= config.ramp < math.inf):
        raise ProbeError("--ramp must be zero or a positive number of seconds")
    if not (0 <= config.stop_grace < math.inf):
        raise ProbeError("stop_grace must be zero or a positive number of seconds")
    if not (0 < config.loop_lag_interval < math.inf):
        raise ProbeError("loop_lag_interval must be a positive number of seconds")
    target = parse_target(config.url, config.allow_remote)
    if config.http2 and not target.tls:
        raise ProbeError("--http2 needs an https:// URL: HTTP/2 is negotiated by TLS (ALPN)")
    if config.ca is not None and not Path(config.ca).is_file():
        raise ProbeError(f"--ca {config.ca!r} is not a file — give a PEM bundle of CA certificates")
    if config.http2 and config.bodies:
        raise ProbeError("--bodies works over HTTP/1.1 only for now — drop --http2 or --bodies")
    if config.ca is not None and config.insecure:
        raise ProbeError("--ca and --insecure contradict each other — pick one")
    return target


def tls_context(config: ProbeConfig) -> ssl.SSLContext:
    """The TLS settings of a run: system CAs, or `--ca`, or none with `--insecure`; ALPN
    offers `h2` only with `--http2`, so the protocol spoken is the one asked for."""
    try:
        context = ssl.create_default_context(cafile=config.ca)
    except (OSError, ssl.SSLError) as exc:
        raise ProbeError(
            f"--ca {config.ca!r} cannot be loaded: {exc} — give a PEM bundle"
        ) from None
    if config.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["h2"] if config.http2 else ["http/1.1"])
    return context
