"""`streamwarden probe` and `analyze` (stubs until the probe lands)."""

from __future__ import annotations

import typer


def probe(url: str) -> None:
    """Load-test a streaming endpoint and diagnose it (not built yet)."""
    typer.echo("streamwarden probe: not built yet", err=True)
    raise typer.Exit(2)


def analyze(path: str) -> None:
    """Re-run the diagnosis on a saved run (not built yet)."""
    typer.echo("streamwarden analyze: not built yet", err=True)
    raise typer.Exit(2)
