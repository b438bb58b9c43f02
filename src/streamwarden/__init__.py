"""StreamWarden: hardened LLM streaming for Starlette/FastAPI, and the tools to prove it."""

from streamwarden.guard import (
    ErrorFormatter,
    GuardedStreamResponse,
    Outcome,
    StreamPolicy,
    StreamStats,
    default_error_events,
    stream_response,
)
from streamwarden.sse import Comment, Event, SSEDecoder, encode, encode_comment

__version__ = "0.1.0"

__all__ = [
    "Comment",
    "ErrorFormatter",
    "Event",
    "GuardedStreamResponse",
    "Outcome",
    "SSEDecoder",
    "StreamPolicy",
    "StreamStats",
    "__version__",
    "default_error_events",
    "encode",
    "encode_comment",
    "stream_response",
]
