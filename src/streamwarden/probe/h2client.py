"""HTTP/2 (ALPN `h2`, on the `h2` library): many streams share one connection.

Each request is one stream; each DATA frame is one row of the timeline, stamped with the
time of the socket read that carried it. The connection's own facts go to `H2Facts`: the
server's `SETTINGS_MAX_CONCURRENT_STREAMS`, how long requests waited for a stream slot
under it, and how long request bodies waited on the server's flow-control window.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass, field
from typing import Any, cast

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions

from streamwarden.probe.client import body_outcome, default_headers, request_method, sync_counts
from streamwarden.probe.config import ProbeConfig, Target
from streamwarden.probe.formats import StreamReader
from streamwarden.probe.timeline import RequestRecord, percentile

__all__ = ["H2Client", "H2Facts"]

_MAX_ERROR_BODY = 512
# What h2 reports when the server set no cap (the protocol's "unlimited").
_NO_CAP = 2**31
_perf_counter = time.perf_counter


@dataclass(slots=True)
class H2Facts:
    """What the run saw of its HTTP/2 connections; `Run.h2` holds `to_json()`."""

    connections: int = 0
    #: The lowest `SETTINGS_MAX_CONCURRENT_STREAMS` a server announced; None: no cap.
    max_concurrent_streams: int | None = None
    #: The most streams the probe wanted open at once on one connection.
    peak_wanted: int = 0
    #: Milliseconds each request that had to wait spent waiting for a stream slot.
    slot_waits_ms: list[float] = field(default_factory=list)
    #: Milliseconds request bodies spent with the server's flow-control window at zero.
    flow_stalls_ms: list[float] = field(default_factory=list)
    #: Streams the server refused or reset, by HTTP/2 error code name.
    resets: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        waits = self.slot_waits_ms
        stalls = self.flow_stalls_ms
        return {
            "connections": self.connections,
            "max_concurrent_streams": self.max_concurrent_streams,
            "peak_wanted": self.peak_wanted,
            "streams_queued": len(waits),
            "slot_wait_ms": {
                "p50": round(percentile(waits, 50), 3) if waits else None,
                "max": round(max(waits), 3) if waits else None,
            },
            "flow_stalls": len(stalls),
            "flow_stall_ms": {
                "total": round(sum(stalls), 3),
                "max": round(max(stalls), 3) if stalls else None,
            },
            "resets": dict(self.resets),
        }


class _Stream:
    """One request on a shared connection; fills in its `RequestRecord` as frames come."""

    __slots__ = ("done", "error_body", "finished", "reader", "record", "t0")

    def __init__(
        self, record: RequestRecord, reader: StreamReader, t0: float, done: asyncio.Future[None]
    ) -> None:
        self.record = record
        self.reader = reader
        self.t0 = t0
        self.done = done
        self.error_body = b""
        self.finished = False

    def headers(self, headers: list[tuple[bytes, bytes]], t: float) -> None:
        record = self.record
        content_type = ""
        for name, value in headers:
            if name == b":status":
                record.status = int(value)
            elif name == b"content-type":
                content_type = value.decode("latin-1")
        record.ttfb_ms = (t - self.t0) * 1000.0
        self.reader.start(content_type)
        record.format = self.reader.format

    def data(self, data: bytes, t: float) -> None:
        t_ms = (t - self.t0) * 1000.0
        record = self.record
        if record.status is not None and record.status >= 400:
            if len(self.error_body) < _MAX_ERROR_BODY:
                self.error_body += data
            record.reads.append((t_ms, len(data), 0, 0))
            return
        reader = self.reader
        had_content = reader.content_events
        events, heartbeats = reader.feed(data)
        if not had_content and reader.content_events:
            record.ttft_ms = t_ms
        record.reads.append((t_ms, len(data), events, heartbeats))

    def ended(self) -> None:
        self.finish(*body_outcome(self.record, self.reader, self.error_body))

    def finish(self, outcome: str, error: str | None = None) -> None:
        if self.finished:
            return
        self.finished = True
        record = self.record
        record.end_ms = (_perf_counter() - self.t0) * 1000.0
        record.outcome = outcome
        record.error = error
        sync_counts(record, self.reader)
        if not self.done.done():
            self.done.set_result(None)


class _Connection(asyncio.Protocol):
    """One HTTP/2 connection: the h2 state machine, its streams, and the slot gate."""

    def __init__(self, facts: H2Facts) -> None:
        self.facts = facts
        self.h2 = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, _Stream] = {}
        self.changed = asyncio.Event()  # a slot freed, a window opened, settings came
        self.settings_seen = asyncio.Event()
        self.closed: str | None = None
        self.wanted = 0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.h2.initiate_connection()
        self.flush()

    def data_received(self, data: bytes) -> None:
        t = _perf_counter()
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            self._close(f"HTTP/2 protocol error: {exc}")
            return
        for event in events:
            self._event(event, t)
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self._close(f"the connection closed: {exc}" if exc else "the connection closed")

    def _event(self, event: h2.events.Event, t: float) -> None:
        if isinstance(event, h2.events.DataReceived):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.data(event.data, t)
            # Give the window back at once: a stall must be the server's, not ours.
            if event.flow_controlled_length:
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.ResponseReceived):
            stream = self.streams.get(event.stream_id)
            if stream is not None:
                stream.headers(event.headers, t)
        elif isinstance(event, h2.events.StreamEnded):
            stream = self.streams.pop(event.stream_id, None)
            if stream is not None:
                stream.ended()
            self.changed.set()
        elif isinstance(event, h2.events.StreamReset):
            stream = self.streams.pop(event.stream_id, None)
            name = _error_name(event.error_code)
            self.facts.resets[name] = self.facts.resets.get(name, 0) + 1
            if stream is not None:
                started = stream.record.status is not None
                stream.finish("reset" if started else "connect_error", f"RST_STREAM {name}")
            self.changed.set()
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            cap = self.h2.remote_settings.max_concurrent_streams
            if cap < _NO_CAP:
                known = self.facts.max_concurrent_streams
                self.facts.max_concurrent_streams = cap if known is None else min(known, cap)
            self.settings_seen.set()
            self.changed.set()
        elif isinstance(event, h2.events.WindowUpdated):
            self.changed.set()
        elif isinstance(event, h2.events.ConnectionTerminated):
            self._close(f"GOAWAY {_error_name(event.error_code)}")

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _close(self, why: str) -> None:
        if self.closed is None:
            self.closed = why
        for stream in list(self.streams.values()):
            started = stream.record.status is not None
            stream.finish("truncated" if started else "connect_error", why)
        self.streams.clear()
        self.settings_seen.set()
        self.changed.set()
        if self.transport is not None:
            self.transport.close()

    def has_slot(self) -> bool:
        return self.h2.open_outbound_streams < self.h2.remote_settings.max_concurrent_streams

    async def wait_changed(self) -> None:
        self.changed.clear()
        await self.changed.wait()

    def cancel(self, stream_id: int) -> None:
        if self.streams.pop(stream_id, None) is not None and self.closed is None:
            try:
                self.h2.reset_stream(stream_id, h2.errors.ErrorCodes.CANCEL)
            except h2.exceptions.ProtocolError:
                pass  # already closed on the server's side
            self.flush()
            self.changed.set()


def _error_name(code: int | None) -> str:
    if code is None:
        return "unknown"
    try:
        return h2.errors.ErrorCodes(code).name
    except ValueError:
        return f"error {code}"


class H2Client:
    """The run's HTTP/2 connection (one, re-opened if the server closes it): requests wait
    for a stream slot under the server's cap, as every HTTP/2 client behind it would."""

    def __init__(
        self, config: ProbeConfig, target: Target, ssl_context: ssl.SSLContext | None
    ) -> None:
        self.config = config
        self.target = target
        self.ssl_context = ssl_context
        self.facts = H2Facts()
        self.body = config.body or b""
        headers = [
            (":method", request_method(config)),
            (":scheme", target.scheme),
            (":authority", target.netloc),
            (":path", target.path),
            *default_headers(config),
            *((name.lower(), value) for name, value in config.headers),
        ]
        if config.body is not None:
            headers.append(("content-length", str(len(config.body))))
        self.headers = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]
        self._conn: _Connection | None = None
        self._opening: asyncio.Lock | None = None

    async def _connection(self) -> _Connection:
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            conn = self._conn
            if conn is not None and conn.closed is None:
                return conn
            loop = asyncio.get_running_loop()
            conn = _Connection(self.facts)
            await loop.create_connection(
                lambda: conn,
                self.target.host,
                self.target.port,
                ssl=self.ssl_context,
                server_hostname=self.target.host if self.ssl_context else None,
            )
            # The server's SETTINGS come first: until then its stream cap is unknown, and
            # streams past it would be refused instead of queued.
            await conn.settings_seen.wait()
            self.facts.connections += 1
            self._conn = conn
            return conn

    async def request(
        self, record: RequestRecord, reader: StreamReader, t0: float, done: asyncio.Future[None]
    ) -> tuple[_Connection, _Stream, int]:
        """Open one stream for `record` (waiting for a slot) and send the request."""
        conn = await self._connection()
        stream = _Stream(record, reader, t0, done)
        conn.wanted += 1
        self.facts.peak_wanted = max(self.facts.peak_wanted, conn.wanted)
        try:
            waited = None
            while not conn.has_slot():
                if conn.closed is not None:
                    raise ConnectionError(conn.closed)
                waited = waited if waited is not None else _perf_counter()
                await conn.wait_changed()
            if waited is not None:
                self.facts.slot_waits_ms.append((_perf_counter() - waited) * 1000.0)
            if conn.closed is not None:
                raise ConnectionError(conn.closed)
            stream_id = conn.h2.get_next_available_stream_id()
            conn.streams[stream_id] = stream
            conn.h2.send_headers(stream_id, self.headers, end_stream=not self.body)
            conn.flush()
            if self.body:
                await self._send_body(conn, stream_id)
        except BaseException:
            conn.wanted -= 1
            raise
        return conn, stream, stream_id

    def release(self, conn: _Connection) -> None:
        conn.wanted -= 1

    async def _send_body(self, conn: _Connection, stream_id: int) -> None:
        body = memoryview(self.body)
        while body:
            window = conn.h2.local_flow_control_window(stream_id)
            if window <= 0:
                stalled = _perf_counter()
                while conn.h2.local_flow_control_window(stream_id) <= 0:
                    if conn.closed is not None or stream_id not in conn.streams:
                        return
                    await conn.wait_changed()
                self.facts.flow_stalls_ms.append((_perf_counter() - stalled) * 1000.0)
                continue
            size = min(window, conn.h2.max_outbound_frame_size, len(body))
            conn.h2.send_data(stream_id, bytes(body[:size]), end_stream=size == len(body))
            conn.flush()
            body = body[size:]

    def close(self) -> None:
        conn = self._conn
        if conn is not None and conn.closed is None:
            conn.h2.close_connection()
            conn.flush()
            conn._close("closed by the probe")
