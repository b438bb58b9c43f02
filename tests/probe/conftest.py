"""The probe's demo target on loopback, shared by the probe's tests. Stacks with real nginx,
gunicorn and relays are the lab's (`streamwarden.lab.stacks`), tested in tests/lab."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streamwarden.probe.target import SSEServer


@pytest.fixture(scope="session")
def sse_server() -> Iterator[SSEServer]:
    with SSEServer() as server:
        yield server
