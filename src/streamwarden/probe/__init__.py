"""The probe: a load test that records every read of every stream, and a diagnosis over it.

run = await run_probe(ProbeConfig(url="http://127.0.0.1:8000/v1/chat/completions",
                                  body=b'{"stream": true, ...}', concurrency=(1, 4, 16)))
findings = diagnose(run, Thresholds().scaled(0.1))
"""

from streamwarden.findings import Finding, Severity
from streamwarden.probe.config import ProbeConfig, ProbeError
from streamwarden.probe.diagnose import RULES, Thresholds, diagnose
from streamwarden.probe.merge import merge_runs
from streamwarden.probe.report import print_summary, render_html, write_html, write_json
from streamwarden.probe.schedule import Progress, Stop, run_probe
from streamwarden.probe.timeline import Read, RequestRecord, Run, Step

__all__ = [
    "RULES",
    "Finding",
    "ProbeConfig",
    "ProbeError",
    "Progress",
    "Read",
    "RequestRecord",
    "Run",
    "Severity",
    "Step",
    "Stop",
    "Thresholds",
    "diagnose",
    "merge_runs",
    "print_summary",
    "render_html",
    "run_probe",
    "write_html",
    "write_json",
]
