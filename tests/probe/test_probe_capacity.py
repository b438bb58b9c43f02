"""`--find-capacity`: the search decisions (pure), and the lab's gunicorn `sync` stack, whose
capacity is its worker count, found within one step."""

from __future__ import annotations

import importlib.util
import json
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from streamwarden.cli import app
from streamwarden.lab import stacks
from streamwarden.probe.capacity import CapacitySearch, Level

runner = CliRunner()


def _drive(search: CapacitySearch, limit: float) -> list[float]:
    tried = []
    while (level := search.next_level()) is not None:
        tried.append(level)
        search.record(Level(level, passed=level <= limit))
    return tried


def test_ramp_then_bisect_to_one_stream() -> None:
    search = CapacitySearch([1, 2, 4, 8, 16, 32, 64], integer=True)
    assert _drive(search, limit=44) == [1, 2, 4, 8, 16, 32, 64, 48, 40, 44, 46, 45]
    assert (search.passed, search.failed) == (44, 45)


def test_every_level_passing_or_the_first_failing_ends_the_search() -> None:
    top = CapacitySearch([1, 2, 4], integer=True)
    assert _drive(top, limit=100) == [1, 2, 4] and top.passed == 4 and top.failed is None
    none = CapacitySearch([2, 4], integer=True)
    assert _drive(none, limit=1) == [2] and none.passed is None


def test_rate_search_stops_at_a_tenth() -> None:
    search = CapacitySearch([5.0 * 2**k for k in range(8)], integer=False)
    _drive(search, limit=33.0)
    lo, hi = search.passed, search.failed
    assert lo is not None and hi is not None
    assert lo <= 33.0 < hi and hi - lo <= 0.1 * lo


@pytest.mark.timeout(180)  # a hang fails here, with the stack torn down, instead of blocking
@pytest.mark.skipif(
    importlib.util.find_spec("gunicorn") is None or importlib.util.find_spec("flask") is None,
    reason="gunicorn and flask come with the [lab] extra",
)
def test_finds_the_gunicorn_sync_capacity_within_one_step(tmp_path: Path) -> None:
    with stacks.Launcher(tmp_path / "lab") as lab:
        port = stacks.gunicorn_flask(lab, workers=2, worker_class="sync")
        # 0.05 s to the first token, then 6 tokens at 20/s: each stream holds a worker 0.3 s.
        url = f"http://127.0.0.1:{port}/v1/chat/completions?tokens=6&tps=20&ttft=0.05"
        # One request first: the workers load Flask on their first request, not ours.
        warm = url.replace("tokens=6", "tokens=1")
        urllib.request.urlopen(urllib.request.Request(warm, data=b"{}"), timeout=30).read()
        out = tmp_path / "capacity.json"
        args = [
            "probe",
            url,
            "--method",
            "POST",
            "--concurrency",
            "1,2,4,8",
            "--step-duration",
            "1.2",
        ]
        args += [
            "--timeout",
            "10",
            "--find-capacity",
            "--slo",
            "ttft_p99<250ms",
            "--json",
            str(out),
        ]
        result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    capacity = data["capacity"]
    assert capacity["capacity"] in (2, 3), capacity  # two workers: two streams, within one step
    assert capacity["first_failing"] == capacity["capacity"] + 1
    assert "capacity: holds" in result.stdout and "meeting ttft_p99<250ms" in result.stdout
    # What breaks just above it is named: the queueing that sync workers cause.
    above = next(lv for lv in capacity["levels"] if lv["level"] == capacity["first_failing"])
    assert any("ttft_p99<250ms" in r or "worker_exhaustion" in r for r in above["reasons"])
    # The saved run re-renders with its capacity section.
    from streamwarden.probe import Run, render_html

    page = render_html(Run.from_json(data))
    assert "<h2>Capacity</h2>" in page and "holds" in page
