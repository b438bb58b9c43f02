"""StreamWarden: hardened LLM streaming for Starlette/FastAPI, and the tools to prove it.

The guard and the SSE wire format are here, and need only Starlette and anyio. Each tool's
API lives in its subpackage, with its own extra: `streamwarden.gateway` (`create_app`),
`streamwarden.probe` (`run_probe`, `diagnose`), `streamwarden.lint` (`lint_paths`),
`streamwarden.lab` (`run_lab`).
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamwarden.doctor.canary import canary_app
    from streamwarden.guard import (
        ErrorFormatter,
        GuardedStreamResponse,
        OnClose,
        Outcome,
        ShutdownSignal,
        StreamPolicy,
        StreamStats,
        default_error_events,
        stream_response,
    )
    from streamwarden.middleware import StreamGuardMiddleware
    from streamwarden.sse import Comment, Event, SSEDecoder, encode, encode_comment

# Everything loads on first use, so that a submodule such as `streamwarden.sse` (which the
# probe reads with) does not pay for the guard's import of Starlette.
_GUARD = "streamwarden.guard"
_SSE = "streamwarden.sse"
_LAZY = {
    "ErrorFormatter": _GUARD,
    "GuardedStreamResponse": _GUARD,
    "OnClose": _GUARD,
    "Outcome": _GUARD,
    "ShutdownSignal": _GUARD,
    "StreamPolicy": _GUARD,
    "StreamStats": _GUARD,
    "default_error_events": _GUARD,
    "stream_response": _GUARD,
    "StreamGuardMiddleware": "streamwarden.middleware",
    "Comment": _SSE,
    "Event": _SSE,
    "SSEDecoder": _SSE,
    "encode": _SSE,
    "encode_comment": _SSE,
    "canary_app": "streamwarden.doctor.canary",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'streamwarden' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "Comment",
    "ErrorFormatter",
    "Event",
    "GuardedStreamResponse",
    "OnClose",
    "Outcome",
    "SSEDecoder",
    "ShutdownSignal",
    "StreamGuardMiddleware",
    "StreamPolicy",
    "StreamStats",
    "__version__",
    "canary_app",
    "default_error_events",
    "encode",
    "encode_comment",
    "stream_response",
]
