"""What each request sends: one body, a file of bodies, and sizes drawn from templates.

`--bodies FILE.jsonl` holds one JSON request body a line; requests take them in order,
cycling, or at random with `--seed`. Any body may hold templates, expanded per request, for
synthetic sweeps of prompt length and answer length:

- `{{words N}}` or `{{words A-B}}`: N (or between A and B) words of filler text, about one
  token each: a prompt of that length;
- `{{int A-B}}`: an integer between A and B, e.g. `"max_tokens": {{int 64-512}}`.

Pure but for reading the file: `load_bodies` at the edge, `Workload` in the middle.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["TEMPLATE", "Workload", "WorkloadError", "load_bodies"]

TEMPLATE = re.compile(rb"\{\{\s*(words|int)\s+(\d+)(?:\s*-\s*(\d+))?\s*\}\}")
_WORDS = (
    b"the quick brown fox jumps over a lazy dog while streams of tokens flow through "
    b"every proxy and worker on their way to the client"
).split()


class WorkloadError(ValueError):
    """A body file or template that cannot be used; the message says where and why."""


def load_bodies(path: Path) -> list[bytes]:
    """The non-blank lines of a JSONL file, each checked to be a JSON object (templates
    may stand where a number or a string goes)."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise WorkloadError(f"cannot read --bodies file {str(path)!r}: {exc.strerror}") from None
    bodies = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(TEMPLATE.sub(b"0", line))
        except ValueError as exc:
            raise WorkloadError(f"{path}:{number} is not JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise WorkloadError(f"{path}:{number} must be a JSON object (one request body)")
        bodies.append(line)
    if not bodies:
        raise WorkloadError(f"--bodies file {str(path)!r} holds no bodies")
    return bodies


@dataclass(frozen=True, slots=True)
class _Part:
    literal: bytes
    kind: bytes = b""
    low: int = 0
    high: int = 0


def _compile(body: bytes) -> list[_Part]:
    parts: list[_Part] = []
    at = 0
    for m in TEMPLATE.finditer(body):
        low = int(m.group(2))
        high = int(m.group(3)) if m.group(3) is not None else low
        if high < low:
            raise WorkloadError(f"template {m.group(0).decode()!r}: the range runs backwards")
        parts.append(_Part(body[at : m.start()], m.group(1), low, high))
        at = m.end()
    parts.append(_Part(body[at:]))
    return parts


class Workload:
    """Hands out the body of each request in turn."""

    def __init__(self, bodies: Sequence[bytes], seed: int | None = None) -> None:
        if not bodies:
            raise WorkloadError("a workload needs at least one body")
        self._bodies = [_compile(b) for b in bodies]
        self._plain = [
            b if len(p) == 1 else None for b, p in zip(bodies, self._bodies, strict=True)
        ]
        self._rng = random.Random(seed)
        self._sample = seed is not None
        self._next = 0

    @property
    def varies(self) -> bool:
        """False when every request sends the same bytes: the request can be built once."""
        return len(self._bodies) > 1 or self._plain[0] is None

    def next(self) -> bytes:
        if self._sample:
            index = self._rng.randrange(len(self._bodies))
        else:
            index = self._next
            self._next = (index + 1) % len(self._bodies)
        plain = self._plain[index]
        return plain if plain is not None else self._expand(self._bodies[index])

    def _expand(self, parts: list[_Part]) -> bytes:
        out = []
        for part in parts:
            out.append(part.literal)
            if not part.kind:
                continue
            n = part.low if part.low == part.high else self._rng.randint(part.low, part.high)
            if part.kind == b"int":
                out.append(str(n).encode())
            else:
                out.append(b" ".join(_WORDS[i % len(_WORDS)] for i in range(n)))
        return b"".join(out)
