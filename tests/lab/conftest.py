"""The whole lab, run once per test session on real processes, shared by the tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from streamwarden.lab import SCENARIOS, LabResult, run_lab


@pytest.fixture(scope="session")
def lab_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lab")


@pytest.fixture(scope="session")
def lab_result(lab_workdir: Path) -> LabResult:
    """Every scenario, in order, as `streamwarden lab` runs them (skips included)."""
    return run_lab(SCENARIOS, lab_workdir)
