from __future__ import annotations

import contextlib
import http.client
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from streamwarden.procs import ManagedProcess, free_port, wait_for_port


@dataclass
class Gateway:
    url: str
    port: int
    process: ManagedProcess
    log: Path

    def metrics_text(self) -> str:
        # http.client, not httpx.get: a new httpx client per call costs tens of ms.
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            connection.request("GET", "/metrics")
            return connection.getresponse().read().decode()
        finally:
            connection.close()

    def metric(self, name: str, labels: str = "", text: str | None = None) -> float:
        text = self.metrics_text() if text is None else text
        pattern = re.escape(name + (f"{{{labels}}}" if labels else "")) + r" ([0-9.e+-]+)"
        match = re.search(pattern, text)
        return float(match.group(1)) if match else 0.0

    def wait_metric(self, name: str, labels: str, value: float, timeout: float = 5.0) -> float:
        deadline = time.monotonic() + timeout
        while True:
            current = self.metric(name, labels)
            if current == value or time.monotonic() > deadline:
                return current
            time.sleep(0.05)

    def access_lines(self) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if line.startswith("{")]

    def outcomes(self, text: str | None = None) -> dict[str, float]:
        """`streamwarden_streams_total` by outcome."""
        text = self.metrics_text() if text is None else text
        pattern = r'streamwarden_streams_total\{outcome="([a-z_]+)"\} ([0-9.e+-]+)'
        return {name: float(value) for name, value in re.findall(pattern, text)}


@contextlib.contextmanager
def run_gateway(tmp: Path, *args: str, nofile: int | None = None) -> Iterator[Gateway]:
    """`streamwarden serve` as a real process on a free loopback port; `nofile` caps its
    open-file limit (soft and hard) the way `ulimit -n` does."""
    port = free_port()
    log = tmp / f"gateway-{port}.log"
    argv = [sys.executable, "-m", "streamwarden", "serve", "--port", str(port), *args]
    if nofile is not None:
        argv = ["sh", "-c", f'ulimit -n {nofile} && exec "$@"', "sh", *argv]
    with ManagedProcess(argv, log_path=log) as proc:
        try:
            wait_for_port("127.0.0.1", port, timeout=20)
        except TimeoutError:
            raise RuntimeError(f"gateway did not start: {proc.log_tail()}") from None
        yield Gateway(f"http://127.0.0.1:{port}", port, proc, log)


@contextlib.contextmanager
def run_gateways(tmp: Path, *arglists: list[str]) -> Iterator[list[Gateway]]:
    """Several gateways started at once (their start-up overlaps), stopped together."""
    with contextlib.ExitStack() as stack:
        started = []
        for args in arglists:
            port = free_port()
            log = tmp / f"gateway-{port}.log"
            argv = [sys.executable, "-m", "streamwarden", "serve", "--port", str(port), *args]
            proc = stack.enter_context(ManagedProcess(argv, log_path=log))
            started.append(Gateway(f"http://127.0.0.1:{port}", port, proc, log))
        for gateway in started:
            try:
                wait_for_port("127.0.0.1", gateway.port, timeout=30)
            except TimeoutError:
                raise RuntimeError(f"gateway did not start: {gateway.process.log_tail()}") from None
        yield started


OPENAI_BODY = {"model": "sim-1", "messages": [{"role": "user", "content": "hello"}]}
