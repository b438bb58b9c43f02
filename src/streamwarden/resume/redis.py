"""Streams in Redis, so that any replica sharing it can serve a resume.

Per stream, three keys under the prefix: `s:{id}` a Redis Stream whose entry ids are
`0-{n}` (so `XREAD` after `0-{n}` is "after event n"), `m:{id}` its owner and protocol, and
`l:{id}` the producing replica's lease, refreshed while it generates. Followers block in
`XREAD BLOCK`; a read that comes back empty checks the lease, and a lapsed lease with no end
mark is a lost stream. Every call has a deadline: a slow or absent Redis costs the store,
never a stream.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from streamwarden.resume.store import Moved, StoreError, StreamInfo, StreamLost

__all__ = ["Mirror", "RedisStore"]

_END = b"e"
_DATA = b"d"
#: The number of the first event in an entry: an entry holds the events that went up
#: together (whole SSE events, each ending in a blank line), and its id is `0-{last}`.
_FIRST = b"f"


class RedisStore:
    """`url`: `redis://…`, `rediss://…` or `unix://…`. `timeout` bounds every call; `lease`
    is how long a replica that stopped refreshing still counts as producing."""

    def __init__(
        self,
        url: str,
        *,
        ttl: float = 300.0,
        max_events: int = 100_000,
        lease: float = 5.0,
        timeout: float = 1.0,
        prefix: str = "streamwarden:",
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        self.ttl = ttl
        self.max_events = max_events
        self.lease = lease
        self.timeout = timeout
        self.prefix = prefix
        self.on_error = on_error
        #: How long one `XREAD BLOCK` waits before the lease is checked.
        self.block = max(lease / 10, 0.05)
        #: False after a failed call, True again after one that worked.
        self.healthy = True
        #: Set when this process drains: followers stop (`Moved`) at their next read.
        self.moving = False
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_timeout=self.block + timeout,
            socket_connect_timeout=timeout,
            retry_on_timeout=False,
        )

    def key(self, kind: str, stream_id: str) -> str:
        return f"{self.prefix}{kind}:{stream_id}"

    async def call(self, work: Callable[[], Any], limit: float | None = None) -> Any:
        """One round trip within its deadline; failures become `StoreError`."""
        try:
            with anyio.fail_after(limit if limit is not None else self.timeout):
                result = await work()
        except (RedisError, OSError, TimeoutError) as exc:
            self.failed(exc)
            raise StoreError(f"redis: {type(exc).__name__}: {exc}") from None
        self.healthy = True
        return result

    def failed(self, exc: Exception) -> None:
        self.healthy = False
        if self.on_error is not None:
            self.on_error(exc)

    async def ping(self) -> bool:
        try:
            await self.call(self.client.ping)
        except StoreError:
            return False
        return True

    async def aclose(self) -> None:
        with anyio.move_on_after(self.timeout):
            await self.client.aclose()

    # -- producing ------------------------------------------------------------------------
    def mirror(self, stream_id: str, info: StreamInfo, owner_id: str) -> Mirror:
        return Mirror(self, stream_id, info, owner_id)

    # -- reading --------------------------------------------------------------------------
    async def info(self, stream_id: str) -> StreamInfo | None:
        meta = await self.call(lambda: self.client.hgetall(self.key("m", stream_id)))
        if not meta or b"protocol" not in meta:
            return None
        owner = meta.get(b"owner", b"").decode() or None
        return StreamInfo(owner, meta[b"protocol"].decode())

    async def follow(self, stream_id: str, after: int) -> AsyncIterator[list[bytes]]:
        key = self.key("s", stream_id)
        after = max(after, 0)
        position = f"0-{after}"
        block_ms = max(int(self.block * 1000), 1)
        presence = 0.0
        while True:
            if self.moving:
                raise Moved(stream_id)
            now = time.monotonic()
            if now - presence > self.lease / 2:
                # Tell the producing replica that someone follows (its --resume-grace).
                await self.call(
                    lambda: self.client.set(
                        self.key("f", stream_id), b"1", px=int(self.lease * 2000)
                    )
                )
                presence = now
            streams = {key: position}
            read = await self.call(
                functools.partial(self.client.xread, streams, count=1000, block=block_ms),  # type: ignore[arg-type]
                self.block + self.timeout,
            )
            if not read:
                if not await self.call(lambda: self.client.exists(self.key("l", stream_id))):
                    # No producer: one last look, then the stream is lost.
                    last_look = functools.partial(self.client.xread, streams, count=1000)  # type: ignore[arg-type]
                    read = await self.call(last_look)
                    if not read:
                        raise StreamLost(f"stream {stream_id}: its producer went away")
                else:
                    continue
            batch: list[bytes] = []
            for entry_id, fields in read[0][1]:
                position = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                if _END in fields:
                    if batch:
                        yield batch
                    return
                data = fields[_DATA]
                first = int(fields[_FIRST])
                if first <= after:
                    # Events up to `after` are already the client's: drop them.
                    blocks = data.split(b"\n\n")[after - first + 1 : -1]
                    data = b"".join(block + b"\n\n" for block in blocks)
                after = int(position.rpartition("-")[2])
                if data:
                    batch.append(data)
            if batch:
                yield batch


class Mirror:
    """Copies one generation's events to Redis from a task of its own, so that the stream
    never waits for Redis: events queue (bounded) and go up in pipelined batches; the lease
    is refreshed while the queue is quiet. A failure ends the copy (counted, and `failed`)
    and the lease lapses, so remote followers hear `stream_lost`; local ones read on."""

    QUEUE = 4096

    def __init__(self, store: RedisStore, stream_id: str, info: StreamInfo, owner_id: str) -> None:
        self.store = store
        self.stream_id = stream_id
        self.info = info
        self.owner_id = owner_id
        self.failed = False
        self._send, self._receive = anyio.create_memory_object_stream[tuple[int, bytes | None]](
            self.QUEUE
        )

    def put(self, seq: int, data: bytes) -> None:
        self._offer((seq, data))

    def end(self, seq: int) -> None:
        self._offer((seq, None))
        self._send.close()

    def _offer(self, item: tuple[int, bytes | None]) -> None:
        if self.failed:
            return
        try:
            self._send.send_nowait(item)
        except anyio.WouldBlock:
            self._fail(StoreError("redis: too slow, the copy of this stream fell behind"))
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pass

    def _fail(self, exc: Exception) -> None:
        if not self.failed:
            self.failed = True
            self.store.failed(exc)

    async def run(self) -> None:
        store = self.store
        client = store.client
        stream_key = store.key("s", self.stream_id)
        meta_key = store.key("m", self.stream_id)
        lease_key = store.key("l", self.stream_id)
        ttl = max(math.ceil(store.ttl), 1)
        lease_ms = max(int(store.lease * 1000), 1)
        try:
            async with self._receive:

                async def begin() -> Any:
                    pipe = client.pipeline(transaction=False)
                    pipe.hset(
                        meta_key,
                        mapping={"owner": self.info.owner or "", "protocol": self.info.protocol},
                    )
                    pipe.expire(meta_key, ttl)
                    pipe.set(lease_key, self.owner_id, px=lease_ms)
                    return await pipe.execute()

                await store.call(begin)
                while True:
                    first: tuple[int, bytes | None] | None = None
                    with anyio.move_on_after(store.lease / 4):
                        try:
                            first = await self._receive.receive()
                        except anyio.EndOfStream:
                            return
                    if first is None:
                        await store.call(lambda: client.set(lease_key, self.owner_id, px=lease_ms))
                        continue
                    batch = [first]
                    while True:
                        try:
                            batch.append(self._receive.receive_nowait())
                        except (anyio.WouldBlock, anyio.EndOfStream):
                            break
                    ended = batch[-1][1] is None

                    async def write(
                        batch: list[tuple[int, bytes | None]] = batch, ended: bool = ended
                    ) -> Any:
                        pipe = client.pipeline(transaction=False)
                        # One entry for the events that came together: redis-py's cost is
                        # per command, so a busy stream pays it once per batch.
                        events = [(seq, data) for seq, data in batch if data is not None]
                        entries: list[tuple[int, dict[bytes, bytes]]] = []
                        if events:
                            joined = b"".join(data for _, data in events)
                            first = str(events[0][0]).encode()
                            entries.append((events[-1][0], {_FIRST: first, _DATA: joined}))
                        if ended:
                            entries.append((batch[-1][0], {_END: b"1"}))
                        for seq, fields in entries:
                            pipe.xadd(
                                stream_key,
                                fields,  # type: ignore[arg-type]
                                id=f"0-{seq}",
                                maxlen=store.max_events,
                                approximate=True,
                            )
                        pipe.expire(stream_key, ttl)
                        pipe.expire(meta_key, ttl)
                        if ended:
                            pipe.delete(lease_key)
                        else:
                            pipe.set(lease_key, self.owner_id, px=lease_ms)
                        return await pipe.execute()

                    await store.call(write)
                    if ended:
                        return
        except StoreError:
            self.failed = True
