"""Run scenarios one after another: start the stack, probe it, diagnose, compare, tear down.

A scenario's processes live inside a `Launcher`, so they are stopped on every exit path:
a pass, a failure, an exception in the stack, Ctrl-C. A scenario whose system server is
missing is skipped with a one-line install hint, and the rest run.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import importlib.util
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamwarden.findings import Finding
from streamwarden.lab.scenarios import SCALE, Scenario
from streamwarden.lab.stacks import Launcher, MissingBinary
from streamwarden.lab.verdict import compare, evidence_line
from streamwarden.probe.diagnose import Thresholds, diagnose
from streamwarden.probe.schedule import run_probe
from streamwarden.probe.timeline import Run
from streamwarden.procs import find_binary

__all__ = [
    "INSTALL_HINTS",
    "LabResult",
    "ScenarioResult",
    "run_lab",
    "run_scenario",
    "skip_reason",
    "thresholds",
]

BinaryLookup = Callable[[str], str | None]
ModuleCheck = Callable[[str], bool]

INSTALL_HINTS = {
    "nginx": "nginx not found: install it (apt-get install nginx-light, brew install nginx)",
    "haproxy": "haproxy not found: install it (apt-get install haproxy, brew install haproxy)",
    "redis-server": "redis-server not found: install it (apt-get install redis-server, brew install redis)",
    "python": "{names} not installed: pip install 'streamwarden[lab]'",
}


def thresholds() -> Thresholds:
    """The probe's thresholds at the lab's time scale."""
    return Thresholds().scaled(SCALE)


def _has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


@dataclass(slots=True)
class ScenarioResult:
    name: str
    stack: str
    expected: list[str]
    companions: list[str] = field(default_factory=list)
    diagnosed: list[str] = field(default_factory=list)
    passed: bool = False
    evidence: str = ""
    note: str = ""
    duration_s: float = 0.0
    skipped: str | None = None
    error: str | None = None
    findings: list[Finding] = field(default_factory=list)
    runs: dict[str, Run] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_scenario(cls, scenario: Scenario) -> ScenarioResult:
        return cls(
            name=scenario.name,
            stack=scenario.stack,
            expected=list(scenario.expected),
            companions=list(scenario.companions),
            note=scenario.note,
        )

    @property
    def ran(self) -> bool:
        return self.skipped is None

    @property
    def verdict(self) -> str:
        if self.skipped is not None:
            return "skip"
        if self.error is not None:
            return "error"
        return "pass" if self.passed else "FAIL"

    def to_json(self, runs: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "stack": self.stack,
            "expected": self.expected,
            "diagnosed": self.diagnosed,
            "pass": self.passed,
            "verdict": self.verdict,
            "evidence": self.evidence,
            "note": self.note or None,
            "companions": self.companions,
            "duration_s": round(self.duration_s, 2),
            "skipped": self.skipped,
            "error": self.error,
            "findings": [f.to_json() for f in self.findings],
            "details": self.details,
        }
        if runs:
            out["runs"] = {label: run.to_json() for label, run in self.runs.items()}
        return out


@dataclass(slots=True)
class LabResult:
    scenarios: list[ScenarioResult] = field(default_factory=list)
    duration_s: float = 0.0
    interrupted: bool = False
    scale: float = SCALE

    @property
    def passed(self) -> bool:
        """Every scenario that ran passed (skips do not count), and nothing was interrupted."""
        return not self.interrupted and all(r.passed for r in self.scenarios if r.ran)

    @property
    def exit_code(self) -> int:
        return 0 if self.passed else 1

    def to_json(self, runs: bool = True) -> dict[str, Any]:
        return {
            "version": 1,
            "scale": self.scale,
            "duration_s": round(self.duration_s, 2),
            "interrupted": self.interrupted,
            "pass": self.passed,
            "scenarios": [r.to_json(runs) for r in self.scenarios],
        }


def skip_reason(
    scenario: Scenario, find: BinaryLookup = find_binary, has_module: ModuleCheck = _has_module
) -> str | None:
    """Why `scenario` cannot run here (one line with the install hint), or None."""
    for binary in scenario.needs:
        if find(binary) is None:
            return INSTALL_HINTS.get(binary, f"{binary} not found: install it")
    missing = [m for m in scenario.modules if not has_module(m)]
    if missing:
        return INSTALL_HINTS["python"].format(names="/".join(missing))
    return None


def run_scenario(
    scenario: Scenario,
    workdir: Path,
    *,
    find: BinaryLookup = find_binary,
    has_module: ModuleCheck = _has_module,
    result: ScenarioResult | None = None,
    attempts: int = 2,
) -> ScenarioResult:
    """Run one scenario into `result` (filled as it goes, so Ctrl-C leaves what was known).

    Exceptions become the result's `error`; KeyboardInterrupt propagates after teardown.
    A second attempt runs only when the probe reported itself saturated (`client_saturated`).
    """
    result = result or ScenarioResult.for_scenario(scenario)
    reason = skip_reason(scenario, find, has_module)
    if reason is not None:
        result.skipped = reason
        return result
    for attempt in range(1, attempts + 1):
        name = scenario.name if attempt == 1 else f"{scenario.name}-{attempt}"
        _attempt(scenario, workdir / name, find, result)
        result.details["attempts"] = attempt
        # A busy machine can starve the probe itself; its timings are then not evidence of
        # anything, so the scenario runs again on a fresh stack rather than fail on noise.
        if result.passed or "client_saturated" not in result.diagnosed:
            break
    return result


def _attempt(scenario: Scenario, workdir: Path, find: BinaryLookup, result: ScenarioResult) -> None:
    result.findings, result.diagnosed, result.runs, result.error = [], [], {}, None
    result.passed, result.evidence = False, ""
    started = time.monotonic()
    try:
        with Launcher(workdir, find) as lab:
            _probe_stack(scenario, lab, result)
    except MissingBinary as exc:
        result.skipped = INSTALL_HINTS.get(str(exc), f"{exc} not found: install it")
    except Exception as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        # A process's log tail can be long: the table shows its last line.
        lines = [line for line in str(exc).splitlines() if line.strip()]
        result.evidence = f"{type(exc).__name__}: {lines[-1].strip() if lines else ''}"
        result.passed = False
    finally:
        result.duration_s += time.monotonic() - started


def _probe_stack(scenario: Scenario, lab: Launcher, result: ScenarioResult) -> None:
    base_url = scenario.start(lab)
    lab_thresholds = thresholds()
    diagnosed: dict[str, tuple[Run, list[Finding]]] = {}
    for plan in scenario.probes:
        _warm_up(base_url, *plan.warmup())
    for plan in scenario.probes:
        run = asyncio.run(run_probe(plan.config(base_url)))
        run.diagnosis = diagnose(run, lab_thresholds)
        diagnosed[plan.label] = (run, run.diagnosis)
        result.runs[plan.label] = run
    findings = [f for _, found in diagnosed.values() for f in found]
    result.findings = findings
    result.diagnosed = list(dict.fromkeys(f.id for f in findings))
    comparison = compare(scenario.expected, scenario.companions, findings)
    runs = [run for run, _ in diagnosed.values()]
    evidence = evidence_line(scenario.expected, findings, comparison, runs, SCALE)
    passed = comparison.matches
    if scenario.judge is not None:
        judgement = scenario.judge(base_url, diagnosed)
        result.details.update(judgement.details)
        # The judge's figures lead; the diagnosis's stay when they say something.
        if scenario.expected or not comparison.matches:
            evidence = f"{evidence}; {judgement.evidence}"
        else:
            evidence = judgement.evidence
        passed = passed and judgement.passed
    result.evidence = evidence
    result.passed = passed


def _warm_up(base_url: str, path: str, body: bytes, timeout: float = 5.0) -> None:
    """One short request, read to the end; its failures are the probe's to find."""
    request = urllib.request.Request(
        base_url + path, data=body, headers={"Content-Type": "application/json"}
    )
    with contextlib.suppress(OSError, http.client.HTTPException):
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()


