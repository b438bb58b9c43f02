"""Helpers for the doctor's tests: the canary on uvicorn, behind the lab's real proxies."""

from __future__ import annotations

import anyio
import pytest

from streamwarden.doctor.experiments import DoctorConfig, run_doctor
from streamwarden.doctor.results import Measurements
from streamwarden.doctor.wire import CanaryClient
from streamwarden.lab import stacks
from streamwarden.lab.stacks import Launcher, MissingBinary

#: The lab app's canary token and mount point (`streamwarden.lab.apps.canary`).
TOKEN = "lab-canary"
MOUNT = "/_streamwarden"


def canary(lab: Launcher, http: str = "auto") -> int:
    """The canary mounted in a Starlette app on uvicorn, as a user deploys it."""
    return stacks.uvicorn_app(lab, "streamwarden.lab.apps.canary:app", name="canary", http=http)


def url(port: int) -> str:
    return f"http://{stacks.HOST}:{port}{MOUNT}"


def measure(target: str, *only: str, **settings: float) -> Measurements:
    """`run_doctor` with the lab's time scale: only the experiments named."""
    config = DoctorConfig(url=target, token=TOKEN, only=only, **settings)  # type: ignore[arg-type]

    async def main() -> Measurements:
        async with CanaryClient(target, TOKEN) as client:
            await client.info()
            return await run_doctor(client, config)

    return anyio.run(main)


def nginx(lab: Launcher, upstream: int, location: str = "") -> int:
    try:
        return stacks.nginx_in_front(lab, upstream, location)
    except MissingBinary:
        pytest.skip("nginx is not installed")


def haproxy(lab: Launcher, upstream: int, timeout_server: float) -> int:
    try:
        return stacks.haproxy_in_front(lab, upstream, timeout_server)
    except MissingBinary:
        pytest.skip("haproxy is not installed")
