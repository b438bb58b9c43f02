"""A semaphore shared by replicas through Redis: `--global-max-streams`.

The slots are members of one sorted set scored by when their lease ends (Redis's own
clock, so replicas' clocks do not matter). Taking one first drops the lapsed ones, so the
slots of a replica that died come back within the lease; a running replica refreshes the
leases of the slots it holds.
"""

from __future__ import annotations

import functools
import uuid

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
    """Named semaphores across every replica sharing `store`'s Redis: `global` (at most
    `--global-max-streams`) and one per API key (`--key-max-streams`)."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        #: Slot names held by this replica, by semaphore.
        self.held: dict[str, set[str]] = {}
        self._acquire = store.client.register_script(_ACQUIRE)
        self._refresh = store.client.register_script(_REFRESH)

    @property
    def _lease_ms(self) -> int:
        return max(int(self.store.lease * 1000), 1)

    def key(self, name: str) -> str:
        return self.store.key("slots", name)

    async def acquire(self, name: str, limit: int) -> str | None:
        """A slot of semaphore `name`, or None when all `limit` are taken. Raises
        `StoreError` if Redis fails."""
        member = uuid.uuid4().hex
        taken = await self.store.call(
            lambda: self._acquire(keys=[self.key(name)], args=[limit, self._lease_ms, member])
        )
        if not taken:
            return None
        self.held.setdefault(name, set()).add(member)
        return member

    def forget(self, name: str, member: str) -> None:
        """Stop refreshing a slot (its release follows)."""
        held = self.held.get(name)
        if held is not None:
            held.discard(member)
            if not held:
                del self.held[name]

    async def release(self, name: str, member: str) -> None:
        self.forget(name, member)
        await self.store.call(lambda: self.store.client.zrem(self.key(name), member))

    async def refresh(self) -> None:
        for name, held in list(self.held.items()):
            members = sorted(held)
            if members:
                refresh = functools.partial(
                    self._refresh, keys=[self.key(name)], args=[self._lease_ms, *members]
                )
                await self.store.call(refresh)
