"""`streamwarden probe URL` and `streamwarden analyze run.json`.

Exit codes: 0 when no finding reaches `--fail-on`, 1 when one does, 2 for a usage error or
an unreachable target (one line on stderr, no traceback).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.text import Text

from streamwarden.gctuning import fewer_collections
from streamwarden.probe.capacity import find_capacity as search_capacity
from streamwarden.probe.compare import compare_runs
from streamwarden.probe.config import ProbeConfig, ProbeError
from streamwarden.probe.diagnose import Thresholds, diagnose
from streamwarden.probe.formats import FORMATS
from streamwarden.probe.merge import merge_runs
from streamwarden.probe.report import print_comparison, print_summary, write_html, write_json
from streamwarden.probe.saved import SavedRun, load_runs
from streamwarden.probe.schedule import Progress, Stop, run_probe
from streamwarden.probe.slo import SLO, SLOError, evaluate, parse_all
from streamwarden.probe.timeline import Run
from streamwarden.probe.workload import TEMPLATE, WorkloadError, load_bodies

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
        # Templates (`{{int 64-512}}`) stand for numbers: checked as one.
        json.loads(TEMPLATE.sub(b"0", text.encode()))
    except ValueError as exc:
        raise _usage(f"--body is not valid JSON ({exc}); use @file for other bodies") from None
    return text.encode()


def _parse_bodies(path: Path | None, body: bytes | None) -> tuple[bytes, ...]:
    if path is None:
        return ()
    if body is not None:
        raise _usage("--body and --bodies both give the request body: pick one")
    try:
        return tuple(load_bodies(path))
    except WorkloadError as exc:
        raise _usage(str(exc)) from None


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


def _check_output(path: Path | None, option: str) -> None:
    """Fail before the run, not after it: a report that cannot be written loses the run."""
    if path is None:
        return
    where = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise _usage(f"{option} {str(path)!r} is a directory — give a file name")
    if not where.is_dir():
        raise _usage(f"{option}: directory {str(where)!r} does not exist — create it first")
    if not os.access(where, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise _usage(f"{option}: cannot write {str(path)!r} — pick a path you can write to")


def _parse_slos(texts: list[str] | None) -> list[SLO]:
    try:
        return parse_all(texts or [])
    except SLOError as exc:
        raise _usage(str(exc)) from None


def _finish(
    run: Run,
    thresholds: Thresholds,
    json_path: Path | None,
    html_path: Path | None,
    fail_on: str,
    slos: list[SLO] | None = None,
    *,
    summary: bool = True,
) -> None:
    failing = _check_fail_on(fail_on)
    if slos:
        run.slos = slos
        run.config["slo"] = [slo.text for slo in slos]
    run.diagnosis = diagnose(run, thresholds)
    if summary:
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
    if any(not result.passed for result in evaluate(run.slos, run)):
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
_Slo = Annotated[
    list[str] | None,
    typer.Option(
        "--slo",
        help="Gate (repeatable), e.g. 'ttft_p99<2s', 'itl_p99<150ms', 'success>=99.5%': "
        "exit 1 when a step misses one",
    ),
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
    bodies: Annotated[
        Path | None,
        typer.Option(
            "--bodies",
            help="JSONL file, one request body a line: cycled, or sampled with --seed",
        ),
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
    slo: _Slo = None,
    find_capacity: Annotated[
        bool,
        typer.Option(
            "--find-capacity",
            help="Ramp through --concurrency (or double --rate), then bisect to the highest "
            "level that meets the SLOs (default success>=99%) with no finding at --fail-on",
        ),
    ] = False,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the Poisson arrivals")] = None,
    allow_remote: Annotated[
        bool,
        typer.Option("--allow-remote", help="Allow a target outside loopback (a host you own)"),
    ] = False,
    http2: Annotated[
        bool, typer.Option("--http2", help="HTTP/2 over TLS (ALPN h2): streams share a connection")
    ] = False,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="TLS: skip certificate checks (test servers)")
    ] = False,
    ca: Annotated[
        Path | None, typer.Option("--ca", help="TLS: trust this CA bundle (PEM) instead")
    ] = None,
    engine: Annotated[
        str,
        typer.Option("--engine", help="builtin (one asyncio process) | locust (master + workers)"),
    ] = "builtin",
    workers: Annotated[
        int, typer.Option("--workers", help="--engine locust: local worker processes")
    ] = 2,
    no_early_stop: Annotated[
        bool,
        typer.Option(
            "--no-early-stop",
            help="Run every step even when its first 20 requests all fail with the same 4xx",
        ),
    ] = False,
) -> None:
    """Load-test a streaming endpoint, record every read of every stream, and diagnose it."""
    protocol = format or protocol
    if protocol not in FORMATS:
        raise _usage(f"--protocol takes {', '.join(FORMATS)}, not {protocol!r}")
    _check_fail_on(fail_on)  # before the run, not after it
    if engine not in ("builtin", "locust"):
        raise _usage(f"--engine takes builtin or locust, not {engine!r}")
    _check_output(json_path, "--json")
    _check_output(html_path, "--html")
    thresholds = _thresholds(max_silence, time_scale)
    slos = _parse_slos(slo)
    one_body = _parse_body(body)
    config = ProbeConfig(
        url=url,
        format=protocol,
        method=method,
        body=one_body,
        bodies=_parse_bodies(bodies, one_body),
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
        early_stop=not no_early_stop,
        http2=http2,
        insecure=insecure,
        ca=None if ca is None else str(ca),
    )
    if find_capacity:
        _capacity(config, slos, thresholds, json_path, html_path, fail_on)
        return
    stop = Stop()
    with fewer_collections():
        try:
            if engine != "builtin":
                run = _run_locust(config, workers)
            else:
                run = _run_with_progress(config, stop)
        except ProbeError as exc:
            raise _usage(str(exc)) from None
        if stop.signal is not None:
            # Ctrl-C or SIGTERM: what was recorded is diagnosed and written, marked incomplete.
            _finish(run, thresholds, json_path, html_path, "never")
            typer.echo(f"streamwarden probe: {run.incomplete}; the run is incomplete", err=True)
            raise typer.Exit(128 + stop.signal)
        if run.incomplete is not None:
            # An early stop: the one line says it all; the partial reports are still written.
            typer.echo(f"streamwarden probe: {run.incomplete}", err=True)
            _finish(run, thresholds, json_path, html_path, "never", summary=False)
            raise typer.Exit(2)
        _finish(run, thresholds, json_path, html_path, fail_on, slos)


def _capacity(
    config: ProbeConfig,
    slos: list[SLO],
    thresholds: Thresholds,
    json_path: Path | None,
    html_path: Path | None,
    fail_on: str,
) -> None:
    """`--find-capacity`: exit 0 with a capacity, 1 when even the lowest level fails."""
    gates = slos or parse_all(["success>=99%"])
    with fewer_collections():
        try:
            run = _run(search_capacity(config, gates, thresholds, _FAIL_ON[fail_on]))
        except ProbeError as exc:
            raise _usage(str(exc)) from None
        try:
            _finish(run, thresholds, json_path, html_path, "never", gates)
        except typer.Exit:
            pass  # the steps above capacity miss the SLOs by design: the answer decides
    assert run.capacity is not None
    found = run.capacity["capacity"] is not None
    Console(highlight=False).print(
        Text.assemble(
            ("capacity: ", "bold"), (run.capacity["summary"], "green" if found else "bold red")
        )
    )
    if not found:
        raise typer.Exit(1)


def _run_locust(config: ProbeConfig, workers: int) -> Run:
    # Imported here: the Locust engine's module is only needed by `--engine locust`.
    from streamwarden.locust.engine import run_locust

    return run_locust(config, workers)


def _run(coro: Coroutine[Any, Any, Run]) -> Run:
    # uvloop, when installed (uvicorn[standard] brings it), cuts the probe's CPU per event.
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


_SIGNALS = {signal.SIGINT: "SIGINT (Ctrl-C)", signal.SIGTERM: "SIGTERM"}


def _interrupt(stop: Stop, signum: int, name: str) -> None:
    stop.request(f"interrupted by {name}")
    stop.signal = stop.signal or signum


async def _probe_until_signalled(
    config: ProbeConfig, stop: Stop, progress: Callable[[Progress], None] | None = None
) -> Run:
    """The run, with Ctrl-C and SIGTERM asking it to stop (a second one cuts the grace)."""
    loop = asyncio.get_running_loop()
    installed = []
    for signum, name in _SIGNALS.items():
        try:
            loop.add_signal_handler(signum, _interrupt, stop, signum, name)
        except (NotImplementedError, RuntimeError, ValueError):
            continue  # not the main thread, or no signals here: the default behaviour stays
        installed.append(signum)
    try:
        return await run_probe(config, progress, stop)
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def _run_with_progress(config: ProbeConfig, stop: Stop) -> Run:
    if not sys.stderr.isatty():
        return _run(_probe_until_signalled(config, stop))
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
        return _run(_probe_until_signalled(config, stop, update))


def analyze(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Runs saved with `probe --json`, merged as one load when several (or one lab "
            "result from `lab --json`)",
            show_default=False,
        ),
    ],
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the re-diagnosed run as JSON")
    ] = None,
    html_path: Annotated[
        Path | None, typer.Option("--html", help="Write a self-contained HTML report")
    ] = None,
    fail_on: Annotated[str, typer.Option("--fail-on", help="error | warning | never")] = "error",
    max_silence: _MaxSilence = None,
    time_scale: _TimeScale = 1.0,
    slo: _Slo = None,
    compare: Annotated[
        bool,
        typer.Option(
            "--compare",
            help="Compare two runs: analyze --compare BEFORE AFTER; exit 1 on a regression",
        ),
    ] = False,
    tolerance: Annotated[
        float,
        typer.Option("--tolerance", help="--compare: percent a metric may worsen (default 10)"),
    ] = 10.0,
) -> None:
    """Re-run the diagnosis and the report on saved runs (several: merged, as one load), or
    compare two runs."""
    _check_fail_on(fail_on)
    _check_output(json_path, "--json")
    _check_output(html_path, "--html")
    thresholds = _thresholds(max_silence, time_scale)
    slos = _parse_slos(slo)
    if compare:
        _compare(paths, tolerance, thresholds, json_path)
        return
    saved = [_load(path) for path in paths]
    if any(item[0].label is None for item in saved) or len(saved) > 1:
        if any(item[0].label is not None for item in saved):
            raise _usage("several files are merged as one run: give probe runs, not a lab result")
        # Runs from several machines (or engines) are merged, as one load.
        run = merge_runs([item[0].run for item in saved])
        _finish(run, thresholds, json_path, html_path, fail_on, slos or run.slos)
        return
    # A lab result: one diagnosis per scenario run, at the lab's time scale.
    if json_path is not None or html_path is not None:
        raise _usage(
            "--json and --html write one run; for a lab result use `streamwarden lab --html`"
        )
    console = Console(highlight=False)
    failed = False
    for item in saved[0]:
        scale = item.scale if item.scale is not None and time_scale == 1.0 else time_scale
        th = _thresholds(max_silence, scale)
        item.run.slos = slos or item.run.slos
        item.run.diagnosis = diagnose(item.run, th)
        console.rule(Text(f"scenario {item.label}", style="bold"))
        print_summary(item.run, console)
        console.print()
        failing = _FAIL_ON[fail_on]
        failed |= any(f.severity in failing for f in item.run.diagnosis)
        failed |= any(not r.passed for r in evaluate(item.run.slos, item.run))
    if failed:
        raise typer.Exit(1)


def _load(path: Path) -> list[SavedRun]:
    try:
        return load_runs(path)
    except OSError as exc:
        raise _usage(f"cannot read {str(path)!r}: {exc.strerror}") from None
    except (ValueError, RecursionError) as exc:
        # ValueError covers bad JSON, bad UTF-8 and every malformed field (Run.from_json).
        raise _usage(f"{str(path)!r} is not a probe run: {exc}") from None


def _compare(
    paths: list[Path], tolerance: float, thresholds: Thresholds, json_path: Path | None
) -> None:
    if len(paths) != 2:
        raise _usage("--compare takes two saved runs: analyze --compare BEFORE AFTER")
    if not (0 <= tolerance < math.inf):
        raise _usage("--tolerance takes a percentage of zero or more, e.g. 10")
    runs = []
    for path in paths:
        saved = _load(path)
        if saved[0].label is not None:
            raise _usage(f"--compare takes probe runs; {str(path)!r} is a lab result")
        run = saved[0].run
        run.diagnosis = diagnose(run, thresholds)
        runs.append(run)
    result = compare_runs(runs[0], runs[1], tolerance)
    print_comparison(result, Console(highlight=False))
    if json_path is not None:
        try:
            json_path.write_text(json.dumps(result.to_json()) + "\n", encoding="utf-8")
        except OSError as exc:
            raise _usage(f"cannot write the comparison: {exc}") from None
    if result.regressions:
        raise typer.Exit(1)
