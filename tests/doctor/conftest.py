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
