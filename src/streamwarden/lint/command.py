"""`streamwarden lint` and `streamwarden config`."""

from __future__ import annotations

import enum
import sys
from typing import Annotated

import typer
from rich.console import Console

from streamwarden.defaults import HEARTBEAT, IDLE_TIMEOUT, MAX_DURATION
from streamwarden.lint import appservers, report, snippets
from streamwarden.lint.catalog import INFOS
from streamwarden.lint.detect import Kind
from streamwarden.lint.findings import Limits
from streamwarden.lint.linter import lint_paths


class Format(enum.StrEnum):
    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"


class SnippetKind(enum.StrEnum):
    NGINX = "nginx"
    HAPROXY = "haproxy"
    GUNICORN = "gunicorn"
    INGRESS = "ingress"


def _version(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(p) for p in text.split("."))
    except ValueError:
        raise typer.BadParameter(f"not a version: {text!r} (write it like 1.22.1)") from None


def _package_version() -> str:
    try:
        from importlib.metadata import version

        return version("streamwarden")
    except Exception:  # an uninstalled checkout still lints
        return "0.0.0"


def lint(
    paths: Annotated[list[str], typer.Argument(help="Config files or directories to check.")],
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.TEXT,
    max_gap: Annotated[
        float,
        typer.Option(
            "--max-gap",
            min=0.001,
            help="Longest silence between bytes, in seconds (your heartbeat interval). "
            "Idle timeouts must be at least twice this.",
        ),
    ] = HEARTBEAT,
    max_duration: Annotated[
        float,
        typer.Option(
            "--max-duration",
            min=0.001,
            help="Longest stream, in seconds. Total timeouts must be at least this.",
        ),
    ] = MAX_DURATION,
    nginx_version: Annotated[
        str | None,
        typer.Option(
            "--nginx-version",
            help="nginx version the configs run on (default: older than 1.29.7, so "
            "proxy_http_version defaults to 1.0).",
        ),
    ] = None,
    kind: Annotated[
        Kind | None,
        typer.Option(
            "--kind",
            help="Treat every file as this kind instead of detecting it; a file that clearly "
            "is another kind is an error.",
        ),
    ] = None,
    root: Annotated[
        list[str] | None,
        typer.Option(
            "--root",
            help="ABS=PATH: read absolute paths under ABS (includes like /etc/nginx/conf.d/*.conf)"
            " from PATH in the linted tree. Repeatable.",
        ),
    ] = None,
    stream_path: Annotated[
        list[str] | None,
        typer.Option(
            "--stream-path",
            help="URL prefix that streams (repeatable). Buffering and timeout rules then look "
            "only at routes under these; without it, routes that clearly do not stream "
            "(return, caches, health checks, static files) are skipped.",
        ),
    ] = None,
    app_sends_accel_buffering: Annotated[
        bool,
        typer.Option(
            "--app-sends-accel-buffering",
            help="The app answers streams with `X-Accel-Buffering: no` (sse-starlette and "
            "many SSE libraries do), which turns nginx buffering off per response.",
        ),
    ] = False,
    app_server: Annotated[
        str | None,
        typer.Option(
            "--app-server",
            callback=_app_server,
            help="What serves the app behind nginx: uvicorn (on httptools) or sanic answer "
            "nginx's HTTP/1.0 in chunks (no hold-back); h11, gunicorn, node, go or aiohttp "
            "answer it close-delimited. Used for routes no start command in a linted tree "
            "explains.",
        ),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", help="Glob of files or directories to skip (repeatable)."),
    ] = None,
    helm_values: Annotated[
        list[str] | None,
        typer.Option(
            "--helm-values",
            help="A values file Helm charts are deployed with, as `helm install -f` takes it, "
            "read over each chart's values.yaml (repeatable; later files win).",
        ),
    ] = None,
) -> None:
    """Check proxy, server and load-balancer configs for settings that break streams.

    PATH may be `-` to read standard input (`helm template . | streamwarden lint -`).
    Exit code: 0 clean or warnings only, 1 an error finding, 2 a file that cannot be read or
    no config found at all.
    """
    limits = Limits(
        max_gap,
        max_duration,
        _version(nginx_version),
        tuple(stream_path or ()),
        app_sends_accel_buffering,
        app_server=appservers.named(app_server) if app_server else None,
    )
    result = lint_paths(
        paths, limits, kind, _roots(root or []), list(exclude or []), list(helm_values or [])
    )
    for error in result.errors:
        typer.echo(report.error_line(error), err=True)
    if not result.files and not result.errors:
        typer.echo(
            f"streamwarden lint: 0 files checked in {' '.join(paths)} — nothing there looks "
            "like a config this linter knows; check the path, name the files, or pass --kind",
            err=True,
        )
        raise typer.Exit(2)
    if format is Format.JSON:
        typer.echo(report.to_json(result.findings))
    elif format is Format.SARIF:
        typer.echo(report.to_sarif(result.findings, _package_version(), INFOS))
    elif result.files or not result.errors:
        report.to_text(result, Console(highlight=False))
    raise typer.Exit(result.exit_code)


def _app_server(value: str | None) -> str | None:
    if value is not None and value not in appservers.NAMED:
        known = ", ".join(appservers.NAMED)
        raise typer.BadParameter(f"{value!r} is not one of {known}")
    return value


def _port(text: str) -> bool:
    return text.isdigit() and 1 <= int(text) <= 65535


def _upstream(value: str) -> str:
    host, _, port = value.rpartition(":")
    if not host or not _port(port) or any(c.isspace() or c in ";{}'\"" for c in host):
        raise typer.BadParameter(f"{value!r} is not HOST:PORT — write it like 127.0.0.1:8000")
    return value


def _listen(value: str) -> str:
    address, _, port = value.rpartition(":")
    if not _port(port) or any(c.isspace() or c in ";{}'\"" for c in address):
        raise typer.BadParameter(f"{value!r} is not PORT or ADDRESS:PORT — e.g. 8080")
    return value


def _roots(values: list[str]) -> list[tuple[str, str]]:
    out = []
    for value in values:
        absolute, sep, local = value.partition("=")
        if not sep or not absolute.startswith("/") or not local:
            raise typer.BadParameter(
                f"not ABS=PATH: {value!r} (write it like /etc/nginx=./deploy/nginx)",
                param_hint="--root",
            )
        out.append((absolute, local))
    return out


def config(
    kind: Annotated[SnippetKind, typer.Argument(help="Which snippet to print.")],
    upstream: Annotated[
        str,
        typer.Option(
            "--upstream",
            metavar="HOST:PORT",
            callback=_upstream,
            help="Where the streaming app listens.",
        ),
    ] = "127.0.0.1:8000",
    listen: Annotated[
        str,
        typer.Option(
            "--listen",
            metavar="[ADDRESS:]PORT",
            callback=_listen,
            help="Where the proxy listens.",
        ),
    ] = "8080",
    read_timeout: Annotated[
        int, typer.Option("--read-timeout", min=1, help="Idle timeout in seconds.")
    ] = IDLE_TIMEOUT,
    max_duration: Annotated[
        int, typer.Option("--max-duration", min=1, help="Longest stream in seconds.")
    ] = int(MAX_DURATION),
) -> None:
    """Print a config snippet that streams correctly and passes `streamwarden lint`."""
    options = snippets.SnippetOptions(
        upstream=upstream, listen=listen, read_timeout=read_timeout, max_duration=max_duration
    )
    sys.stdout.write(snippets.SNIPPETS[kind.value](options))
