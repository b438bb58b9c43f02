"""A lab launcher per test: every process it starts is stopped when the test ends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from streamwarden.lab.stacks import Launcher


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Launcher]:
    with Launcher(tmp_path / "lab") as launcher:
        yield launcher


@pytest.fixture(scope="module")
def app_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """One canary process (uvicorn, httptools) shared by a module's tests: it keeps no state
    between requests but their reports, and each test's proxies are its own."""
    from doctor_helpers import canary

    with Launcher(tmp_path_factory.mktemp("canary")) as launcher:
        yield canary(launcher)
