"""The streaming gateway: app, admission, auth, metrics and drain.

from streamwarden.gateway import GatewaySettings, create_app
app = create_app(GatewaySettings())
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamwarden.gateway.app import create_app
    from streamwarden.gateway.settings import GatewaySettings
    from streamwarden.upstreams.sim import SimParams

# Loaded on first use: `streamwarden serve` parses its options before it pays for the app.
_LAZY = {
    "create_app": "streamwarden.gateway.app",
    "GatewaySettings": "streamwarden.gateway.settings",
    "SimParams": "streamwarden.upstreams.sim",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'streamwarden.gateway' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = ["GatewaySettings", "SimParams", "create_app"]
