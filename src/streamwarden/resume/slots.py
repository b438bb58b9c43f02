"""A semaphore shared by replicas through Redis: `--global-max-streams`.

The slots are members of one sorted set scored by when their lease ends (Redis's own
clock, so replicas' clocks do not matter). Taking one first drops the lapsed ones, so the
slots of a replica that died come back within the lease; a running replica refreshes the
leases of the slots it holds.
"""

from __future__ import annotations

import uuid
from typing import Any

from streamwarden.resume.redis import RedisStore

__all__ = ["SharedSlots"]

_NOW_MS = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "

_ACQUIRE = (
    _NOW_MS
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 4)
  return 1
end
return 0
"""
)

_REFRESH = (
    _NOW_MS
    + """
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 4)
return 1
"""
)


class SharedSlots:
    """At most `limit` slots across every replica sharing `store`'s Redis."""

    def __init__(self, store: RedisStore, limit: int, name: str = "global") -> None:
        self.store = store
        self.limit = limit
        self.key = store.key("slots", name)
        self.held: set[str] = set()
        self._acquire = store.client.register_script(_ACQUIRE)
        self._refresh = store.client.register_script(_REFRESH)

    @property
    def _lease_ms(self) -> int:
        return max(int(self.store.lease * 1000), 1)

    async def acquire(self) -> str | None:
        """A slot's name, or None when all are taken. Raises `StoreError` if Redis fails."""
        member = uuid.uuid4().hex
        taken = await self.store.call(
            lambda: self._acquire(keys=[self.key], args=[self.limit, self._lease_ms, member])
        )
        if not taken:
            return None
        self.held.add(member)
        return member

    async def release(self, member: str) -> None:
        self.held.discard(member)
        await self.store.call(lambda: self.store.client.zrem(self.key, member))

    async def refresh(self) -> Any:
        if not self.held:
            return None
        members = sorted(self.held)
        return await self.store.call(
            lambda: self._refresh(keys=[self.key], args=[self._lease_ms, *members])
        )
