"""`streamwarden probe URL --engine locust --workers N`: a local Locust master and N worker
processes run the probe's steps with the probe's user (`locustfile.py`); the master writes
the run, and every process is torn down on every path (`procs.ManagedProcess`)."""

from __future__ import annotations

import importlib.util
import math
import os
import sys
import tempfile
from pathlib import Path

from streamwarden.locust import LOCUSTFILE
from streamwarden.probe.config import ProbeConfig, ProbeError, validate
from streamwarden.probe.timeline import Run
from streamwarden.procs import ManagedProcess, free_port

__all__ = ["run_locust"]

# Beyond the steps themselves: Locust's start-up, the workers joining, the last rows.
_SLACK_S = 60.0


def _probe_args(config: ProbeConfig, base: str, path: str) -> list[str]:
    args = ["--host", base, "--sw-path", path, "--sw-format", config.format]
    args += ["--sw-timeout", str(config.timeout)]
    if config.body is not None:
        args += ["--sw-body", config.body.decode()]
    for name, value in config.headers:
        args += ["--sw-header", f"{name}: {value}"]
    if config.insecure:
        args.append("--sw-insecure")
    if config.ca is not None:
        args += ["--sw-ca", config.ca]
    return args


def run_locust(config: ProbeConfig, workers: int) -> Run:
    """Run the closed-loop steps of `config` on Locust with `workers` local worker processes
    and return the master's run (its diagnosis is redone by the caller)."""
    target = validate(config)
    if importlib.util.find_spec("locust") is None:
        raise ProbeError("--engine locust needs Locust — pip install 'streamwarden[locust]'")
    if config.rate is not None or config.http2 or config.max_requests is not None:
        raise ProbeError(
            "--engine locust runs closed-loop HTTP/1.1 steps: drop --rate, --http2 and "
            "--max-requests"
        )
    if workers < 1:
        raise ProbeError("--workers must be at least 1")
    base = f"{target.scheme}://{target.netloc}"
    common = ["-f", str(LOCUSTFILE), *_probe_args(config, base, target.path)]
    # Users asked to stop finish the stream they are reading, as the built-in engine does.
    common += ["--stop-timeout", f"{max(1, math.ceil(config.timeout))}s"]
    env = {
        **os.environ,
        "STREAMWARDEN_STEPS": ",".join(str(c) for c in config.concurrency),
        "STREAMWARDEN_STEP_DURATION": str(config.step_duration),
        # Streams in flight at the end of the last step get up to their timeout to end.
        "STREAMWARDEN_DRAIN": str(config.timeout),
        "STREAMWARDEN_WORKERS": str(workers),
    }
    locust = [sys.executable, "-m", "locust"]
    budget = len(config.concurrency) * config.step_duration + config.timeout + _SLACK_S
    with tempfile.TemporaryDirectory(prefix="streamwarden-locust-") as tmp:
        out = Path(tmp) / "run.json"
        port = free_port()
        master_argv = [
            *locust,
            *common,
            "--master",
            "--headless",
            "--only-summary",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--expect-workers",
            str(workers),
            "--expect-workers-max-wait",
            "30",
            "--sw-json",
            str(out),
        ]
        worker_argv = [*locust, *common, "--worker", "--master-host", "127.0.0.1"]
        worker_argv += ["--master-port", str(port)]
        processes: list[ManagedProcess] = []
        try:
            master = ManagedProcess(master_argv, env=env, log_path=Path(tmp) / "master.log")
            processes.append(master)
            for i in range(workers):
                log = Path(tmp) / f"worker-{i}.log"
                processes.append(ManagedProcess(worker_argv, env=env, log_path=log))
            try:
                master.popen.wait(budget)
            except Exception:
                raise ProbeError(f"the Locust master did not finish within {budget:g}s") from None
            if not out.exists():
                raise ProbeError(
                    "the Locust master wrote no run — its log ends with: "
                    + (master.log_tail(5).replace("\n", " | ") or "(empty)")
                )
            return Run.from_json(_read_json(out))
        finally:
            for proc in processes:
                proc.stop(grace=5.0)


def _read_json(path: Path) -> object:
    import json

    return json.loads(path.read_text())
