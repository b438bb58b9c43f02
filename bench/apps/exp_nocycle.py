"""Experiment for the lead engineer, not a product row: the guard with its helper tasks
ending quietly when the run tears them down, instead of dying of CancelledError.

Why: anyio's task-group `task_done` callback binds the CancelledError of a cancelled child
in its own frame, which is on that exception's traceback: a reference cycle per cancelled
task, holding the finished stream's frames and objects until the cyclic GC runs. The guard
cancels 2 helpers per stream (3 in the gateway, with the shutdown watcher). This module
patches `_StreamRun` at import (src/ is not edited) to measure what the fix would buy.

    uvicorn exp_nocycle:guard_app      # the bench guard app, patched
    uvicorn exp_nocycle:gateway_app    # the gateway's create_app(), patched

With BENCH_GC="T0,T1,T2" it also freezes the start-up objects and sets those GC thresholds,
the second half of the proposed fix (a rare full collection is only safe without the cycles).
"""

from __future__ import annotations

import functools
import gc
import os
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from guard_app import app as guard_app
from starlette.applications import Starlette

from streamwarden import guard
from streamwarden.gateway.app import create_app
from streamwarden.gateway.settings import GatewaySettings


def _quiet(
    method: Callable[..., Awaitable[Any]],
) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(method)
    async def wrapper(self: Any, *args: Any) -> Any:
        try:
            return await method(self, *args)
        except anyio.get_cancelled_exc_class():
            # Our own teardown (the stream has an outcome): end normally, so no exception
            # reaches the task group. A cancel from outside (server stop) still propagates.
            if self.outcome is not None:
                return None
            raise

    return wrapper


for _name in ("_watch_client", "_watchdog", "_watch_shutdown"):
    setattr(guard._StreamRun, _name, _quiet(getattr(guard._StreamRun, _name)))

gateway_app: Starlette = create_app(GatewaySettings())

if os.environ.get("BENCH_GC"):
    gc.collect()
    gc.freeze()  # start-up objects live forever: keep them out of every full collection
    t0, t1, t2 = (int(x) for x in os.environ["BENCH_GC"].split(","))
    gc.set_threshold(t0, t1, t2)
__all__ = ["gateway_app", "guard_app"]
