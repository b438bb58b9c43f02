"""The upstream HTTP/1.1 client (`streamwarden.upstreams.http1`) against real loopback
servers: the pool's limit, and a kept-alive connection the server closed while it sat idle."""

from __future__ import annotations

import asyncio
import json

import pytest

from streamwarden.upstreams.http1 import ConnectError, HTTPClient, PoolTimeout

ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


async def _server(on_request: object) -> tuple[asyncio.Server, str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served = 0  # requests on this connection
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                served += 1
                await on_request(writer, served)  # type: ignore[operator]
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/x"


def test_requests_beyond_max_connections_wait_then_get_pool_timeout() -> None:
    release = asyncio.Event

    async def main() -> None:
        gate = release()

        async def slow(writer: asyncio.StreamWriter, served: int) -> None:
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nhi\r\n")
            await gate.wait()
            writer.write(b"0\r\n\r\n")

        server, url = await _server(slow)
        client = HTTPClient(max_connections=2, pool_timeout=0.3)
        first = await client.request("GET", url)
        second = await client.request("GET", url)
        with pytest.raises(PoolTimeout):
            await client.request("GET", url)
        # A slot freed while a request waits goes to that request, on the same connection.
        waiting = asyncio.create_task(client.request("GET", url))
        await asyncio.sleep(0.05)
        gate.set()
        assert await first.read() == b"hi"
        await first.aclose()
        third = await asyncio.wait_for(waiting, 5)
        assert third.status_code == 200 and await third.read() == b"hi"
        await second.aclose()
        await third.aclose()
        assert client.connections_opened == 2
        await client.aclose()
        server.close()

    asyncio.run(main())


def test_a_reused_connection_the_server_closed_is_retried_once_on_a_new_one() -> None:
    async def main() -> None:
        async def first_only(writer: asyncio.StreamWriter, served: int) -> None:
            # Keep-alive by the headers, but a second request on the connection finds it
            # closing: the race with a server's idle timeout, made certain.
            if served == 1:
                writer.write(ANSWER)
            else:
                writer.transport.abort()

        server, url = await _server(first_only)
        client = HTTPClient()
        for _ in range(3):
            response = await client.request("POST", url, content=json.dumps({}).encode())
            assert await response.read() == b"ok"
            await response.aclose()
        # Each request after the first went out on the kept connection, found it closed
        # before any answer, and was sent once more on a new one.
        assert client.connections_opened == 3
        await client.aclose()
        server.close()

    asyncio.run(main())


def test_an_unreachable_origin_is_a_connect_error() -> None:
    async def main() -> None:
        server, url = await _server(None)
        server.close()
        await server.wait_closed()
        with pytest.raises(ConnectError, match="cannot connect"):
            await HTTPClient().request("GET", url)

    asyncio.run(main())
