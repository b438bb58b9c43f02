"""`streamwarden serve`: run the gateway under uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from streamwarden.gateway.app import create_app
from streamwarden.gateway.settings import GatewaySettings
from streamwarden.guard import StreamPolicy
from streamwarden.upstreams.sim import SimParams


def _limit(value: float) -> float | None:
    # 0 turns a limit off on the command line.
    return value if value > 0 else None


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    heartbeat: Annotated[
        float, typer.Option(help="Seconds of silence before a keepalive comment (0: off).")
    ] = 15.0,
    first_token_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the first token (0: off).")
    ] = 120.0,
    idle_timeout: Annotated[
        float,
        typer.Option(help="Seconds of upstream silence allowed after the first token (0: off)."),
    ] = 60.0,
    max_duration: Annotated[
        float, typer.Option(help="Longest a stream may last, in seconds (0: off).")
    ] = 900.0,
    send_timeout: Annotated[
        float, typer.Option(help="Seconds a client may stop reading before it is dropped (0: off).")
    ] = 30.0,
    sim_ttft: Annotated[
        float, typer.Option(help="Simulated model: seconds to the first token.")
    ] = 0.2,
    sim_tokens: Annotated[int, typer.Option(help="Simulated model: tokens per answer.")] = 64,
    sim_tps: Annotated[
        float, typer.Option(help="Simulated model: tokens per second (0: full speed).")
    ] = 50.0,
) -> None:
    """Run the OpenAI/Anthropic-compatible streaming gateway (default upstream: simulated model)."""
    try:
        policy = StreamPolicy(
            heartbeat=_limit(heartbeat),
            first_token_timeout=_limit(first_token_timeout),
            idle_timeout=_limit(idle_timeout),
            max_duration=_limit(max_duration),
            send_timeout=_limit(send_timeout),
        )
        sim = SimParams(ttft=sim_ttft, tokens=sim_tokens, tps=sim_tps)
    except ValueError as exc:
        typer.echo(f"streamwarden serve: {exc}", err=True)
        raise typer.Exit(2) from None
    app = create_app(GatewaySettings(policy=policy, sim=sim))
    uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="on")
