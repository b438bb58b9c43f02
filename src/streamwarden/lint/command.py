"""`streamwarden lint` and `config` (stubs until the linter lands)."""

from __future__ import annotations

import typer


def lint(paths: list[str]) -> None:
    """Check proxy and server configs for streaming killers (not built yet)."""
    typer.echo("streamwarden lint: not built yet", err=True)
    raise typer.Exit(2)


def config(kind: str) -> None:
    """Print a config snippet that streams correctly (not built yet)."""
    typer.echo("streamwarden config: not built yet", err=True)
    raise typer.Exit(2)
