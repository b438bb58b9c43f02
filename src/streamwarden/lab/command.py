"""`streamwarden lab`: reproduce each streaming killer on loopback, probe it, compare.

Exit codes: 0 when every scenario that ran passed (skips do not count), 1 otherwise or when
interrupted, 2 for an unknown scenario name or an output path that cannot be written (checked
before anything runs; one line on stderr, no traceback).
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from streamwarden.lab.report import print_table, write_html, write_json
from streamwarden.lab.runner import ScenarioResult, run_lab
from streamwarden.lab.scenarios import SCENARIOS, Scenario, get_scenarios

__all__ = ["lab"]


def _usage(message: str) -> typer.Exit:
    typer.echo(f"streamwarden lab: {message}", err=True)
    return typer.Exit(2)


def _check_output(path: Path, flag: str) -> None:
    """Fail before the run, not after it: a report path whose folder is missing or read-only
    would otherwise cost the whole run's results."""
    parent = path.parent
    if not parent.is_dir():
        raise _usage(f"cannot write {flag} {str(path)!r}: folder {str(parent)!r} does not exist")
    if path.is_dir():
        raise _usage(f"cannot write {flag} {str(path)!r}: it is a folder")
    if path.exists():
        writable = os.access(path, os.W_OK)
    else:
        writable = os.access(parent, os.W_OK | os.X_OK)
    if not writable:
        raise _usage(f"cannot write {flag} {str(path)!r}: permission denied")


def _prepare_workdir(workdir: Path) -> None:
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _usage(f"cannot create --workdir {str(workdir)!r}: {exc.strerror or exc}") from None
    if not os.access(workdir, os.W_OK | os.X_OK):
        raise _usage(f"cannot write in --workdir {str(workdir)!r}: permission denied")


def _console() -> Console:
    console = Console()
    # Piped (CI logs, `| tee`): rich assumes 80 columns and would wrap every row in two.
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=200)
    return console


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI job cancelled, `kill`) takes the same teardown path as Ctrl-C."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def lab(
    scenario: Annotated[
        list[str] | None,
        typer.Option(
            "--scenario",
            "-s",
            help="Run only this scenario (repeatable). Default: all of them.",
        ),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the results (with every run) as JSON.")
    ] = None,
    html_path: Annotated[
        Path | None,
        typer.Option("--html", help="Write an HTML report with each scenario's charts."),
    ] = None,
    workdir: Annotated[
        Path | None,
        typer.Option(help="Keep configs and server logs here (default: a temporary folder)."),
    ] = None,
    list_only: Annotated[bool, typer.Option("--list", help="List the scenarios and exit.")] = False,
) -> None:
    """Reproduce each streaming failure on real stacks on loopback, probe it, and check the diagnosis."""
    console = _console()
    if list_only:
        table = Table(box=None, show_edge=False, pad_edge=False, header_style="bold")
        for column in ("scenario", "stack", "expected"):
            table.add_column(column)
        for s in SCENARIOS:
            table.add_row(s.name, s.stack, ", ".join(s.expected) or "no findings")
        console.print(table)
        return
    try:
        chosen = get_scenarios(scenario or [])
    except KeyError as exc:
        raise _usage(str(exc.args[0])) from None
    if json_path is not None:
        _check_output(json_path, "--json")
    if html_path is not None:
        _check_output(html_path, "--html")
    if workdir is not None:
        _prepare_workdir(workdir)

    with console.status("") as status, _sigterm_as_interrupt():

        def on_start(s: Scenario) -> None:
            status.update(f"[bold]{s.name}[/bold]: {s.stack}")

        def on_done(r: ScenarioResult) -> None:
            mark = {"pass": "[green]✓", "skip": "[yellow]-"}.get(r.verdict, "[red]✗")
            console.print(f"{mark} {r.name}[/] [dim]{r.duration_s:.1f}s[/dim]")

        result = run_lab(chosen, workdir, on_start=on_start, on_done=on_done)
    console.print()
    print_table(result, console)
    # The folders were checked before the run, but a disk can still fill up or vanish.
    failed: list[str] = []
    for path, write in ((json_path, write_json), (html_path, write_html)):
        if path is None:
            continue
        try:
            write(result, path)
        except OSError as exc:
            failed.append(f"{str(path)!r} ({exc.strerror or exc})")
    if failed:
        raise _usage(f"cannot write the report {', '.join(failed)}")
    raise typer.Exit(result.exit_code)
