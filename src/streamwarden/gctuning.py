"""The garbage collector's settings for the long runs of the gateway and the probe.

Both allocate many objects that live long and form no cycles (the gateway's per-stream state,
the probe's row per socket read). With the default thresholds the collector keeps walking
them: young passes pause every stream, and full passes over everything loaded at start-up
repeat for nothing. Freezing what exists before the run and raising the young threshold makes
collections rare, which is safe because the guard and the probe leave no cycles behind.
docs/BENCHMARKS.md has the measurements.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

__all__ = ["THRESHOLDS", "fewer_collections"]

#: Young, middle and old generation thresholds while a run lasts.
THRESHOLDS = (50_000, 20, 1000)


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Freeze what is alive now and collect less often; restore both on the way out, since
    the commands also run in-process (tests, scripts)."""
    threshold = gc.get_threshold()
    # `unfreeze` thaws everything: only thaw when nothing was frozen before us.
    ours = gc.get_freeze_count() == 0
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        if ours:
            gc.unfreeze()
