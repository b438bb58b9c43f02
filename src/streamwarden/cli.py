"""The `streamwarden` command line. Each command lives with its part; this file wires them."""

from __future__ import annotations

import typer

from streamwarden import __version__
from streamwarden.gateway.command import serve
from streamwarden.lab.command import lab
from streamwarden.lint.command import config, lint
from streamwarden.probe.command import analyze, probe

app = typer.Typer(
    name="streamwarden",
    help="Hardened LLM streaming: guard, gateway, probe, lab and config linter.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"streamwarden {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Hardened LLM streaming: guard, gateway, probe, lab and config linter."""


app.command("serve")(serve)
app.command("probe")(probe)
app.command("analyze")(analyze)
app.command("lab")(lab)
app.command("lint")(lint)
app.command("config")(config)


def main() -> None:
    app()
