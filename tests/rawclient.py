"""A raw-socket HTTP/1.1 client that reads a response the way a browser would, read by read.

The tests use it instead of an in-process client, because only a real socket shows
buffering, disconnects and timing.
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from streamwarden.sse import Comment, Event, SSEDecoder


@dataclass
class Read:
    t: float
    data: bytes


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    started: float
    reads: list[Read] = field(default_factory=list)

    @property
    def body(self) -> bytes:
        return b"".join(r.data for r in self.reads)

    def items(self) -> list[Event | Comment]:
        decoder = SSEDecoder()
        return decoder.feed(self.body)

    def events(self) -> list[Event]:
        return [i for i in self.items() if isinstance(i, Event)]

    def comments(self) -> list[Comment]:
        return [i for i in self.items() if isinstance(i, Comment)]

    def timed_items(self) -> list[tuple[float, Event | Comment]]:
        decoder = SSEDecoder()
        out: list[tuple[float, Event | Comment]] = []
        for read in self.reads:
            out.extend((read.t - self.started, item) for item in decoder.feed(read.data))
        return out


class RawStream:
    """One request on its own connection; iterate `read_some()` to get body bytes as they land."""

    def __init__(
        self,
        host: str,
        port: int,
        path: str,
        *,
        method: str = "GET",
        body: Any = None,
        headers: dict[str, str] | None = None,
        rcvbuf: int | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        payload = b""
        if body is not None:
            payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        # No "Connection: close": uvicorn would echo it, hiding whether the app set one.
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}"]
        if payload or method == "POST":
            lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.started = time.monotonic()
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
        self._raw = b""
        self._chunked = False
        self._chunk_left = 0
        self._done = False
        self.response = self._read_head()

    def _read_head(self) -> RawResponse:
        while b"\r\n\r\n" not in self._raw:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("connection closed before the response head")
            self._raw += data
        head, _, rest = self._raw.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self._chunked = headers.get("transfer-encoding", "").lower() == "chunked"
        self._length: int | None = None
        if not self._chunked and "content-length" in headers:
            self._length = int(headers["content-length"])
        self._raw = rest
        response = RawResponse(int(status_line.split()[1]), headers, self.started)
        return response

    def _decode(self) -> bytes:
        if self._done:
            return b""
        if not self._chunked:
            out, self._raw = self._raw, b""
            if self._length is not None:
                self._length -= len(out)
                if self._length <= 0:
                    self._done = True
            return out
        body = bytearray()
        while True:
            if self._chunk_left > 0:  # inside a chunk's data
                take = self._raw[: self._chunk_left]
                body += take
                self._raw = self._raw[len(take) :]
                self._chunk_left -= len(take)
                if self._chunk_left:
                    return bytes(body)
                self._chunk_left = -1  # the CRLF after the data
            if self._chunk_left == -1:
                if len(self._raw) < 2:
                    return bytes(body)
                self._raw = self._raw[2:]
                self._chunk_left = 0
            line, sep, rest = self._raw.partition(b"\r\n")
            if not sep:
                return bytes(body)
            size = int(line.split(b";")[0], 16)
            self._raw = rest
            if size == 0:
                self._done = True
                return bytes(body)
            self._chunk_left = size

    def read_some(self) -> bytes | None:
        """Body bytes from the next socket read; None at the end of the body."""
        pending = self._decode()
        if pending:
            self.response.reads.append(Read(time.monotonic(), pending))
            return pending
        while not self._done:
            data = self.sock.recv(65536)
            if not data:
                self._done = True
                break
            self._raw += data
            body = self._decode()
            if body:
                self.response.reads.append(Read(time.monotonic(), body))
                return body
        return None

    def read_all(self) -> RawResponse:
        while self.read_some() is not None:
            pass
        self.close()
        return self.response

    def read_until(self, predicate: Any) -> RawResponse:
        """Read until `predicate(response)` holds or the body ends."""
        while not predicate(self.response):
            if self.read_some() is None:
                break
        return self.response

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
