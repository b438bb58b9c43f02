"""Read saved results back: a probe run (`probe --json`) or a lab result (`lab --json`), whose
scenarios each hold the runs they recorded. Anything else is a `ValueError` naming what is
missing, so that `streamwarden analyze` refuses it in one line instead of reading an empty run.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamwarden.probe.timeline import Run

__all__ = ["SavedRun", "load_runs"]


@dataclass(frozen=True, slots=True)
class SavedRun:
    """One run read from a file; `label` names the lab scenario (and its run) it came from,
    `scale` is the lab's time scale (None for a probe run: real time)."""

    label: str | None
    run: Run
    scale: float | None = None


def load_runs(path: Path) -> list[SavedRun]:
    """The runs in `path`; raises `OSError` when it cannot be read, `ValueError` when it is
    not a probe run or a lab result holding runs."""
    data: Any = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, dict) and "scenarios" in data and "steps" not in data:
        return _lab_runs(data)
    run = Run.from_json(data)
    if not run.requests:
        raise ValueError("the run holds no requests: nothing to diagnose")
    return [SavedRun(None, run)]


def _lab_runs(data: dict[str, Any]) -> list[SavedRun]:
    scenarios = data["scenarios"]
    if not isinstance(scenarios, list):
        raise ValueError("'scenarios' must be a JSON array")
    scale = data.get("scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not scale > 0:
        raise ValueError(f"'scale' must be a positive number, not {scale!r}")
    out = []
    for scenario in scenarios:
        if not isinstance(scenario, dict) or not isinstance(scenario.get("name"), str):
            raise ValueError("a scenario must be a JSON object with a 'name'")
        runs = scenario.get("runs") or {}
        if not isinstance(runs, dict):
            raise ValueError(f"scenario {scenario['name']!r}: 'runs' must be a JSON object")
        for label, run in runs.items():
            name = scenario["name"] if len(runs) == 1 else f"{scenario['name']} / {label}"
            try:
                out.append(SavedRun(name, Run.from_json(run), float(scale)))
            except ValueError as exc:
                raise ValueError(f"scenario {name!r}: {exc}") from None
    if not out:
        raise ValueError(
            "the lab result holds no runs (write it with `lab --json`, which keeps them)"
        )
    return out
