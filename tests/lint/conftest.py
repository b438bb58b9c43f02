"""Fixtures for the linter tests: the corpus, a CLI runner, and real nginx/haproxy binaries."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import typer
from lint_helpers import find_binary
from typer.testing import CliRunner

from streamwarden.lint.command import config, lint


@pytest.fixture
def nginx_bin() -> str:
    path = find_binary("nginx")
    if path is None:
        pytest.skip("nginx binary not found (looked on PATH and in /usr/sbin)")
    return path


@pytest.fixture
def haproxy_bin() -> str:
    path = find_binary("haproxy")
    if path is None:
        pytest.skip("haproxy binary not found (looked on PATH and in /usr/sbin)")
    return path


@dataclass
class Ran:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli() -> object:
    """Run `streamwarden lint|config` in-process through typer, as the real CLI wires them."""
    app = typer.Typer(pretty_exceptions_enable=False)
    app.command("lint")(lint)
    app.command("config")(config)
    runner = CliRunner()

    def run(*args: str) -> Ran:
        result = runner.invoke(app, list(args), catch_exceptions=True)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Ran(result.exit_code, result.stdout, result.stderr)

    return run
