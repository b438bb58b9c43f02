"""Resumable streams: the event stores behind `GET /v1/streams/{id}`."""

from streamwarden.resume.store import (
    EventStore,
    MemoryStore,
    Moved,
    StoreError,
    StreamInfo,
    StreamLost,
)

__all__ = ["EventStore", "MemoryStore", "Moved", "StoreError", "StreamInfo", "StreamLost"]
