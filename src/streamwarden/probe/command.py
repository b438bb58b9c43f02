"""`streamwarden probe URL` and `streamwarden analyze run.json`.

Exit codes: 0 when no finding reaches `--fail-on`, 1 when one does, 2 for a usage error or
an unreachable target (one line on stderr, no traceback).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.text import Text

from streamwarden.gctuning import fewer_collections
from streamwarden.probe.diagnose import Thresholds, diagnose
from streamwarden.probe.formats import FORMATS
from streamwarden.probe.load import ProbeConfig, ProbeError, Progress, run_probe
from streamwarden.probe.report import print_summary, write_html, write_json
from streamwarden.probe.timeline import Run

__all__ = ["analyze", "probe"]

_FAIL_ON = {"error": ("error",), "warning": ("error", "warning"), "never": ()}


def _usage(message: str) -> typer.BadParameter:
    # The CLI prints it as one line under the command's name, and exits 2.
    return typer.BadParameter(message)


def _parse_concurrency(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise _usage(f"--concurrency takes integers like 1,2,4,8, not {text!r}") from None
    if not values or min(values) < 1:
        raise _usage("--concurrency needs positive integers, e.g. 1,2,4,8")
    return values


def _parse_body(text: str | None) -> bytes | None:
    if text is None:
        return None
    if text.startswith("@"):
        try:
            return Path(text[1:]).read_bytes()
        except OSError as exc:
            raise _usage(f"cannot read --body file {text[1:]!r}: {exc.strerror}") from None
    try:
        json.loads(text)
    except ValueError as exc:
        raise _usage(f"--body is not valid JSON ({exc}); use @file for other bodies") from None
    return text.encode()


def _parse_headers(items: list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items:
        name, sep, value = item.partition(":")
        if not sep or not name.strip() or any(c in item for c in "\r\n"):
            raise _usage(f"-H takes 'Name: value', not {item!r}")
        out.append((name.strip(), value.strip()))
    return tuple(out)


def _check_fail_on(fail_on: str) -> tuple[str, ...]:
    """The severities that make the exit code 1."""
    if fail_on not in _FAIL_ON:
        raise _usage(f"--fail-on takes error, warning or never, not {fail_on!r}")
    return _FAIL_ON[fail_on]


def _thresholds(max_silence: float | None, time_scale: float) -> Thresholds:
    if time_scale <= 0:
        raise _usage("--time-scale must be positive")
    th = Thresholds().scaled(time_scale)
    if max_silence is not None:
        th = dataclasses.replace(th, silence_s=max_silence)
    return th


def _finish(
    run: Run, thresholds: Thresholds, json_path: Path | None, html_path: Path | None, fail_on: str
) -> None:
    failing = _check_fail_on(fail_on)
    run.diagnosis = diagnose(run, thresholds)
    print_summary(run, Console(highlight=False))
    try:
        if json_path is not None:
            write_json(run, json_path)
        if html_path is not None:
            write_html(run, html_path)
    except OSError as exc:
        raise _usage(f"cannot write the report: {exc}") from None
    if any(f.severity in failing for f in run.diagnosis):
        raise typer.Exit(1)


def _live_line(progress: Progress | None) -> Text:
    if progress is None:
        return Text("starting…", style="dim")
    p = progress
    return Text.assemble(
        ("probe ", "bold"),
        f"{p.step.label}: ",
        (f"{p.ok} ok", "green"),
        ", ",
        (f"{p.failed} failed", "red" if p.failed else "dim"),
        f", {p.in_flight} in flight",
    )


# Options that `probe` and `analyze` share, declared once.
_MaxSilence = Annotated[
    float | None,
    typer.Option(
        "--max-silence", help="Silence (s) that counts as missing heartbeats (default 60)"
    ),
]
_TimeScale = Annotated[
    float,
    typer.Option("--time-scale", help="Scale real-world thresholds (0.1 for a 10x faster lab)"),
]


def probe(
    url: Annotated[
        str,
        typer.Argument(help="Streaming endpoint, e.g. http://127.0.0.1:8000/v1/chat/completions"),
    ],
    protocol: Annotated[
        str,
        typer.Option(
            "--protocol",
            metavar="NAME",
            help="Stream protocol: openai, anthropic, sse or raw; auto detects it",
        ),
    ] = "auto",
    format: Annotated[str | None, typer.Option("--format", hidden=True)] = None,  # old name
    method: Annotated[
        str | None,
        typer.Option("--method", help="HTTP method (default: POST with a body, else GET)"),
    ] = None,
    body: Annotated[
        str | None,
        typer.Option("--body", metavar="JSON|@PATH", help="Request body: JSON, or @file"),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option("-H", "--header", metavar="'NAME: VALUE'", help="Extra header (repeatable)"),
    ] = None,
    concurrency: Annotated[
        str,
        typer.Option(
            "--concurrency",
            metavar="N,N,...",
            help="Closed-loop steps: streams in flight, e.g. 1,2,4,8",
        ),
    ] = "1,2,4,8",
    rate: Annotated[
        float | None, typer.Option("--rate", help="Open loop instead: Poisson arrivals per second")
    ] = None,
    step_duration: Annotated[
        float, typer.Option("--step-duration", help="Seconds per step")
    ] = 10.0,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Client timeout per request (s)")
    ] = 60.0,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the run as JSON")] = None,
    html_path: Annotated[
        Path | None, typer.Option("--html", help="Write a self-contained HTML report")
    ] = None,
    fail_on: Annotated[str, typer.Option("--fail-on", help="error | warning | never")] = "error",
    max_requests: Annotated[
        int | None, typer.Option("--max-requests", help="Requests started per step at most")
    ] = None,
    max_inflight: Annotated[
        int, typer.Option("--max-inflight", help="Open loop: requests in flight at most")
    ] = 10_000,
    ramp: Annotated[
        float, typer.Option("--ramp", help="Spread each step's first wave over S seconds")
    ] = 0.0,
    max_silence: _MaxSilence = None,
    time_scale: _TimeScale = 1.0,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the Poisson arrivals")] = None,
    allow_remote: Annotated[
        bool,
        typer.Option("--allow-remote", help="Allow a target outside loopback (a host you own)"),
    ] = False,
) -> None:
    """Load-test a streaming endpoint, record every read of every stream, and diagnose it."""
    protocol = format or protocol
    if protocol not in FORMATS:
        raise _usage(f"--protocol takes {', '.join(FORMATS)}, not {protocol!r}")
    _check_fail_on(fail_on)  # before the run, not after it
    thresholds = _thresholds(max_silence, time_scale)
    config = ProbeConfig(
        url=url,
        format=protocol,
        method=method,
        body=_parse_body(body),
        headers=_parse_headers(header or []),
        concurrency=_parse_concurrency(concurrency),
        rate=rate,
        step_duration=step_duration,
        timeout=timeout,
        max_requests=max_requests,
        max_inflight=max_inflight,
        ramp=ramp,
        allow_remote=allow_remote,
        seed=seed,
    )
    with fewer_collections():
        try:
            run = _run_with_progress(config)
        except ProbeError as exc:
            raise _usage(str(exc)) from None
        _finish(run, thresholds, json_path, html_path, fail_on)


def _run(coro: Coroutine[Any, Any, Run]) -> Run:
    # uvloop, when installed (uvicorn[standard] brings it), cuts the probe's CPU per event.
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def _run_with_progress(config: ProbeConfig) -> Run:
    if not sys.stderr.isatty():
        return _run(run_probe(config))
    latest: list[Progress | None] = [None]

    def update(progress: Progress) -> None:
        latest[0] = progress

    console = Console(stderr=True)
    with Live(
        get_renderable=lambda: _live_line(latest[0]),
        console=console,
        refresh_per_second=4,
        transient=True,
    ):
        return _run(run_probe(config, update))


def analyze(
    path: Annotated[Path, typer.Argument(help="A run saved with `streamwarden probe --json`")],
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the re-diagnosed run as JSON")
    ] = None,
    html_path: Annotated[
        Path | None, typer.Option("--html", help="Write a self-contained HTML report")
    ] = None,
    fail_on: Annotated[str, typer.Option("--fail-on", help="error | warning | never")] = "error",
    max_silence: _MaxSilence = None,
    time_scale: _TimeScale = 1.0,
) -> None:
    """Re-run the diagnosis and the report on a saved run."""
    _check_fail_on(fail_on)
    thresholds = _thresholds(max_silence, time_scale)
    try:
        run = Run.from_json(json.loads(path.read_text()))
    except OSError as exc:
        raise _usage(f"cannot read {str(path)!r}: {exc.strerror}") from None
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad JSON, bad UTF-8 and every malformed field (Run.from_json).
        raise _usage(f"{str(path)!r} is not a probe run: {exc}") from None
    _finish(run, thresholds, json_path, html_path, fail_on)
