"""The simulated model: the embedded default upstream.

Deterministic for a given seed, with controls for time to first token, token rate, a
silent pause (a model "thinking") and an upstream failure mid-stream.
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import anyio

from streamwarden.upstreams.base import ChatRequest, Finish, TextDelta, UpstreamError, UpstreamItem

__all__ = ["WORDS", "SimCaps", "SimParams", "SimUpstream", "sim_tokens", "word"]

#: The simulated model's vocabulary: the gateway's sim, the lab's apps, the benchmarks and
#: the demo target all speak it.
WORDS = (
    "the stream keeps flowing while proxies wait for bytes and every token arrives on time "
    "because heartbeats feed idle timers and buffers stay empty so users see answers grow "
    "word by word instead of staring at a spinner until the whole reply lands at once"
).split()

SIM_MODEL = "sim-1"


def word(index: int) -> str:
    """The `index`th word of a fixed, repeating text: for apps that pace tokens themselves."""
    return WORDS[index % len(WORDS)]


@dataclass(frozen=True, slots=True)
class SimParams:
    """Controls of the simulated model. `tps <= 0` means as fast as possible."""

    ttft: float = 0.2
    tokens: int = 64
    tps: float = 50.0
    pause_after: int | None = None
    pause: float = 0.0
    fail_after: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.ttft < 0 or self.pause < 0:
            raise ValueError("sim.ttft and sim.pause must be >= 0")
        if self.tokens < 0:
            raise ValueError("sim.tokens must be >= 0")
        for name in ("pause_after", "fail_after"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"sim.{name} must be >= 0")

    def override(self, values: Mapping[str, Any]) -> SimParams:
        """These defaults, overridden by a request's `sim` object. Unknown keys are errors."""
        known = {f.name: f.type for f in fields(self)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(
                f"unknown sim field(s): {', '.join(unknown)}; known: {', '.join(known)}"
            )
        clean: dict[str, Any] = {}
        for key, value in values.items():
            if value is None and key in ("pause_after", "fail_after"):
                clean[key] = None
                continue
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"sim.{key} must be a number, got {value!r}")
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"sim.{key} must be a finite number, got {value!r}")
            is_int = key in ("tokens", "pause_after", "fail_after", "seed")
            clean[key] = int(value) if is_int else float(value)
        return replace(self, **clean)


@dataclass(frozen=True, slots=True)
class SimCaps:
    """Server-side bounds on what one request may ask of the simulated model, so that no
    request can hold a slot for long or make the server build a huge answer."""

    #: Most tokens one answer may have (`--sim-max-tokens`).
    max_tokens: int = 10_000
    #: Slowest token rate a request may ask for, in tokens per second (0, full speed, is fine).
    min_tps: float = 1.0
    #: Longest `ttft` or `pause` a request may ask for, in seconds (`--sim-max-pause`).
    max_pause: float = 300.0

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise ValueError(f"--sim-max-tokens must be >= 1, got {self.max_tokens}")
        if not (math.isfinite(self.min_tps) and self.min_tps >= 0):
            raise ValueError(f"--sim-min-tps must be >= 0, got {self.min_tps:g}")
        if not (math.isfinite(self.max_pause) and self.max_pause >= 0):
            raise ValueError(f"--sim-max-pause must be >= 0, got {self.max_pause:g}")

    def check(self, params: SimParams) -> None:
        """Raise ValueError (a client mistake) for a request past these caps."""
        if params.tokens > self.max_tokens:
            raise ValueError(
                f"sim.tokens is {params.tokens}; this server allows at most {self.max_tokens} "
                "(--sim-max-tokens)"
            )
        if 0 < params.tps < self.min_tps:
            raise ValueError(
                f"sim.tps is {params.tps:g}; this server allows 0 (full speed) or at least "
                f"{self.min_tps:g} (--sim-min-tps)"
            )
        for name in ("ttft", "pause"):
            value = getattr(params, name)
            if value > self.max_pause:
                raise ValueError(
                    f"sim.{name} is {value:g}s; this server allows at most {self.max_pause:g}s "
                    "(--sim-max-pause)"
                )


async def sim_tokens(
    params: SimParams, sleep: Callable[[float], Awaitable[None]] = anyio.sleep
) -> AsyncGenerator[str, None]:
    """The simulated model's tokens, paced as `params` says."""
    rng = random.Random(params.seed)
    interval = 1.0 / params.tps if params.tps > 0 else 0.0
    if params.ttft:
        await sleep(params.ttft)
    for index in range(params.tokens):
        if index == params.fail_after:
            raise UpstreamError(f"simulated upstream failure after {index} tokens")
        if (
            index
            and params.pause_after is not None
            and index == params.pause_after
            and params.pause
        ):
            await sleep(params.pause)
        elif index and interval:
            await sleep(interval)
        elif index % 64 == 0:
            # Full speed still yields to the loop now and then, so one fast stream
            # cannot starve the others' heartbeats.
            await sleep(0)
        token = rng.choice(WORDS)
        yield token if index == 0 else " " + token
    if params.fail_after == params.tokens:
        raise UpstreamError(f"simulated upstream failure after {params.tokens} tokens")


class SimUpstream:
    """The upstream that needs no network: `--upstream sim`."""

    name = "sim"

    def __init__(self, defaults: SimParams | None = None, caps: SimCaps | None = None) -> None:
        self.defaults = defaults or SimParams()
        self.caps = caps or SimCaps()

    def models(self) -> list[str]:
        return [SIM_MODEL]

    async def list_models(self) -> list[str]:
        return self.models()

    def params_for(self, request: ChatRequest) -> SimParams:
        if not request.sim:
            params = self.defaults
        else:
            params = self.defaults.override(request.sim)
            self.caps.check(params)
        if request.max_tokens is not None and request.max_tokens < params.tokens:
            params = replace(params, tokens=request.max_tokens)
        return params

    async def open(self, request: ChatRequest) -> AsyncGenerator[UpstreamItem, None]:
        if request.model not in self.models():
            raise UpstreamError(
                f"model {request.model!r} does not exist; this gateway serves: {', '.join(self.models())}",
                status=404,
                kind="model_not_found",
            )
        try:
            params = self.params_for(request)
        except ValueError as exc:
            raise UpstreamError(str(exc), status=400, kind="invalid_request") from None
        return self._stream(request, params)

    async def _stream(
        self, request: ChatRequest, params: SimParams
    ) -> AsyncGenerator[UpstreamItem, None]:
        count = 0
        tokens = sim_tokens(params)
        try:
            async for token in tokens:
                count += 1
                yield TextDelta(token)
        finally:
            await tokens.aclose()
        prompt = sum(len(str(m.get("content", "")).split()) for m in request.messages)
        reason = (
            "length" if request.max_tokens is not None and count >= request.max_tokens else "stop"
        )
        yield Finish(reason=reason, input_tokens=prompt, output_tokens=count)

    async def aclose(self) -> None:
        return None
