"""Diagnosis rules for HTTP/2 runs: what the connection itself did to the streams.

Pure functions over `Run.h2` (what `probe/h2client.py` saw), registered in the diagnosis
registry beside the others (`diagnose.RULES`). A run over HTTP/1.1 has no `h2` facts: no finding.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from streamwarden.findings import Finding, Severity
from streamwarden.probe.timeline import Run

if TYPE_CHECKING:
    from streamwarden.probe.diagnose import Thresholds

__all__ = ["h2_flow_control_stall", "h2_stream_cap"]

#: A request body waiting this long on the server's window is a stall worth reporting.
FLOW_STALL_MS = 100.0


def _number(facts: dict[str, Any], key: str, sub: str | None = None) -> float:
    value = facts.get(key)
    if sub is not None:
        value = value.get(sub) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) else 0.0


def h2_stream_cap(run: Run, th: Thresholds) -> list[Finding]:
    """The server's SETTINGS_MAX_CONCURRENT_STREAMS held streams back: requests waited for a
    slot on the connection, and that wait is in their time to first byte."""
    facts = run.h2
    if not facts or facts.get("max_concurrent_streams") is None:
        return []
    cap = int(facts["max_concurrent_streams"])
    queued = int(_number(facts, "streams_queued"))
    if queued == 0:
        return []
    wait_p50 = _number(facts, "slot_wait_ms", "p50")
    wait_max = _number(facts, "slot_wait_ms", "max")
    evidence = {
        "max_concurrent_streams": cap,
        "peak_wanted": int(_number(facts, "peak_wanted")),
        "streams_queued": queued,
        "slot_wait_p50_ms": round(wait_p50, 1),
        "slot_wait_max_ms": round(wait_max, 1),
        "connections": int(_number(facts, "connections")),
    }
    summary = (
        f"The server allows {cap} concurrent streams per HTTP/2 connection "
        f"(SETTINGS_MAX_CONCURRENT_STREAMS): {queued} requests waited for a stream slot, "
        f"up to {wait_max / 1000:.2f} s, before they were even sent."
    )
    fix = (
        "Raise the server's stream cap above the streams one client keeps open (nginx "
        "`http2_max_concurrent_streams`, default 128; hypercorn `h2_max_concurrent_streams`; "
        "Envoy `http2_protocol_options.max_concurrent_streams`; Go `MaxConcurrentStreams`), "
        "or have clients spread long streams over more connections: every LLM stream holds "
        "its slot for the whole answer."
    )
    return [Finding("h2_stream_cap", Severity.WARNING, summary, fix, evidence)]


def h2_flow_control_stall(run: Run, th: Thresholds) -> list[Finding]:
    """Request bodies sat with the server's flow-control window at zero."""
    facts = run.h2
    if not facts:
        return []
    stall_max = _number(facts, "flow_stall_ms", "max")
    if stall_max < FLOW_STALL_MS:
        return []
    evidence = {
        "flow_stalls": int(_number(facts, "flow_stalls")),
        "flow_stall_max_ms": round(stall_max, 1),
        "flow_stall_total_ms": round(_number(facts, "flow_stall_ms", "total"), 1),
    }
    summary = (
        f"Request bodies stalled on HTTP/2 flow control: the server's window stayed at zero "
        f"for up to {stall_max / 1000:.2f} s, so prompts reached the model late."
    )
    fix = (
        "Give the stream and the connection a window larger than the request bodies "
        "(SETTINGS_INITIAL_WINDOW_SIZE and a connection WINDOW_UPDATE: nginx "
        "`http2_body_preread_size`/`client_body_buffer_size`, Envoy "
        "`initial_stream_window_size`), and have the application read the body promptly: "
        "the server only reopens the window as the body is consumed."
    )
    return [Finding("h2_flow_control_stall", Severity.WARNING, summary, fix, evidence)]