def run_lab(
    scenarios: Sequence[Scenario],
    workdir: Path | None = None,
    *,
    find: BinaryLookup = find_binary,
    has_module: ModuleCheck = _has_module,
    on_start: Callable[[Scenario], None] | None = None,
    on_done: Callable[[ScenarioResult], None] | None = None,
) -> LabResult:
    """Run `scenarios` in order. Ctrl-C stops the current one (its stack torn down) and the
    rest; the result then says `interrupted` and holds what finished."""
    lab = LabResult()
    started = time.monotonic()
    with contextlib.ExitStack() as cleanup:
        if workdir is None:
            tmp = tempfile.TemporaryDirectory(prefix="streamwarden-lab-")
            workdir = Path(cleanup.enter_context(tmp))
        root = workdir
        try:
            for scenario in scenarios:
                result = ScenarioResult.for_scenario(scenario)
                lab.scenarios.append(result)
                if on_start is not None:
                    on_start(scenario)
                try:
                    run_scenario(scenario, root, find=find, has_module=has_module, result=result)
                except KeyboardInterrupt:
                    result.error = "interrupted"
                    result.evidence = "interrupted (Ctrl-C); its processes were stopped"
                    raise
                if on_done is not None:
                    on_done(result)
        except KeyboardInterrupt:
            lab.interrupted = True
        finally:
            lab.duration_s = time.monotonic() - started
    return lab
