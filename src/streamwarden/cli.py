"""The `streamwarden` command line. Each command lives with its part; this file wires them.

Only the command being run is imported: the lab's, the gateway's and the linter's modules
cost a `streamwarden probe` run 0.2 s of CPU before its first request otherwise.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import typer

from streamwarden import __version__

#: Command name -> (module, function).
COMMANDS = {
    "serve": ("streamwarden.gateway.command", "serve"),
    "probe": ("streamwarden.probe.command", "probe"),
    "analyze": ("streamwarden.probe.command", "analyze"),
    "lab": ("streamwarden.lab.command", "lab"),
    "lint": ("streamwarden.lint.command", "lint"),
    "config": ("streamwarden.lint.command", "config"),
    "doctor": ("streamwarden.doctor.command", "doctor"),
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"streamwarden {__version__}")
        raise typer.Exit()


def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Hardened LLM streaming: guard, gateway, probe, lab and config linter."""


def build_app(only: str | None = None) -> typer.Typer:
    """The CLI with every command, or with `only` that one (what `main` runs)."""
    app = typer.Typer(
        name="streamwarden",
        help="Hardened LLM streaming: guard, gateway, probe, lab and config linter.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(_root)
    for name, (module, function) in COMMANDS.items():
        if only is None or name == only:
            app.command(name)(getattr(importlib.import_module(module), function))
    return app


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    # The first word that is not an option names the command; anything else (--help, a
    # typo) gets the full app, so that help and "no such command" list every command.
    first = next((a for a in args if not a.startswith("-")), None)
    build_app(first if first in COMMANDS else None)(args=args, prog_name="streamwarden")


def __getattr__(name: str) -> Any:
    if name == "app":  # the full app, for tools and tests that import it
        return build_app()
    raise AttributeError(f"module 'streamwarden.cli' has no attribute {name!r}")
