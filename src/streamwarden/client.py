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
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

from streamwarden.sse import Event, SSEDecoder

__all__ = ["ResumeFailed", "error_type", "is_final", "resuming_events"]

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


def _events(response: httpx.Response, decoder: SSEDecoder) -> Iterator[Event]:
    for chunk in response.iter_bytes():
        for item in decoder.feed(chunk):
            if isinstance(item, Event):
                yield item


def _resume_url(url: httpx.URL, stream_id: str) -> httpx.URL:
    """`/v1/streams/{id}` beside the original endpoint (kept under any path prefix)."""
    path = url.path
    cut = path.find("/v1/")
    prefix = path[:cut] if cut >= 0 else ""
    return url.copy_with(path=f"{prefix}/v1/streams/{stream_id}", query=None)


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
    target = client.build_request(method, url, json=json, headers=headers).url
    resume_headers = {
        k: v
        for k, v in (headers or {}).items()
        if k.lower() not in ("content-type", "content-length")
    }
    stream_id: str | None = None
    last = 0
    failures = 0
    status = 0
    first = True
    while True:
        progressed = False
        resuming = not first
        try:
            if first:
                request = client.build_request(method, url, json=json, headers=headers)
            else:
                assert stream_id is not None
                extra = {"Last-Event-ID": f"{stream_id}:{last}"} if last else {}
                request = client.build_request(
                    "GET", _resume_url(target, stream_id), headers={**resume_headers, **extra}
                )
            response = client.send(request, stream=True)
            try:
                status = response.status_code
                if status != 200:
                    response.read()
                    if first or status not in _RETRYABLE:
                        raise ResumeFailed(
                            f"{request.method} {request.url.path} answered {status}: "
                            f"{response.text[:200]}",
                            status,
                        )
                else:
                    if first:
                        stream_id = response.headers.get("x-stream-id")
                    first = False
                    decoder = SSEDecoder()
                    for item in _events(response, decoder):
                        if _ends_connection_only(item):
                            break
                        seq = _seq(item.id, stream_id)
                        if seq is not None:
                            if stream_id is None and item.id:
                                stream_id = item.id.rpartition(":")[0]
                            if seq <= last:
                                continue  # already yielded before the cut
                            last = seq
                            progressed = True
                        yield item
                        if is_final(item):
                            return
                    else:
                        if resuming and decoder.retry is None:
                            # A resume that ends cleanly has reached the stream's end mark
                            # (an answer without a terminator, as some upstreams send). One
                            # that ends with a `retry:` hint was sent on: a replica draining.
                            return
            finally:
                response.close()
        except httpx.TransportError:
            if first:
                raise
        if stream_id is None:
            raise ResumeFailed("the stream was cut and carries no X-Stream-Id to resume by")
        failures = 0 if progressed else failures + 1
        if failures >= max_attempts:
            raise ResumeFailed(
                f"stream {stream_id}: {failures} resumes in a row brought nothing new", status
            )
        if failures:
            time.sleep(backoff * 2 ** (failures - 1))
