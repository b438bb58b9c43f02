"""An app with the doctor's canary mounted, as a user mounts it in their own app.

The token comes from `STREAMWARDEN_CANARY_TOKEN` (default `lab-canary`, for loopback only).
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from streamwarden.doctor.canary import canary_app


async def home(_: object) -> PlainTextResponse:
    return PlainTextResponse("the app's own routes live beside the canary\n")


app = Starlette(
    routes=[
        Route("/", home),
        Mount(
            "/_streamwarden",
            canary_app(token=os.environ.get("STREAMWARDEN_CANARY_TOKEN", "lab-canary")),
        ),
    ]
)
