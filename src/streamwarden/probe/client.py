"""One HTTP/1.1 request and its response on one connection, recorded read by read.

The client is a small reader on `asyncio.Protocol`, not httpx or aiohttp: both libraries
re-buffer the body, which loses the one thing the probe exists to record, the boundary of
each socket read. With a protocol, one `data_received` call is exactly one `recv()` on the
socket, stamped on arrival. The whole response, head and body (chunked, sized or until
close), is parsed by llhttp (httptools, which uvicorn uses too).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from typing import Protocol, cast

import httptools

from streamwarden.probe.config import ProbeConfig, ProbeError, Target
from streamwarden.probe.formats import StreamReader
from streamwarden.probe.timeline import RequestRecord

__all__ = [
    "Completion",
    "Exchange",
    "body_outcome",
    "check_reachable",
    "default_headers",
    "request_bytes",
    "request_method",
    "sync_counts",
]

_MAX_HEADER_BYTES = 64 * 1024
_MAX_ERROR_BODY = 512
_perf_counter = time.perf_counter  # one global lookup per read on the hot path, not two
_PARSER_ERRORS = (httptools.HttpParserError, httptools.HttpParserUpgrade)


def check_reachable(target: Target, tls: ssl.SSLContext | None = None, timeout: float = 3.0) -> str:
    """One connect (and TLS handshake) before any load, so that a wrong port or a refused
    certificate is a usage error, not a run. Returns the protocol the server picked."""
    where = f"{target.host}:{target.port}"
    try:
        with socket.create_connection((target.host, target.port), timeout=timeout) as sock:
            if tls is None:
                return "http/1.1"
            with tls.wrap_socket(sock, server_hostname=target.host) as wrapped:
                return wrapped.selected_alpn_protocol() or "http/1.1"
    except ssl.SSLCertVerificationError as exc:
        raise ProbeError(
            f"TLS certificate of {where} refused: {exc.verify_message} — pass --ca PATH for a "
            "private CA, or --insecure for a test server"
        ) from None
    except (OSError, ssl.SSLError) as exc:
        raise ProbeError(f"cannot connect to {where}: {exc}") from None


def request_method(config: ProbeConfig) -> str:
    return (config.method or ("POST" if config.body is not None else "GET")).upper()


def default_headers(config: ProbeConfig) -> list[tuple[str, str]]:
    """The headers the probe adds unless `config.headers` sets them (HTTP/1.1 and HTTP/2)."""
    names = {name.lower() for name, _ in config.headers}
    defaults = {
        "user-agent": "streamwarden-probe",
        "accept": "*/*" if config.format == "raw" else "text/event-stream",
        "accept-encoding": "identity",
    }
    out = [(name, value) for name, value in defaults.items() if name not in names]
    if config.body is not None and "content-type" not in names:
        out.append(("content-type", "application/json"))
    return out


def request_bytes(config: ProbeConfig, target: Target) -> bytes:
    lines = [f"{request_method(config)} {target.path} HTTP/1.1", f"Host: {target.netloc}"]
    lines.extend(f"{name.title()}: {value}" for name, value in default_headers(config))
    lines.extend(f"{name}: {value}" for name, value in config.headers)
    # One connection per stream, closed by us at the end: no idle keep-alive left behind.
    lines.append("Connection: close")
    if config.body is not None:
        lines.append(f"Content-Length: {len(config.body)}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (config.body or b"")


class Completion(Protocol):
    """What `Exchange` sets when the record holds its outcome: an `asyncio.Future`, or any
    object with the same two methods (the Locust engine's, on gevent)."""

    def done(self) -> bool: ...

    def set_result(self, result: None, /) -> None: ...


class Exchange(asyncio.Protocol):
    """One request and its response on one connection; fills in a `RequestRecord`.

    Driven by asyncio (`data_received` per socket read), or by any loop that reads a socket
    and calls the same methods (`streamwarden.locust`)."""

    def __init__(
        self,
        request: bytes,
        record: RequestRecord,
        reader: StreamReader,
        t0: float,
        done: Completion,
        head_request: bool = False,
    ) -> None:
        self.request = request
        self.record = record
        self.reader = reader
        self.t0 = t0
        self.done = done
        self.transport: asyncio.Transport | None = None
        self._head_request = head_request
        self._parser = httptools.HttpResponseParser(self)
        self._pieces: list[bytes] = []
        self._t_ms = 0.0
        self._head_bytes = 0
        self._in_body = False
        self._complete = False
        self._interim = False
        #: A Content-Length or a chunked body; otherwise the body ends with the connection.
        self._framed = False
        self._content_type = ""
        self._error_body = b""
        self._error_status = False
        self._add_read = record.reads.append
        #: Set once the record holds its outcome. Not `done.done()`: a timeout cancels `done`.
        self.finished = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        transport = cast(asyncio.Transport, transport)
        self.transport = transport
        sockname = transport.get_extra_info("sockname")
        if isinstance(sockname, tuple) and len(sockname) >= 2:
            self.record.local_port = int(sockname[1])
        transport.write(self.request)

    # llhttp's callbacks, called from inside `feed_data`
    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.lower()
        if key == b"content-type":
            self._content_type = value.decode("latin-1").strip()
        elif key == b"content-length" or (
            key == b"transfer-encoding" and b"chunked" in value.lower()
        ):
            self._framed = True

    def on_headers_complete(self) -> None:
        if self._complete:
            return  # bytes past the end of this response: nothing more belongs to it
        status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self._interim = True  # 100 Continue and friends: the real head follows
            return
        record = self.record
        record.status = status
        record.ttfb_ms = self._t_ms
        self._in_body = True
        self._error_status = status >= 400
        self.reader.start(self._content_type)
        record.format = self.reader.format
        if self._head_request:
            self.on_message_complete()

    def on_body(self, body: bytes) -> None:
        self._pieces.append(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            self._content_type = ""
            self._framed = False
            return
        self._complete = True
        self._pieces = []  # a later response's body, if any, lands here and is dropped

    def data_received(self, data: bytes) -> None:
        # The hot path of the whole probe: one call per socket read, so it is kept flat.
        t_ms = self._t_ms = (_perf_counter() - self.t0) * 1000.0
        pieces = self._pieces = []
        try:
            self._parser.feed_data(data)
        except _PARSER_ERRORS as exc:
            if not self._complete:
                detail = str(exc) or type(exc).__name__
                if self._in_body:
                    self._finish("truncated", f"bad body: {detail}")
                else:
                    self._finish("http_error", f"bad response: {detail}")
                return
        if not self._in_body:
            self._head_bytes += len(data)
            if self._head_bytes > _MAX_HEADER_BYTES:
                self._finish("http_error", "response headers too large")
            self._add_read((t_ms, 0, 0, 0))
            return
        n = len(pieces)
        body = pieces[0] if n == 1 else b"".join(pieces)
        if self._error_status:
            if len(self._error_body) < _MAX_ERROR_BODY:
                self._error_body += body
            self._add_read((t_ms, len(body), 0, 0))
        else:
            reader = self.reader
            had_content = reader.content_events
            events, heartbeats = reader.feed(body, n)
            if not had_content and reader.content_events:
                self.record.ttft_ms = t_ms
            self._add_read((t_ms, len(body), events, heartbeats))
        if self._complete:
            self._finish_body()

    def _finish_body(self) -> None:
        self._finish(*body_outcome(self.record, self.reader, self._error_body))

    def eof_received(self) -> bool | None:
        if not self.finished:
            if self._in_body and not self._framed:
                # A body delimited by the connection's close (HTTP/1.0 style) is complete.
                self._finish_body()
            elif self._in_body:
                self._finish("truncated", "the connection closed mid-body")
            else:
                self._finish("truncated", "the connection closed before the response headers")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.finished:
            return
        if isinstance(exc, ConnectionResetError | BrokenPipeError):
            self._finish("reset", str(exc) or "connection reset")
        elif exc is not None:
            self._finish("truncated", f"{type(exc).__name__}: {exc}")
        else:
            self.eof_received()

    def _finish(self, outcome: str, error: str | None = None) -> None:
        if self.finished:
            return
        self.finished = True
        record = self.record
        record.end_ms = (time.perf_counter() - self.t0) * 1000.0
        record.outcome = outcome
        record.error = error
        sync_counts(record, self.reader)
        if not self.done.done():
            self.done.set_result(None)
        if self.transport is not None:
            self.transport.close()

    def abort(self, outcome: str, error: str) -> None:
        self._finish(outcome, error)
        if self.transport is not None:
            self.transport.abort()


def body_outcome(
    record: RequestRecord, reader: StreamReader, error_body: bytes
) -> tuple[str, str | None]:
    """How a response whose body ended cleanly went: `(outcome, error)`."""
    record.format = reader.format
    if record.status is not None and record.status >= 400:
        detail = error_body[:200].decode("utf-8", "replace").strip()
        return "http_error", f"HTTP {record.status}: {detail}" if detail else None
    if reader.terminated or reader.body_complete_terminates:
        record.terminated = True
        return "ok", None
    return "unterminated", "the body ended without the protocol's terminator"


def sync_counts(record: RequestRecord, reader: StreamReader) -> None:
    """Copy a finished response's counts from its reader onto its record."""
    record.format = reader.format
    record.events = reader.events
    record.content_events = reader.content_events
    record.lead_events = reader.lead_events
    record.error_events = reader.error_events
    record.heartbeats = reader.heartbeats
    record.output_tokens = reader.output_tokens
    if reader.terminated:
        record.terminated = True
