"""Fixtures for the linter tests: the corpus, a CLI runner, and real nginx/haproxy binaries."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import typer
from lint_helpers import find_binary
from typer.testing import CliRunner

from streamwarden.lab.stacks import Launcher
from streamwarden.lint.command import config, lint

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    """A launcher whose processes import this folder's test apps (`sse_app`, `recycle_app`)."""
    with Launcher(tmp_path_factory.mktemp("lab")) as launcher:
        path = launcher.env.get("PYTHONPATH", "")
        launcher.env["PYTHONPATH"] = os.pathsep.join(p for p in (str(HERE), path) if p)
        yield launcher


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
