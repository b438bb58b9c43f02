"""Resumable streams: the event stores behind `GET /v1/streams/{id}`."""

from streamwarden.resume.store import EventStore, MemoryStore, StoreError, StreamInfo, StreamLost

__all__ = ["EventStore", "MemoryStore", "StoreError", "StreamInfo", "StreamLost"]
