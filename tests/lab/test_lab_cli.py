"""`streamwarden lab` output paths: checked before the run, one line and exit 2 on failure."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest


def _lab(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamwarden", "lab", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _one_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize("flag", ["--json", "--html"])
def test_unwritable_report_path_fails_before_the_run(tmp_path: Path, flag: str) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    for target in (tmp_path / "missing" / "out", a_file / "out", tmp_path):
        start = time.monotonic()
        proc = _lab("-s", "async-workers", flag, str(target))
        line = _one_line(proc)
        assert flag in line and str(target) in line
        # Nothing ran: no scenario line on stdout, and no scenario's worth of time spent.
        assert "async-workers" not in proc.stdout
        assert time.monotonic() - start < 30


def test_workdir_that_cannot_be_created_fails_before_the_run(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    proc = _lab("-s", "async-workers", "--workdir", str(a_file / "sub"))
    line = _one_line(proc)
    assert "--workdir" in line
    assert "async-workers" not in proc.stdout


@pytest.mark.slow
def test_write_error_after_the_run_is_one_line(tmp_path: Path) -> None:
    # /dev/full passes the folder check and fails on write (ENOSPC): the catch after the run.
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    proc = _lab("-s", "async-workers", "--json", "/dev/full")
    line = _one_line(proc)
    assert "/dev/full" in line
    assert "async-workers" in proc.stdout  # the results table was still printed
