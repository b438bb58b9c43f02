"""The naive FastAPI app of `fastapi_naive`, hardened by one line and nothing else."""

from __future__ import annotations

from fastapi_naive import app

from streamwarden import StreamGuardMiddleware

app.add_middleware(StreamGuardMiddleware)

__all__ = ["app"]
