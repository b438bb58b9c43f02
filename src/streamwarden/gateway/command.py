"""`streamwarden serve`: run the gateway under uvicorn."""

from __future__ import annotations

import errno
import socket
from typing import Annotated

import typer

from streamwarden.defaults import MAX_DURATION
from streamwarden.gateway.settings import GatewaySettings
from streamwarden.guard import StreamPolicy
from streamwarden.upstreams.sim import SimCaps, SimParams

__all__ = ["serve"]


def _limit(value: float, flag: str) -> float | None:
    # 0 turns a limit off on the command line; a negative one is a typo.
    if not value >= 0:
        raise ValueError(f"--{flag} must be >= 0 (0 turns it off), got {value:g}")
    return value if value > 0 else None


def _fail(message: str) -> typer.Exit:
    typer.echo(f"streamwarden serve: {message}", err=True)
    return typer.Exit(2)


def _check_port(port: int, flag: str) -> None:
    if not 0 <= port <= 65535:
        raise ValueError(f"--{flag} must be between 0 and 65535, got {port}")


def _listen(host: str, port: int, flag: str = "port") -> socket.socket:
    """The bound socket, or a one-line error that says which flag to change."""
    from streamwarden.gateway.server import bind_socket

    try:
        return bind_socket(host, port)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRINUSE:
            advice = f"pick another --{flag} or stop what holds it"
        elif exc.errno == errno.EACCES:
            advice = f"ports below 1024 need privileges; pick a --{flag} of 1024 or more"
        else:
            advice = "--host must be an address of this machine (127.0.0.1, 0.0.0.0, ::)"
        raise _fail(f"cannot listen on {host}:{port}: {reason} — {advice}") from None


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    upstream: Annotated[str, typer.Option(help="sim (embedded), openai or anthropic.")] = "sim",
    upstream_url: Annotated[
        str | None, typer.Option(help="Base URL of the upstream (openai: required).")
    ] = None,
    upstream_max_connections: Annotated[
        int,
        typer.Option(min=0, help="Connections to the upstream at once, reused (0: unlimited)."),
    ] = 0,
    heartbeat: Annotated[
        float, typer.Option(help="Seconds without a write before a keepalive comment (0: off).")
    ] = 15.0,
    first_token_timeout: Annotated[
        float,
        typer.Option(
            help="Seconds to wait for the upstream to connect, answer and send its first token (0: off)."
        ),
    ] = 120.0,
    idle_timeout: Annotated[
        float, typer.Option(help="Seconds of upstream silence after the first token (0: off).")
    ] = 60.0,
    max_duration: Annotated[
        float, typer.Option(help="Longest a request may last, in seconds (0: off).")
    ] = MAX_DURATION,
    send_timeout: Annotated[
        float, typer.Option(help="Seconds a client may stop reading before it is dropped (0: off).")
    ] = 30.0,
    max_streams: Annotated[
        int, typer.Option(help="Streams served at once, by all workers together (0: unlimited).")
    ] = 0,
    queue: Annotated[int, typer.Option(min=0, help="Requests that may wait for a slot.")] = 0,
    queue_timeout: Annotated[
        float, typer.Option(help="Seconds a queued request waits before 503.")
    ] = 10.0,
    api_key: Annotated[
        list[str] | None,
        typer.Option(metavar="KEY", help="Accepted API key (repeatable). None: no auth."),
    ] = None,
    key_max_streams: Annotated[int, typer.Option(help="Streams per API key (0: unlimited).")] = 0,
    drain_timeout: Annotated[
        float, typer.Option(help="Seconds streams may run on after SIGTERM.")
    ] = 30.0,
    max_body: Annotated[int, typer.Option(help="Largest request body, in bytes.")] = 1_000_000,
    max_answer: Annotated[
        int, typer.Option(help="Largest non-streaming answer, in characters of text.")
    ] = 8_000_000,
    header_timeout: Annotated[
        float, typer.Option(help="Seconds a client has to send a request's headers (0: off).")
    ] = 10.0,
    body_timeout: Annotated[
        float, typer.Option(help="Seconds a client has to send a request's body (0: off).")
    ] = 30.0,
    max_connections: Annotated[
        int, typer.Option(help="Open connections at once (0: derived from the open-file limit).")
    ] = 0,
    metrics_port: Annotated[
        int | None,
        typer.Option(metavar="PORT", help="Serve /metrics on this port instead (same --host)."),
    ] = None,
    sim_ttft: Annotated[
        float, typer.Option(help="Simulated model: seconds to the first token.")
    ] = 0.2,
    sim_tokens: Annotated[int, typer.Option(help="Simulated model: tokens per answer.")] = 64,
    sim_tps: Annotated[
        float, typer.Option(help="Simulated model: tokens per second (0: full speed).")
    ] = 50.0,
    sim_max_tokens: Annotated[
        int, typer.Option(help="Most tokens a request's sim controls may ask for.")
    ] = 10_000,
    sim_min_tps: Annotated[
        float, typer.Option(help="Slowest token rate a request may ask for (0 is always allowed).")
    ] = 1.0,
    sim_max_pause: Annotated[
        float, typer.Option(help="Longest sim ttft or pause a request may ask for, in seconds.")
    ] = 300.0,
    sim_controls: Annotated[
        str | None,
        typer.Option(
            metavar="on|off",
            help="Accept a request's 'sim' object (default: on for --upstream sim only).",
        ),
    ] = None,
    canary_token: Annotated[
        str | None,
        typer.Option(
            metavar="TOKEN",
            help="Accept 'sim' controls only with header X-Streamwarden-Canary: TOKEN.",
        ),
    ] = None,
    access_log: Annotated[
        bool, typer.Option(help="One JSON line per finished request on stderr.")
    ] = True,
    resume: Annotated[
        bool,
        typer.Option(
            help="Resumable streams (GET /v1/streams/ID): a cut client does not cancel the generation."
        ),
    ] = False,
    resume_grace: Annotated[
        float,
        typer.Option(help="Seconds a generation runs on with no client before it is cancelled."),
    ] = 30.0,
    resume_max_bytes: Annotated[
        int, typer.Option(help="Bytes of events kept in memory for resumes (oldest go first).")
    ] = 64 * 1024 * 1024,
    resume_ttl: Annotated[
        float, typer.Option(help="Seconds a stream's events are kept after its last event.")
    ] = 300.0,
    redis: Annotated[
        str | None,
        typer.Option(
            envvar="STREAMWARDEN_REDIS",
            help="redis://HOST:PORT: share streams with every replica using it (turns resume on).",
        ),
    ] = None,
    resume_lease: Annotated[
        float,
        typer.Option(help="Seconds until a dead replica's streams count as lost (with --redis)."),
    ] = 5.0,
    redis_timeout: Annotated[
        float, typer.Option(help="Seconds any one Redis call may take (with --redis).")
    ] = 1.0,
    global_max_streams: Annotated[
        int,
        typer.Option(help="Streams at once across all replicas sharing --redis (0: unlimited)."),
    ] = 0,
) -> None:
    """Run the OpenAI/Anthropic-compatible streaming gateway (default upstream: simulated model)."""
    from streamwarden.gateway.server import Listen, run

    try:
        _check_port(port, "port")
        if metrics_port is not None:
            _check_port(metrics_port, "metrics-port")
        policy = StreamPolicy(
            heartbeat=_limit(heartbeat, "heartbeat"),
            first_token_timeout=_limit(first_token_timeout, "first-token-timeout"),
            idle_timeout=_limit(idle_timeout, "idle-timeout"),
            max_duration=_limit(max_duration, "max-duration"),
            send_timeout=_limit(send_timeout, "send-timeout"),
        )
        listen = Listen(
            header_timeout=_limit(header_timeout, "header-timeout"),
            body_timeout=_limit(body_timeout, "body-timeout"),
            max_connections=max_connections if max_connections != 0 else None,
        )
        settings = GatewaySettings(
            policy=policy,
            sim=SimParams(ttft=sim_ttft, tokens=sim_tokens, tps=sim_tps),
            sim_caps=SimCaps(
                max_tokens=sim_max_tokens, min_tps=sim_min_tps, max_pause=sim_max_pause
            ),
            sim_controls=sim_controls,
            canary_token=canary_token,
            upstream=upstream,
            upstream_url=upstream_url,
            upstream_max_connections=upstream_max_connections or None,
            max_streams=max_streams or None,
            queue=queue,
            queue_timeout=queue_timeout,
            api_keys=tuple(api_key) if api_key is not None else (),
            key_max_streams=key_max_streams or None,
            drain_timeout=drain_timeout,
            max_body=max_body,
            max_answer=max_answer,
            access_log=access_log,
            resume=resume,
            resume_grace=resume_grace,
            resume_max_bytes=resume_max_bytes,
            resume_ttl=resume_ttl,
            redis_url=redis or None,
            resume_lease=resume_lease,
            redis_timeout=redis_timeout,
            global_max_streams=global_max_streams or None,
        )
    except ValueError as exc:
        raise _fail(str(exc)) from None
    sock = _listen(host, port)
    metrics_sock = _listen(host, metrics_port, "metrics-port") if metrics_port is not None else None
    typer.echo(
        f"streamwarden gateway on http://{host}:{port} (upstream: {upstream}, workers: {workers})",
        err=True,
    )
    run(settings, sock, workers=workers, listen=listen, metrics_sock=metrics_sock)
