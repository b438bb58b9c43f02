"""A Django project in one module: an async view streaming with `StreamingHttpResponse`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
from django.conf import settings

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="streamwarden-tests",
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["*"],
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
    )

import django

django.setup()

from django.http import HttpRequest, StreamingHttpResponse  # noqa: E402
from django.urls import path  # noqa: E402

#: Set by the test module: where the view reports that its generator runs and ends.
hooks: dict[str, Any] = {}


async def stream(request: HttpRequest) -> StreamingHttpResponse:
    key = request.GET.get("key", "django")
    pause = float(request.GET.get("pause", "0"))
    gens = hooks["gens"]

    async def events() -> AsyncIterator[bytes]:
        gens.enter(key)
        try:
            yield b"data: t0\n\n"
            await anyio.sleep(pause)
            yield b"data: t1\n\n"
        finally:
            gens.leave(key)

    return StreamingHttpResponse(events(), content_type="text/event-stream")


urlpatterns = [path("stream", stream)]
