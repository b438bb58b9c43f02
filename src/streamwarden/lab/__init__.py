"""streamwarden.lab: each streaming killer reproduced on real stacks on loopback, probed with
the project's own probe, and its diagnosis compared with what is expected.

    from streamwarden.lab import get_scenarios, run_lab
    result = run_lab(get_scenarios(["sync-workers"]))
    assert result.passed
"""

from streamwarden.lab.runner import LabResult, ScenarioResult, run_lab, run_scenario, skip_reason
from streamwarden.lab.scenarios import SCALE, SCENARIOS, ProbePlan, Scenario, get_scenarios
from streamwarden.lab.stacks import Launcher

__all__ = [
    "SCALE",
    "SCENARIOS",
    "LabResult",
    "Launcher",
    "ProbePlan",
    "Scenario",
    "ScenarioResult",
    "get_scenarios",
    "run_lab",
    "run_scenario",
    "skip_reason",
]
