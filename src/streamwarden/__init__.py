"""StreamWarden: hardened LLM streaming for Starlette/FastAPI, and the tools to prove it.

The guard and the SSE wire format are here; each tool's API is re-exported too:
`create_app` (gateway), `run_probe`/`diagnose` (probe), `lint_paths` (lint).
"""

from streamwarden.gateway.app import create_app
from streamwarden.gateway.settings import GatewaySettings
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
from streamwarden.lint import lint_paths
from streamwarden.probe import ProbeConfig, Thresholds, diagnose, run_probe
from streamwarden.sse import Comment, Event, SSEDecoder, encode, encode_comment
from streamwarden.upstreams.sim import SimParams

__version__ = "0.1.0"

__all__ = [
    "Comment",
    "ErrorFormatter",
    "Event",
    "GatewaySettings",
    "GuardedStreamResponse",
    "OnClose",
    "Outcome",
    "ProbeConfig",
    "SSEDecoder",
    "ShutdownSignal",
    "SimParams",
    "StreamPolicy",
    "StreamStats",
    "Thresholds",
    "__version__",
    "create_app",
    "default_error_events",
    "diagnose",
    "encode",
    "encode_comment",
    "lint_paths",
    "run_probe",
    "stream_response",
]
