"""The Locust engine against the lab's real stacks: with two local workers it reaches the
built-in engine's diagnosis, with the evidence within 10 %.

Locust is only ever run in its own processes: importing it patches the standard library
with gevent, which must not happen inside the test process.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from streamwarden.lab import stacks
from streamwarden.lab.runner import _warm_up, skip_reason, thresholds
from streamwarden.lab.scenarios import get_scenarios
from streamwarden.probe import diagnose, run_probe
from streamwarden.probe.merge import merge_runs
from streamwarden.probe.timeline import Run

# Looked up, never imported: importing locust monkey-patches the standard library (gevent),
# which breaks asyncio for every test after it in this process. The engine runs Locust in
# child processes only.
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("locust") is None, reason="locust comes with the [locust] extra"
)

# The evidence that states each diagnosis's cause, compared between the engines.
COMPARED = {
    "nginx-buffering": ("proxy_buffering", ("burst_bytes", "events_per_burst")),
    "nginx-idle-timeout": ("idle_timeout", ("cut_after_idle_s",)),
    "sync-workers": ("worker_exhaustion", ("capacity", "knee_concurrency")),
}


def both_engines(name: str, workdir: Path) -> tuple[Run, Run]:
    from streamwarden.locust.engine import run_locust

    scenario = get_scenarios([name])[0]
    reason = skip_reason(scenario)
    if reason is not None:
        pytest.skip(reason)
    plan = scenario.probes[0]
    with stacks.Launcher(workdir) as lab:
        base = scenario.start(lab)
        _warm_up(base, *plan.warmup())
        # The Locust engine runs whole steps (no request cap): so does the built-in one here.
        config = dataclasses.replace(plan.config(base), max_requests=None)
        builtin = unsaturated(lambda: asyncio.run(run_probe(config)))
        located = unsaturated(lambda: run_locust(config, workers=2))
    return builtin, located


def unsaturated(probe: Callable[[], Run], attempts: int = 3) -> Run:
    """A run in which the probe itself kept up: on a busy machine a starved client's
    timings are evidence of nothing (the lab runs a scenario again for the same reason)."""
    for _ in range(attempts):
        run = probe()
        if "client_saturated" not in {f.id for f in diagnose(run, thresholds())}:
            break
    return run


@pytest.mark.slow
@pytest.mark.parametrize("name", list(COMPARED))
def test_locust_engine_matches_the_builtin_engine(name: str, tmp_path: Path) -> None:
    builtin, located = both_engines(name, tmp_path)
    th = thresholds()
    ours = {f.id: f for f in diagnose(builtin, th)}
    theirs = {f.id: f for f in diagnose(located, th)}
    rule, keys = COMPARED[name]
    assert rule in ours and rule in theirs, (sorted(ours), sorted(theirs))
    assert {i for i in ours if i != "client_saturated"} == {
        i for i in theirs if i != "client_saturated"
    }
    assert located.config.get("engine") == "locust" and located.requests
    for key in keys:
        a, b = float(ours[rule].evidence[key]), float(theirs[rule].evidence[key])
        assert abs(a - b) <= 0.10 * max(abs(a), abs(b)), (key, a, b)


def test_the_locustfile_path_is_printed_without_importing_locust() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import runpy, sys; sys.argv=['x', '--path'];"
            "runpy.run_module('streamwarden.locust', run_name='__main__')",
        ],
        capture_output=True,
        text=True,
    )
    path = Path(out.stdout.strip())
    assert path.name == "locustfile.py" and path.exists()
    imported = subprocess.run(
        [sys.executable, "-c", "import streamwarden.locust, sys; print('locust' in sys.modules)"],
        capture_output=True,
        text=True,
    )
    assert imported.stdout.strip() == "False"


def test_analyze_merges_runs_from_several_machines(tmp_path: Path) -> None:
    """Two runs of the same plan, whose clocks differ, read as one load."""
    from streamwarden.probe.timeline import RequestRecord, Step

    def run(offset_ms: float) -> Run:
        record = RequestRecord(step=0, start_ms=offset_ms + 5.0)
        record.reads = [(1.0, 10, 1, 0), (2.0, 10, 1, 0)]
        record.end_ms, record.status, record.terminated = 3.0, 200, True
        step = Step(index=0, concurrency=2, started_ms=offset_ms, ended_ms=offset_ms + 10)
        return Run(target="http://127.0.0.1:1/", steps=[step], requests=[record])

    merged = merge_runs([run(0.0), run(1e9)])
    assert merged.steps[0].concurrency == 4 and len(merged.requests) == 2
    # Rows stay relative to each stream's own start: the clocks' offset changes nothing.
    assert [r.reads for r in merged.requests] == [[(1.0, 10, 1, 0), (2.0, 10, 1, 0)]] * 2
    for i, r in enumerate((run(0.0), run(1e9))):
        (tmp_path / f"{i}.json").write_text(__import__("json").dumps(r.to_json()))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "streamwarden",
            "analyze",
            str(tmp_path / "0.json"),
            str(tmp_path / "1.json"),
            "--json",
            str(tmp_path / "m.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    merged_json = __import__("json").loads((tmp_path / "m.json").read_text())
    assert merged_json["config"]["merged_runs"] == 2 and len(merged_json["requests"]) == 2


def test_the_test_process_never_imports_locust() -> None:
    # Collection has imported every test module by now: none may have pulled Locust in, or
    # gevent's patches would leave later asyncio tests waiting forever.
    assert "locust" not in sys.modules and "gevent.monkey" not in sys.modules
