"""`streamwarden doctor URL --token T`: measure what a deployment path does to a stream.

Exit codes: 0 when nothing on the path breaks streams of `--expect-duration` and
`--expect-gap`, 1 when something does, 2 for a usage error or an unreachable canary (one line
on stderr, `streamwarden doctor: what is wrong — how to fix it`, no traceback).
"""

from __future__ import annotations

import ipaddress
import time
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import anyio
import typer
from rich.console import Console

from streamwarden.doctor.card import breaks_streams, build_card, print_card, write_html, write_json
from streamwarden.doctor.experiments import (
    EXPERIMENTS,
    DoctorConfig,
    caps_problem,
    plan_budget,
    run_doctor,
)
from streamwarden.doctor.results import Measurements
from streamwarden.doctor.wire import CanaryClient, CanaryUnavailable

__all__ = ["doctor"]


def _usage(what: str, fix: str) -> typer.Exit:
    typer.echo(f"streamwarden doctor: {what} — {fix}", err=True)
    return typer.Exit(2)


def is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_url(url: str, allow_remote: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _usage(
            f"{url!r} is not an http(s) URL",
            "pass the canary's URL, e.g. http://127.0.0.1:8000/_streamwarden",
        )
    if not allow_remote and not is_loopback(parts.hostname):
        raise _usage(
            f"{parts.hostname} is not this machine",
            "pass --allow-remote to send the experiments through a real path "
            "(they hold streams open for minutes)",
        )


def _budget_text(config: DoctorConfig) -> tuple[list[str], float]:
    rows = plan_budget(config)
    lines = [f"  {name:<12} {what}  (≤ {seconds:.0f} s)" for name, what, seconds in rows]
    costs = dict((name, seconds) for name, _, seconds in rows)
    # Concurrency runs alone first; the rest run together, heartbeat after idle.
    together = [costs.get("idle", 0.0) + costs.get("heartbeat", 0.0)]
    together += [s for n, s in costs.items() if n not in ("idle", "heartbeat", "concurrency")]
    return lines, costs.get("concurrency", 0.0) + max(together, default=0.0)


def doctor(
    url: Annotated[
        str,
        typer.Argument(
            help="Where the canary is mounted, through the path to test "
            "(e.g. https://api.example.com/_streamwarden).",
            show_default=False,
        ),
    ],
    token: Annotated[
        str,
        typer.Option(
            "--token",
            envvar="STREAMWARDEN_CANARY_TOKEN",
            help="The canary's token (canary_app(token=...)).",
        ),
    ] = "",
    max_idle: Annotated[
        float, typer.Option("--max-idle", help="Longest silent pause to try, in seconds.")
    ] = 330.0,
    max_total: Annotated[
        float,
        typer.Option(
            "--max-total", help="Longest stream to try for a total-time limit, in seconds."
        ),
    ] = 900.0,
    quick: Annotated[
        bool, typer.Option("--quick", help="Stop the idle timeout at the first cut (no bisection).")
    ] = False,
    expect_duration: Annotated[
        float,
        typer.Option(
            "--expect-duration",
            help="Your longest stream, in seconds: a shorter total limit exits 1.",
        ),
    ] = 120.0,
    expect_gap: Annotated[
        float,
        typer.Option(
            "--expect-gap",
            help="Your longest silence between tokens, in seconds: a shorter idle "
            "timeout that heartbeats cannot bridge exits 1.",
        ),
    ] = 30.0,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--only",
            help=f"Run only these experiments (repeatable): {', '.join(EXPERIMENTS)}.",
            show_default=False,
        ),
    ] = None,
    max_concurrency: Annotated[
        int,
        typer.Option(
            "--max-concurrency", help="Most streams at once in the concurrency experiment."
        ),
    ] = 32,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow a URL that is not on this machine.")
    ] = False,
    json_path: Annotated[
        Path | None,
        typer.Option(
            "--json", help="Write the card and the measurements as JSON here.", show_default=False
        ),
    ] = None,
    html_path: Annotated[
        Path | None,
        typer.Option(
            "--html",
            help="Write the card as one self-contained HTML file here.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Measure what a deployment path does to a stream: buffering, compression, idle and
    total timeouts, heartbeats, disconnects, concurrency. Needs a canary behind the path."""
    _check_url(url, allow_remote)
    if not token:
        raise _usage(
            "no --token", "pass the canary's token (--token T or STREAMWARDEN_CANARY_TOKEN)"
        )
    for name, value in (
        ("--max-idle", max_idle),
        ("--max-total", max_total),
        ("--expect-duration", expect_duration),
        ("--expect-gap", expect_gap),
    ):
        if not value > 0:
            raise _usage(
                f"{name} {value:g} is not a positive number of seconds", f"pass {name} S with S > 0"
            )
    if max_concurrency < 1:
        raise _usage(f"--max-concurrency {max_concurrency}", "pass a positive number of streams")
    chosen = tuple(only or EXPERIMENTS)
    unknown = [name for name in chosen if name not in EXPERIMENTS]
    if unknown:
        raise _usage(
            f"no experiment named {unknown[0]!r}", f"--only takes one of {', '.join(EXPERIMENTS)}"
        )
    config = DoctorConfig(
        url=url,
        token=token,
        max_idle=max_idle,
        max_total=max_total,
        quick=quick,
        expect_duration=expect_duration,
        expect_gap=expect_gap,
        max_concurrency=max_concurrency,
        only=chosen,
    )
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    started = time.monotonic()

    def announce() -> None:
        nonlocal started
        lines, budget = _budget_text(config)
        err.print(
            f"[bold]streamwarden doctor[/bold] {url}: {len(lines)} experiments, "
            f"at most {budget:.0f} s (less when the path cuts early)"
        )
        for line in lines:
            err.print(line, markup=False)
        started = time.monotonic()

    def progress(name: str, message: str) -> None:
        err.print(f"  [{time.monotonic() - started:6.1f} s] {name}: {message}", markup=False)

    async def main() -> Measurements | tuple[str, str]:
        async with CanaryClient(url, token) as client:
            # Reachable, the right token, and caps that allow this run: before any plan.
            info = await client.info()
            problem = caps_problem(config, info.get("limits") or {})
            if problem is not None:
                return problem
            announce()
            return await run_doctor(client, config, progress)

    try:
        measured = anyio.run(main)
    except CanaryUnavailable as exc:
        raise _usage(str(exc), _unavailable_fix(str(exc))) from None
    if isinstance(measured, tuple):
        raise _usage(*measured)
    card = build_card(measured, expect_duration=expect_duration, expect_gap=expect_gap)
    print_card(card, url, Console(highlight=False))
    try:
        if json_path is not None:
            write_json(measured, card, json_path)
        if html_path is not None:
            write_html(measured, card, html_path)
    except OSError as exc:
        raise _usage(
            f"cannot write {exc.filename}: {exc.strerror}",
            "pass a path in a folder you can write to",
        ) from None
    raise typer.Exit(1 if breaks_streams(card) else 0)


def _unavailable_fix(message: str) -> str:
    if "401" in message:
        return "pass the token the canary was started with (--token or STREAMWARDEN_CANARY_TOKEN)"
    if "no streamwarden canary" in message:
        return "point URL at where canary_app is mounted, e.g. http://HOST/_streamwarden"
    return "start the canary (app.mount('/_streamwarden', canary_app(token=...))) and check the URL"
