"""The stream every lab app sends: paced OpenAI chunks of the simulated model's words,
identical across frameworks."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from streamwarden.protocols.openai import DONE, chunk_json
from streamwarden.upstreams.sim import word

__all__ = ["DONE", "Pace", "chunk", "sse"]


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
    """The `index`th OpenAI `chat.completion.chunk`, as the `data:` of an SSE event."""
    return chunk_json("chatcmpl-lab", 0, "lab", {"content": word(index) + " "}, None)


def sse(data: str) -> bytes:
    return f"data: {data}\n\n".encode()
