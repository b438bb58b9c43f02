"""A small HTTP/1.1 client for long streamed responses, on asyncio and llhttp (httptools).

Standalone (the standard library and httptools only), so that anything that streams HTTP/1.1
bodies can share it. What it is for: many concurrent, long-lived responses to a few origins.

- Keep-alive pool per origin: idle connections on a stack, so taking one and giving one back
  cost O(1) whatever the number of open connections (httpcore walks every pooled connection
  on each request start and each response close).
- One `ssl.SSLContext` per client, built on first use; none per request.
- The body arrives as the socket delivers it: each `receive()` returns every byte read so
  far in one piece, and reading pauses while a slow consumer has more than 1 MiB waiting.
- A connection is reused only when its response was read to the end and both sides keep it
  alive; anything else closes it.

No redirects, cookies, proxies, compression or HTTP/2: callers that need those want httpx.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

__all__ = ["ConnectError", "HTTPClient", "HTTPError", "PoolTimeout", "Response"]

#: Reading pauses above this many unconsumed body bytes, and resumes below a quarter of it.
_HIGH_WATER = 1 << 20


class HTTPError(Exception):
    """The connection failed or the server broke the protocol."""


class ConnectError(HTTPError):
    """No connection could be opened (refused, unresolvable, or too slow)."""


class PoolTimeout(HTTPError):
    """Every allowed connection stayed busy for the whole pool timeout."""


@dataclass(frozen=True, slots=True)
class _Origin:
    scheme: str
    host: str
    port: int


def _split(url: str) -> tuple[_Origin, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return _Origin(parts.scheme, parts.hostname, port), target


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection: writes a request, parses one response at a time."""

    def __init__(self, origin: _Origin) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.reused = False
        self._parser: httptools.HttpResponseParser | None = None
        self._head: asyncio.Future[None] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._paused = False
        self._complete = False
        self._keep_alive = False
        self._error: HTTPError | None = None
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []

    # -- protocol callbacks ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._parser is None:
            self._fail(HTTPError("server sent bytes while no request was pending"))
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(HTTPError("server switched protocols; this client speaks HTTP/1.1 only"))
        except httptools.HttpParserError as exc:
            self._fail(HTTPError(f"server sent a malformed response: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self._complete and self._parser is not None:
            # llhttp ends a body delimited by the connection's close itself.
            if self._head is not None and self._head.done() and self._until_close():
                self._complete = True
            else:
                detail = f": {exc}" if exc else ""
                self._error = HTTPError(f"server closed the connection mid-response{detail}")
        self._wake()
        if self._head is not None and not self._head.done():
            self._head.set_exception(self._error or HTTPError("server closed the connection"))

    def pause_writing(self) -> None:  # requests are small; nothing to throttle
        pass

    def resume_writing(self) -> None:
        pass

    # -- httptools callbacks ---------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        self.status = self._parser.get_status_code()
        if self.status < 200:
            self.headers = []  # an interim response (100 Continue): the real one follows
            return
        if self._head is not None and not self._head.done():
            self._head.set_result(None)

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > _HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.status < 200:
            return
        assert self._parser is not None
        # Only valid inside the callback: llhttp resets its flags once the message is done.
        self._keep_alive = self._parser.should_keep_alive()
        self._complete = True
        self._wake()

    # -- used by the pool and the response -------------------------------------------------
    def send(self, head: bytes, body: bytes) -> asyncio.Future[None]:
        """Write one request; the future resolves when the response's head has arrived."""
        assert self.transport is not None
        self._parser = httptools.HttpResponseParser(self)
        self._head = asyncio.get_running_loop().create_future()
        if self.closed:
            self._head.set_exception(HTTPError("server closed the connection"))
            return self._head
        self._chunks = []
        self._buffered = 0
        self._complete = False
        self._keep_alive = False
        self._error = None
        self.status = 0
        self.headers = []
        self.transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self.transport.write(body)
        return self._head

    async def receive(self) -> bytes:
        """Every body byte read so far, in one piece; b"" at the end of the body."""
        while True:
            if self._chunks:
                chunks, self._chunks = self._chunks, []
                self._buffered = 0
                if self._paused and self.transport is not None:
                    self._paused = False
                    self.transport.resume_reading()
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
            if self._complete:
                return b""
            if self._error is not None:
                raise self._error
            if self.closed:
                raise HTTPError("server closed the connection mid-response")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    @property
    def reusable(self) -> bool:
        return self._complete and self._keep_alive and not self.closed and not self._chunks

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _until_close(self) -> bool:
        names = {name for name, _ in self.headers}
        return b"content-length" not in names and b"transfer-encoding" not in names

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _fail(self, error: HTTPError) -> None:
        self._error = error
        if self._head is not None and not self._head.done():
            self._head.set_exception(error)
        self._wake()
        self.close()


class _Pool:
    """Connections to one origin: an idle stack, a count, and requests waiting for a slot."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.idle: list[_Connection] = []
        self.count = 0
        self.waiters: collections.deque[asyncio.Future[_Connection | None]] = collections.deque()


class Response:
    """A response whose head has arrived. Read the body with `aiter_raw()` or `read()`;
    `aclose()` gives the connection back (reused if the body was read to its end)."""

    def __init__(self, client: HTTPClient, connection: _Connection) -> None:
        self._client = client
        self._connection: _Connection | None = connection
        self.status_code = connection.status
        self.headers = connection.headers

    def header(self, name: str) -> str | None:
        key = name.lower().encode("latin-1")
        for found, value in self.headers:
            if found == key:
                return value.decode("latin-1")
        return None

    async def receive(self) -> bytes:
        """The next body bytes; b"" once the body has ended."""
        if self._connection is None:
            return b""
        return await self._connection.receive()

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        while chunk := await self.receive():
            yield chunk

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self.aiter_raw()])

    async def aclose(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._client._release(connection)


class HTTPClient:
    """Pooled HTTP/1.1 connections. One per application; `aclose()` closes idle ones.

    - max_connections: per origin; further requests wait up to `pool_timeout` for one.
      None: no limit.
    - keepalive_expiry: an idle connection older than this is closed rather than reused,
      before the server's own idle timeout (uvicorn's default is 5 s) can race the request.
    """

    def __init__(
        self,
        *,
        max_connections: int | None = None,
        connect_timeout: float = 10.0,
        pool_timeout: float = 30.0,
        keepalive_expiry: float = 4.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if max_connections is not None and max_connections < 1:
            raise ValueError("max_connections must be >= 1 or None")
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self.pool_timeout = pool_timeout
        self.keepalive_expiry = keepalive_expiry
        self._ssl = ssl_context
        self._pools: dict[_Origin, _Pool] = {}
        #: Connections opened over the client's life (for tests and metrics).
        self.connections_opened = 0

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Iterable[tuple[str, str]] = (),
        content: bytes = b"",
    ) -> Response:
        """Send a request and return once the response's head has arrived."""
        origin, target = _split(url)
        host = origin.host if origin.port in (80, 443) else f"{origin.host}:{origin.port}"
        lines = [f"{method} {target} HTTP/1.1\r\nhost: {host}\r\n"]
        lines += [f"{name}: {value}\r\n" for name, value in headers]
        if content or method in ("POST", "PUT", "PATCH"):
            lines.append(f"content-length: {len(content)}\r\n")
        lines.append("\r\n")
        head = "".join(lines).encode("latin-1")
        for attempt in range(2):
            connection = await self._acquire(origin)
            try:
                await connection.send(head, content)
            except HTTPError:
                self._release(connection)
                # A reused connection the server closed while it sat idle fails before any
                # response byte: the request never reached the application; once more on
                # a fresh one.
                if connection.reused and not connection.status and attempt == 0:
                    continue
                raise
            except BaseException:
                self._release(connection)  # cancelled mid-request: not reusable, closed
                raise
            return Response(self, connection)
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        for pool in self._pools.values():
            for connection in pool.idle:
                connection.close()
            pool.idle.clear()
            while pool.waiters:
                waiter = pool.waiters.popleft()
                if not waiter.done():
                    waiter.set_result(None)

    # -- the pool --------------------------------------------------------------------------
    async def _acquire(self, origin: _Origin) -> _Connection:
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = _Pool(self.max_connections)
        now = time.monotonic()
        while pool.idle:
            connection = pool.idle.pop()
            if not connection.closed and now - connection.idle_since < self.keepalive_expiry:
                connection.reused = True
                return connection
            connection.close()
            pool.count -= 1
        if pool.limit is not None and pool.count >= pool.limit:
            waiter: asyncio.Future[_Connection | None] = asyncio.get_running_loop().create_future()
            pool.waiters.append(waiter)
            try:
                async with asyncio.timeout(self.pool_timeout):
                    handed = await waiter
            except BaseException as exc:
                if waiter in pool.waiters:
                    pool.waiters.remove(waiter)
                elif waiter.done() and not waiter.cancelled():
                    # Handed a connection (or a slot) just as the wait ended: pass it on.
                    given = waiter.result()
                    if given is not None:
                        self._release(given)
                    else:
                        self._free_slot(pool)
                if isinstance(exc, TimeoutError):
                    raise PoolTimeout(
                        f"all {pool.limit} connections to {origin.host}:{origin.port} stayed "
                        f"busy for {self.pool_timeout:g}s"
                    ) from None
                raise
            if handed is not None:
                handed.reused = True
                return handed
            # None: a slot was freed (a connection closed), open a new one in it.
        else:
            pool.count += 1
        try:
            return await self._connect(origin)
        except BaseException:
            self._free_slot(pool)
            raise

    async def _connect(self, origin: _Origin) -> _Connection:
        loop = asyncio.get_running_loop()
        tls: ssl.SSLContext | None = None
        if origin.scheme == "https":
            if self._ssl is None:
                self._ssl = ssl.create_default_context()
            tls = self._ssl
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(origin),
                    origin.host,
                    origin.port,
                    ssl=tls,
                    server_hostname=origin.host if tls else None,
                )
        except TimeoutError:
            raise ConnectError(
                f"connecting to {origin.host}:{origin.port} took over {self.connect_timeout:g}s"
            ) from None
        except OSError as exc:
            raise ConnectError(
                f"cannot connect to {origin.host}:{origin.port}: {exc.strerror or exc}"
            ) from None
        self.connections_opened += 1
        return connection

    def _release(self, connection: _Connection) -> None:
        pool = self._pools[connection.origin]
        if connection.reusable:
            connection.idle_since = time.monotonic()
            if not self._wake_one(pool, connection):
                pool.idle.append(connection)
            return
        connection.close()
        self._free_slot(pool)

    def _free_slot(self, pool: _Pool) -> None:
        # A waiter, if any, opens a new connection in the freed slot.
        pool.count -= 1
        if self._wake_one(pool, None):
            pool.count += 1

    @staticmethod
    def _wake_one(pool: _Pool, connection: _Connection | None) -> bool:
        while pool.waiters:
            waiter = pool.waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return True
        return False
