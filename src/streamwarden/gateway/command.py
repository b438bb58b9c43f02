"""`streamwarden serve`: run the gateway under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from streamwarden.defaults import MAX_DURATION
from streamwarden.gateway.settings import GatewaySettings
from streamwarden.guard import StreamPolicy
from streamwarden.upstreams.sim import SimParams

__all__ = ["serve"]


def _limit(value: float, flag: str) -> float | None:
    # 0 turns a limit off on the command line; a negative one is a typo.
    if value < 0:
        raise ValueError(f"--{flag} must be >= 0 (0 turns it off), got {value:g}")
    return value if value > 0 else None


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    upstream: Annotated[str, typer.Option(help="sim (embedded), openai or anthropic.")] = "sim",
    upstream_url: Annotated[
        str | None, typer.Option(help="Base URL of the upstream (openai: required).")
    ] = None,
    heartbeat: Annotated[
        float, typer.Option(help="Seconds without a write before a keepalive comment (0: off).")
    ] = 15.0,
    first_token_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the first token (0: off).")
    ] = 120.0,
    idle_timeout: Annotated[
        float, typer.Option(help="Seconds of upstream silence after the first token (0: off).")
    ] = 60.0,
    max_duration: Annotated[
        float, typer.Option(help="Longest a stream may last, in seconds (0: off).")
    ] = MAX_DURATION,
    send_timeout: Annotated[
        float, typer.Option(help="Seconds a client may stop reading before it is dropped (0: off).")
    ] = 30.0,
    max_streams: Annotated[int, typer.Option(help="Streams served at once (0: unlimited).")] = 0,
    queue: Annotated[int, typer.Option(min=0, help="Requests that may wait for a slot.")] = 0,
    queue_timeout: Annotated[
        float, typer.Option(help="Seconds a queued request waits before 503.")
    ] = 10.0,
    api_key: Annotated[
        list[str] | None, typer.Option(help="Accepted API key (repeatable). None: no auth.")
    ] = None,
    key_max_streams: Annotated[int, typer.Option(help="Streams per API key (0: unlimited).")] = 0,
    drain_timeout: Annotated[
        float, typer.Option(help="Seconds streams may run on after SIGTERM.")
    ] = 30.0,
    sim_ttft: Annotated[
        float, typer.Option(help="Simulated model: seconds to the first token.")
    ] = 0.2,
    sim_tokens: Annotated[int, typer.Option(help="Simulated model: tokens per answer.")] = 64,
    sim_tps: Annotated[
        float, typer.Option(help="Simulated model: tokens per second (0: full speed).")
    ] = 50.0,
    access_log: Annotated[
        bool, typer.Option(help="One JSON line per finished stream on stderr.")
    ] = True,
) -> None:
    """Run the OpenAI/Anthropic-compatible streaming gateway (default upstream: simulated model)."""
    from streamwarden.gateway.server import bind_socket, run

    try:
        if upstream not in ("sim", "openai", "anthropic"):
            raise ValueError(f"--upstream must be sim, openai or anthropic, not {upstream!r}")
        for flag, value in (
            ("max-streams", max_streams),
            ("key-max-streams", key_max_streams),
            ("drain-timeout", drain_timeout),
        ):
            if value < 0:
                raise ValueError(f"--{flag} must be >= 0, got {value:g}")
        if queue_timeout <= 0:
            raise ValueError("--queue-timeout must be > 0: a queued request must not wait forever")
        if upstream == "openai" and not upstream_url:
            raise ValueError(
                "--upstream openai needs --upstream-url URL (an OpenAI-compatible server)"
            )
        settings = GatewaySettings(
            policy=StreamPolicy(
                heartbeat=_limit(heartbeat, "heartbeat"),
                first_token_timeout=_limit(first_token_timeout, "first-token-timeout"),
                idle_timeout=_limit(idle_timeout, "idle-timeout"),
                max_duration=_limit(max_duration, "max-duration"),
                send_timeout=_limit(send_timeout, "send-timeout"),
            ),
            sim=SimParams(ttft=sim_ttft, tokens=sim_tokens, tps=sim_tps),
            upstream=upstream,
            upstream_url=upstream_url,
            max_streams=max_streams or None,
            queue=queue,
            queue_timeout=queue_timeout,
            api_keys=tuple(api_key or ()),
            key_max_streams=key_max_streams or None,
            drain_timeout=drain_timeout,
            access_log=access_log,
        )
    except ValueError as exc:
        typer.echo(f"streamwarden serve: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        typer.echo(
            f"streamwarden serve: cannot listen on {host}:{port}: {exc.strerror or exc}; "
            "pick another --port or stop what holds it",
            err=True,
        )
        raise typer.Exit(2) from None
    typer.echo(
        f"streamwarden gateway on http://{host}:{port} (upstream: {upstream}, workers: {workers})",
        err=True,
    )
    run(settings, sock, workers=workers)
