"""A real `redis-server` on a free loopback port, torn down on every path."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from streamwarden.procs import ManagedProcess, find_binary, free_port, wait_for_port


@dataclass
class RedisServer:
    url: str
    port: int
    process: ManagedProcess


@contextlib.contextmanager
def run_redis(tmp: Path) -> Iterator[RedisServer]:
    binary = find_binary("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    argv = [
        binary,
        *("--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"),
        *("--dir", str(tmp)),
    ]
    with ManagedProcess(argv, log_path=tmp / f"redis-{port}.log") as proc:
        try:
            wait_for_port("127.0.0.1", port, timeout=10)
        except TimeoutError:
            raise RuntimeError(f"redis-server did not start: {proc.log_tail()}") from None
        yield RedisServer(f"redis://127.0.0.1:{port}/0", port, proc)
