"""The stream every lab app sends: paced OpenAI chunks, identical across frameworks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["DONE", "Pace", "chunk", "sse"]

_WORDS = (
    "streams hang in production when workers run out proxies buffer and timers cut the "
    "silence so every token should arrive as soon as the model makes it"
).split()

DONE = "[DONE]"


@dataclass(frozen=True, slots=True)
class Pace:
    """How one stream is paced: `tokens` chunks at `tps` per second after `ttft` seconds."""

    tokens: int = 40
    tps: float = 20.0
    ttft: float = 0.1

    @property
    def interval(self) -> float:
        return 1.0 / self.tps if self.tps > 0 else 0.0

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Pace:
        default = cls()
        return cls(
            tokens=int(query.get("tokens", default.tokens)),
            tps=float(query.get("tps", default.tps)),
            ttft=float(query.get("ttft", default.ttft)),
        )


def chunk(index: int) -> str:
    """One OpenAI `chat.completion.chunk`, as the `data:` of an SSE event."""
    word = _WORDS[index % len(_WORDS)]
    return json.dumps(
        {
            "id": "chatcmpl-lab",
            "object": "chat.completion.chunk",
            "model": "lab",
            "choices": [{"index": 0, "delta": {"content": word + " "}, "finish_reason": None}],
        },
        separators=(",", ":"),
    )


def sse(data: str) -> bytes:
    return f"data: {data}\n\n".encode()
