"""Shared plumbing for upstreams reached over HTTP: one client, SSE in, items out."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any

from streamwarden.sse import Event, SSEDecoder
from streamwarden.upstreams.base import Finish, UpstreamError, UpstreamItem
from streamwarden.upstreams.http1 import ConnectError, HTTPClient, HTTPError, PoolTimeout, Response

__all__ = ["ResponseStream", "list_model_ids", "open_sse", "post", "upstream_status"]

#: Statuses an upstream may answer that the client should see as they are. Not 401/403:
#: those are about the gateway's own upstream key, which the client cannot fix.
_PASS_THROUGH = {400, 404, 413, 422, 429}


def upstream_status(status: int) -> int:
    """The status the gateway answers for an upstream's error status."""
    if status in _PASS_THROUGH:
        return status
    if status in (503, 529):
        return 503
    return 502


def _refusal(url: str, response: Response, body: str) -> UpstreamError:
    status = response.status_code
    if status in (401, 403):
        # The upstream's words would tell the client its own key is wrong.
        message = (
            f"the upstream refused this gateway's credentials (HTTP {status}); "
            "the operator must check STREAMWARDEN_UPSTREAM_KEY"
        )
    else:
        message = f"upstream answered {status}: {_error_message(body) or f'HTTP {status}'}"
    return UpstreamError(
        message,
        status=upstream_status(status),
        kind="invalid_request" if status in (400, 404, 413, 422) else "upstream_error",
        retry_after=response.header("retry-after"),
    )


class ResponseStream:
    """Items parsed from one upstream response. `aclose()` always closes the HTTP
    response, even when iteration never started (an unstarted generator's `finally`
    would never run)."""

    def __init__(self, response: Response, parse: Callable[[Event], list[UpstreamItem]]) -> None:
        self._response = response
        self._parse = parse
        self._items = self._iterate()

    async def _iterate(self) -> AsyncGenerator[UpstreamItem, None]:
        decoder = SSEDecoder()
        finished = False
        try:
            async for chunk in self._response.aiter_raw():
                for item in decoder.feed(chunk):
                    if isinstance(item, Event):
                        for parsed in self._parse(item):
                            finished = finished or isinstance(parsed, Finish)
                            yield parsed
        except HTTPError as exc:
            raise UpstreamError(f"upstream connection failed mid-stream: {exc}") from None
        if not finished:
            # A body that ends without the protocol's terminator was cut somewhere.
            raise UpstreamError("upstream stream ended without its terminator")

    def __aiter__(self) -> AsyncIterator[UpstreamItem]:
        return self

    async def __anext__(self) -> UpstreamItem:
        return await self._items.__anext__()

    async def aclose(self) -> None:
        try:
            await self._items.aclose()
        finally:
            await self._response.aclose()


async def post(
    client: HTTPClient, url: str, payload: dict[str, Any] | bytes, headers: dict[str, str]
) -> Response:
    """POST `payload` as JSON (bytes: JSON already); return the response once its status
    says it streams, or raise `UpstreamError` with the status the gateway should answer."""
    if isinstance(payload, bytes):
        body = payload
    else:
        body = json.dumps(payload, separators=(",", ":")).encode()
    fields = [("content-type", "application/json"), *headers.items()]
    try:
        response = await client.request("POST", url, headers=fields, content=body)
    except PoolTimeout:
        raise UpstreamError(f"upstream {url}: no free connection in time", status=503) from None
    except ConnectError as exc:
        raise UpstreamError(f"upstream {url} is unreachable: {exc}", status=502) from None
    except HTTPError as exc:
        raise UpstreamError(f"upstream {url} failed: {exc}", status=502) from None
    if response.status_code != 200:
        try:
            body_text = (await response.read())[:2000].decode("utf-8", "replace")
        except HTTPError:
            body_text = ""
        finally:
            await response.aclose()
        raise _refusal(url, response, body_text)
    return response


async def open_sse(
    client: HTTPClient,
    url: str,
    payload: dict[str, Any],
    headers: dict[str, str],
    parse: Callable[[Event], list[UpstreamItem]],
) -> ResponseStream:
    """POST `payload` and return its SSE body as items, once the status says it streams."""
    return ResponseStream(await post(client, url, payload, headers), parse)


def _error_message(body: str) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:200] or None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return None


async def list_model_ids(client: HTTPClient, url: str, headers: dict[str, str]) -> list[str]:
    """The `id`s of an upstream's `GET /v1/models` list (OpenAI and Anthropic share the shape)."""
    try:
        async with asyncio.timeout(10.0):
            response = await client.request("GET", url, headers=list(headers.items()))
            try:
                raw = await response.read()
            finally:
                await response.aclose()
    except TimeoutError:
        raise UpstreamError(
            f"upstream {url} did not answer in time", status=504, kind="timeout"
        ) from None
    except HTTPError as exc:
        raise UpstreamError(f"upstream {url} is unreachable: {exc}") from None
    text = raw.decode("utf-8", "replace")
    if response.status_code != 200:
        raise _refusal(url, response, text)
    try:
        return [str(m["id"]) for m in json.loads(text)["data"]]
    except (ValueError, KeyError, TypeError):
        raise UpstreamError(f"upstream {url} sent a model list this gateway cannot read") from None
