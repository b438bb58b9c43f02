"""`streamwarden lab` (stub until the lab lands)."""

from __future__ import annotations

import typer


def lab() -> None:
    """Reproduce each streaming failure on real stacks (not built yet)."""
    typer.echo("streamwarden lab: not built yet", err=True)
    raise typer.Exit(2)
