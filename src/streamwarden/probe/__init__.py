"""The probe: a load test that records every read of every stream, and a diagnosis over it.

run = await run_probe(ProbeConfig(url="http://127.0.0.1:8000/v1/chat/completions",
                                  body=b'{"stream": true, ...}', concurrency=(1, 4, 16)))
findings = diagnose(run, Thresholds().scaled(0.1))
results = evaluate_slos([parse_slo("ttft_p99<2s")], run)
"""

from streamwarden.findings import Finding, Severity
from streamwarden.probe.capacity import find_capacity
from streamwarden.probe.compare import RunComparison, compare_runs
from streamwarden.probe.config import ProbeConfig, ProbeError
from streamwarden.probe.diagnose import RULES, Rule, Thresholds, diagnose, headline
from streamwarden.probe.merge import merge_runs
from streamwarden.probe.metrics import StreamMetrics, step_metrics, stream_metrics
from streamwarden.probe.report import print_summary, render_html, write_html, write_json
from streamwarden.probe.saved import SavedRun, load_runs
from streamwarden.probe.schedule import Progress, Stop, run_probe
from streamwarden.probe.slo import SLO, SLOError, SLOResult
from streamwarden.probe.slo import evaluate as evaluate_slos
from streamwarden.probe.slo import parse as parse_slo
from streamwarden.probe.timeline import Read, RequestRecord, Run, Step
from streamwarden.probe.workload import Workload, WorkloadError

__all__ = [
    "RULES",
    "SLO",
    "Finding",
    "ProbeConfig",
    "ProbeError",
    "Progress",
    "Read",
    "RequestRecord",
    "Rule",
    "Run",
    "RunComparison",
    "SLOError",
    "SLOResult",
    "SavedRun",
    "Severity",
    "Step",
    "Stop",
    "StreamMetrics",
    "Thresholds",
    "Workload",
    "WorkloadError",
    "compare_runs",
    "diagnose",
    "evaluate_slos",
    "find_capacity",
    "headline",
    "load_runs",
    "merge_runs",
    "parse_slo",
    "print_summary",
    "render_html",
    "run_probe",
    "step_metrics",
    "stream_metrics",
    "write_html",
    "write_json",
]
