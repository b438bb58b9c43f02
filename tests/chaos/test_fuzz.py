"""Random request bodies never get a 500: every answer is a status the protocol defines, with
a JSON body in the protocol's error shape when it is an error.

In-process (ASGI) on purpose: this tests input validation, not streaming, and must run
thousands of examples in seconds. `STREAMWARDEN_FUZZ_EXAMPLES` asks for more.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamwarden.gateway.app import create_app
from streamwarden.gateway.settings import GatewaySettings
from streamwarden.guard import StreamPolicy
from streamwarden.upstreams.sim import SimCaps, SimParams

EXAMPLES = int(os.environ.get("STREAMWARDEN_FUZZ_EXAMPLES", "1000"))

# Leaves JSON can carry, including the ones that broke the gateway before: non-finite and
# huge numbers, lone surrogates, deep nesting.
leaves = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["sim-1", "user", "assistant", "system", "\ud800", "", "a" * 300])
)
values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=5,
)
messages = (
    st.lists(
        st.fixed_dictionaries(
            {"role": st.sampled_from(["user", "assistant", "system"]) | values},
            optional={"content": st.text(max_size=30) | values},
        ),
        max_size=3,
    )
    | values
)
sim = (
    st.dictionaries(
        st.sampled_from(
            ["ttft", "tokens", "tps", "pause_after", "pause", "fail_after", "seed", "bogus"]
        ),
        values | st.integers(min_value=-5, max_value=20),
        max_size=4,
    )
    | values
)
bodies = (
    st.fixed_dictionaries(
        {},
        optional={
            "model": st.just("sim-1") | values,
            "messages": messages,
            "stream": st.booleans() | values,
            "max_tokens": st.integers(min_value=-2, max_value=30) | values,
            "temperature": values,
            "sim": sim,
            "stream_options": st.fixed_dictionaries({"include_usage": st.booleans() | values})
            | values,
            "system": values,
        },
    )
    | values
)


def _dumps(body: Any) -> bytes:
    # allow_nan: the gateway must refuse NaN and Infinity itself; surrogates pass through.
    return json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")


raw_bodies = (
    bodies.map(_dumps)
    | st.binary(max_size=64)
    | st.integers(min_value=1, max_value=5000).map(lambda n: b"[" * n + b"]" * n)
    | st.sampled_from(
        [
            b'{"model": "sim-1", "messages": [{"role": "user", "content": "\\ud800"}]}',
            b"1e400",
            b"NaN",
        ]
    )
)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def client(loop: asyncio.AbstractEventLoop) -> Iterator[httpx.AsyncClient]:
    settings_ = GatewaySettings(
        policy=StreamPolicy(heartbeat=None, first_token_timeout=5, idle_timeout=5, max_duration=10),
        sim=SimParams(ttft=0, tokens=4, tps=0),
        sim_caps=SimCaps(max_tokens=20, min_tps=0, max_pause=0),
        max_body=20_000,
    )
    app = create_app(settings_)
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=10)
    yield client
    loop.run_until_complete(client.aclose())


ALLOWED = {200, 400, 401, 404, 413, 415, 429, 503}


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)
@given(raw=raw_bodies, path=st.sampled_from(["/v1/chat/completions", "/v1/messages"]))
def test_random_bodies_never_get_a_500(
    loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient, raw: bytes, path: str
) -> None:
    response = loop.run_until_complete(
        client.post(path, content=raw, headers={"content-type": "application/json"})
    )
    assert response.status_code in ALLOWED, (response.status_code, response.text[:300])
    if response.status_code != 200:
        data = response.json()
        if path == "/v1/messages":
            assert data["type"] == "error" and isinstance(data["error"]["message"], str)
        else:
            assert isinstance(data["error"]["message"], str)
