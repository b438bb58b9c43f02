"""A resuming SSE client for the gateway's streams (httpx).

    import httpx
    from streamwarden.client import resuming_events

    with httpx.Client(timeout=30) as http:
        for event in resuming_events(http, "POST", url, json=body, headers=auth):
            ...

The first request is sent as given. When its connection is cut before the stream's end (a
proxy's total-time limit, a mobile network, a replica that drains and ends its connections
with a `retry:` hint), the client asks
`GET /v1/streams/{id}` with the last event id it holds as `Last-Event-ID` and reads on,
as often as it takes while each attempt makes progress. Every event is yielded exactly
once, in order; the stream ends at its protocol's terminator (`data: [DONE]`,
`event: message_stop`) or at an error event, which is yielded too.
"""

from __future__ import annotations

import json as jsonlib
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

import anyio
import httpx

from streamwarden.sse import Event, SSEDecoder

__all__ = ["ResumeFailed", "aresuming_events", "error_type", "is_final", "resuming_events"]

_RETRYABLE = {429, 502, 503, 504}


class ResumeFailed(Exception):
    """The stream could not be read to its end: `status` is the last HTTP status seen (0 for
    a connection that failed), and the events read so far were already yielded."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def is_final(event: Event) -> bool:
    """The last event of a stream: a terminator or an error."""
    return event.data == "[DONE]" or event.event == "message_stop" or error_type(event) is not None


def error_type(event: Event) -> str | None:
    """The `error.type` of an error event (OpenAI or Anthropic shape); None for any other."""
    if event.event != "error" and not event.data.startswith(('{"error"', '{"type":"error"')):
        return None
    try:
        body = jsonlib.loads(event.data)
        kind = body["error"]["type"]
    except (ValueError, KeyError, TypeError):
        return "error"
    return str(kind)


def _ends_connection_only(event: Event) -> bool:
    """An error the gateway wrote for this connection alone (no id: it is not stored), such
    as its shutdown: the stream goes on elsewhere, so the client resumes instead."""
    kind = error_type(event)
    return kind is not None and event.id is None and kind != "stream_lost"


def _seq(event_id: str | None, stream_id: str | None) -> int | None:
    if not event_id:
        return None
    stream, _, seq = event_id.rpartition(":")
    if not seq.isdigit() or (stream_id is not None and stream != stream_id):
        return None
    return int(seq)


def _resume_url(url: httpx.URL, stream_id: str) -> httpx.URL:
    """`/v1/streams/{id}` beside the original endpoint (kept under any path prefix)."""
    path = url.path
    cut = path.find("/v1/")
    prefix = path[:cut] if cut >= 0 else ""
    return url.copy_with(path=f"{prefix}/v1/streams/{stream_id}", query=None)


class _Cursor:
    """Where one stream's reader is, and what it does next: shared by the sync and async
    loops, which only do the I/O."""

    def __init__(
        self,
        build: Callable[..., httpx.Request],
        method: str,
        url: str | httpx.URL,
        json: Any,
        headers: Mapping[str, str] | None,
        max_attempts: int,
        backoff: float,
    ) -> None:
        self.build = build
        self.first_request = build(method, url, json=json, headers=headers)
        self.resume_headers = {
            k: v
            for k, v in (headers or {}).items()
            if k.lower() not in ("content-type", "content-length")
        }
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.stream_id: str | None = None
        self.last = 0
        self.failures = 0
        self.status = 0
        self.first = True
        self.resuming = False
        self.progressed = False
        self.decoder = SSEDecoder()

    def request(self) -> httpx.Request:
        self.progressed = False
        if self.first:
            return self.first_request
        assert self.stream_id is not None
        extra = {"Last-Event-ID": f"{self.stream_id}:{self.last}"} if self.last else {}
        url = _resume_url(self.first_request.url, self.stream_id)
        return self.build("GET", url, headers={**self.resume_headers, **extra})

    def opened(self, request: httpx.Request, response: httpx.Response, body: str) -> bool:
        """Whether to read this response; raises `ResumeFailed` for one that ends it all."""
        self.status = response.status_code
        if self.status != 200:
            if self.first or self.status not in _RETRYABLE:
                raise ResumeFailed(
                    f"{request.method} {request.url.path} answered {self.status}: {body[:200]}",
                    self.status,
                )
            return False
        if self.first:
            self.stream_id = response.headers.get("x-stream-id")
        self.resuming = not self.first
        self.first = False
        self.decoder = SSEDecoder()
        return True

    def feed(self, chunk: bytes) -> tuple[list[Event], str | None]:
        """The new events in `chunk`, and whether the read stops: `final` (the stream
        ended), `cut` (this connection ended, resume) or None (read on)."""
        out: list[Event] = []
        for item in self.decoder.feed(chunk):
            if not isinstance(item, Event):
                continue
            if _ends_connection_only(item):
                return out, "cut"
            seq = _seq(item.id, self.stream_id)
            if seq is not None:
                if self.stream_id is None and item.id:
                    self.stream_id = item.id.rpartition(":")[0]
                if seq <= self.last:
                    continue  # already yielded before the cut
                self.last = seq
                self.progressed = True
            out.append(item)
            if is_final(item):
                return out, "final"
        return out, None

    def ended_cleanly(self) -> bool:
        """A resume that ends cleanly has reached the stream's end mark (an answer without
        a terminator, as some upstreams send); one that ends with a `retry:` hint was sent on
        (a replica draining), and the first response may have been cut by a proxy."""
        return self.resuming and self.decoder.retry is None

    def retry_in(self) -> float:
        """Seconds to wait before the next resume; raises `ResumeFailed` when out of tries."""
        if self.stream_id is None:
            raise ResumeFailed("the stream was cut and carries no X-Stream-Id to resume by")
        self.failures = 0 if self.progressed else self.failures + 1
        if self.failures >= self.max_attempts:
            raise ResumeFailed(
                f"stream {self.stream_id}: {self.failures} resumes in a row brought nothing new",
                self.status,
            )
        return self.backoff * 2 ** (self.failures - 1) if self.failures else 0.0


def resuming_events(
    client: httpx.Client,
    method: str,
    url: str | httpx.URL,
    *,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
    max_attempts: int = 5,
    backoff: float = 0.2,
) -> Iterator[Event]:
    """The events of one streamed answer, resumed across cuts.

    `max_attempts`: resumes in a row that may fail to bring a new event before
    `ResumeFailed` (a resume that brings events resets the count). `backoff`: seconds before
    the first retry, doubled after each failed one.
    """
    cursor = _Cursor(client.build_request, method, url, json, headers, max_attempts, backoff)
    while True:
        request = cursor.request()
        try:
            response = client.send(request, stream=True)
            try:
                body = (
                    response.read().decode(errors="replace") if response.status_code != 200 else ""
                )
                if cursor.opened(request, response, body):
                    for chunk in response.iter_bytes():
                        events, stop = cursor.feed(chunk)
                        yield from events
                        if stop == "final":
                            return
                        if stop == "cut":
                            break
                    else:
                        if cursor.ended_cleanly():
                            return
            finally:
                response.close()
        except httpx.TransportError:
            if cursor.first:
                raise
        time.sleep(cursor.retry_in())


async def aresuming_events(
    client: httpx.AsyncClient,
    method: str,
    url: str | httpx.URL,
    *,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
    max_attempts: int = 5,
    backoff: float = 0.2,
) -> AsyncIterator[Event]:
    """`resuming_events` for an `httpx.AsyncClient` (asyncio or trio, through anyio)."""
    cursor = _Cursor(client.build_request, method, url, json, headers, max_attempts, backoff)
    while True:
        request = cursor.request()
        try:
            response = await client.send(request, stream=True)
            try:
                body = (
                    (await response.aread()).decode(errors="replace")
                    if response.status_code != 200
                    else ""
                )
                if cursor.opened(request, response, body):
                    async for chunk in response.aiter_bytes():
                        events, stop = cursor.feed(chunk)
                        for event in events:
                            yield event
                        if stop == "final":
                            return
                        if stop == "cut":
                            break
                    else:
                        if cursor.ended_cleanly():
                            return
            finally:
                await response.aclose()
        except httpx.TransportError:
            if cursor.first:
                raise
        await anyio.sleep(cursor.retry_in())
