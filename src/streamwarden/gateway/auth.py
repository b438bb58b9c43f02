"""API keys: `Authorization: Bearer KEY` or `x-api-key: KEY`. Keys are never logged, only hashed."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from starlette.datastructures import Headers

__all__ = ["KeyRing", "hash_key"]


def hash_key(key: str) -> str:
    """A short, stable, non-reversible label for a key, for logs and per-key limits."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def presented_key(headers: Headers) -> str | None:
    auth = headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    key = headers.get("x-api-key")
    return key.strip() if key else None


class KeyRing:
    def __init__(self, keys: Iterable[str] = ()) -> None:
        self._keys = [k.encode() for k in keys if k]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def check(self, headers: Headers) -> tuple[bool, str | None]:
        """(allowed, hashed key). With no keys configured, everyone is allowed, unlabelled."""
        key = presented_key(headers)
        if not self._keys:
            return True, hash_key(key) if key else None
        if key is None:
            return False, None
        # Compare against every key in constant time, so timing does not reveal a prefix.
        matched = False
        for known in self._keys:
            matched |= hmac.compare_digest(known, key.encode())
        return matched, hash_key(key) if matched else None
