"""The in-process event store: order, the end mark, waking followers, bytes, LRU and TTL."""

from __future__ import annotations

import anyio
import pytest

from streamwarden.resume import MemoryStore, StreamInfo, StreamLost

INFO = StreamInfo(owner="k", protocol="openai")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def _read(store: MemoryStore, stream_id: str, after: int) -> list[bytes]:
    out: list[bytes] = []
    async for batch in store.follow(stream_id, after):
        out += batch
    return out


def test_a_follower_replays_after_its_number_and_stops_at_the_end_mark() -> None:
    async def main() -> None:
        store = MemoryStore()
        store.open("s", INFO)
        for n in range(1, 6):
            assert store.append("s", b"e%d" % n) == n
        store.end("s")
        assert await _read(store, "s", 0) == [b"e1", b"e2", b"e3", b"e4", b"e5"]
        assert await _read(store, "s", 3) == [b"e4", b"e5"]
        assert await _read(store, "s", 9) == []
        assert store.append("s", b"late") == 0  # nothing after the end mark

    anyio.run(main)


def test_a_waiting_follower_wakes_on_each_event_without_polling() -> None:
    async def main() -> None:
        store = MemoryStore()
        store.open("s", INFO)
        seen: list[list[bytes]] = []

        async def follow() -> None:
            async for batch in store.follow("s", 0):
                seen.append(batch)

        async with anyio.create_task_group() as tg:
            tg.start_soon(follow)
            await anyio.wait_all_tasks_blocked()
            assert seen == []  # blocked on the store, not spinning
            store.append("s", b"a")
            await anyio.wait_all_tasks_blocked()
            assert seen == [[b"a"]]
            store.append("s", b"b")
            store.append("s", b"c")
            store.end("s")
        assert seen == [[b"a"], [b"b", b"c"]]

    anyio.run(main)


def test_the_least_recently_used_stream_goes_first_and_its_follower_hears_it() -> None:
    async def main() -> None:
        store = MemoryStore(max_bytes=10)
        store.open("old", INFO)
        store.append("old", b"12345")
        store.open("new", INFO)
        store.append("new", b"1234")
        outcome: list[str] = []

        async def follow_old() -> None:
            try:
                await _read(store, "old", 1)
            except StreamLost:
                outcome.append("lost")

        async with anyio.create_task_group() as tg:
            tg.start_soon(follow_old)
            await anyio.wait_all_tasks_blocked()
            store.append("new", b"56")  # 11 bytes: "old" is evicted
        assert outcome == ["lost"]
        assert await store.info("old") is None and await store.info("new") == INFO
        assert store.size == 6

    anyio.run(main)


def test_streams_expire_ttl_seconds_after_their_last_event() -> None:
    async def main() -> None:
        clock = Clock()
        store = MemoryStore(ttl=10, clock=clock)
        store.open("s", INFO)
        store.append("s", b"x")
        store.end("s")
        clock.now = 9.9
        assert await store.info("s") == INFO
        clock.now = 10.1
        assert await store.info("s") is None
        assert store.size == 0 and len(store) == 0

    anyio.run(main)


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError):
        MemoryStore(max_bytes=0)
