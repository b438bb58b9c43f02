"""`streamwarden doctor`: measure what a real deployment path does to a stream.

The canary (`canary_app`) is mounted inside your app behind the path; the doctor sends it
streams of known shape and reads what comes out (`run_doctor`), then writes the path card
(`build_card`). The canary needs only Starlette and anyio; the doctor needs httpx.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamwarden.doctor.canary import CanaryLimits, canary_app
    from streamwarden.doctor.card import Line, build_card
    from streamwarden.doctor.experiments import DoctorConfig, run_doctor
    from streamwarden.doctor.results import Measurements
    from streamwarden.doctor.wire import CanaryClient

# The canary is what users import into their app: it must not pull in httpx or rich.
_LAZY = {
    "CanaryLimits": "streamwarden.doctor.canary",
    "canary_app": "streamwarden.doctor.canary",
    "Line": "streamwarden.doctor.card",
    "build_card": "streamwarden.doctor.card",
    "DoctorConfig": "streamwarden.doctor.experiments",
    "run_doctor": "streamwarden.doctor.experiments",
    "Measurements": "streamwarden.doctor.results",
    "CanaryClient": "streamwarden.doctor.wire",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'streamwarden.doctor' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "CanaryClient",
    "CanaryLimits",
    "DoctorConfig",
    "Line",
    "Measurements",
    "build_card",
    "canary_app",
    "run_doctor",
]
