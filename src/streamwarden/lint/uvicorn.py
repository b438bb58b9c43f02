"""uvicorn command lines."""

from __future__ import annotations

from streamwarden.lint.cmdline import Command, options
from streamwarden.lint.findings import Finding, Limits, Severity

ALIASES = {
    "--timeout-keep-alive": "keepalive",
    "--timeout-graceful-shutdown": "graceful",
    "--limit-concurrency": "limit",
}
DEFAULT_KEEPALIVE = 5.0
LB_IDLE = 60.0


def check(cmd: Command, file: str, limits: Limits) -> list[Finding]:
    opts = options(cmd.argv, ALIASES)
    out: list[Finding] = []
    try:
        keepalive = float(opts.get("keepalive", DEFAULT_KEEPALIVE))
    except ValueError:
        keepalive = DEFAULT_KEEPALIVE
    if keepalive <= LB_IDLE:
        default = "" if "keepalive" in opts else " (default)"
        out.append(
            Finding(
                "uvicorn/keepalive",
                Severity.WARNING,
                f"--timeout-keep-alive is {keepalive:g} s{default}, shorter than a load "
                f"balancer's idle timeout (ALB: {LB_IDLE:g} s): uvicorn closes idle connections "
                "the balancer still reuses, and the next request on one gets a 502.",
                f"Add `--timeout-keep-alive {int(LB_IDLE) + 15}`.",
                file=file,
                line=cmd.line,
            )
        )
    if "graceful" not in opts:
        out.append(
            Finding(
                "uvicorn/graceful-shutdown",
                Severity.INFO,
                "No --timeout-graceful-shutdown: on SIGTERM uvicorn waits for open streams "
                "forever, until the orchestrator's SIGKILL (Kubernetes: 30 s) cuts them with no "
                "final event.",
                f"Add `--timeout-graceful-shutdown {int(limits.max_duration)}` and give the "
                "orchestrator a longer grace period, or end streams on shutdown.",
                file=file,
                line=cmd.line,
            )
        )
    return out
