"""The stream limits every part assumes unless told otherwise, in one place.

The guard's and the gateway's `max_duration`, the linter's `--max-duration` and the timeouts
`streamwarden config` writes all come from here, so a config the linter passes fits the streams
the guard lets through.
"""

from __future__ import annotations

__all__ = ["HEARTBEAT", "IDLE_TIMEOUT", "MAX_DURATION"]

#: Seconds between heartbeats (`: keepalive`): the longest silence a stream should show.
HEARTBEAT = 15.0
#: The longest stream, in seconds: the guard ends a stream then; total timeouts must exceed it.
MAX_DURATION = 900.0
#: An idle timeout for proxies in front of streams: well above twice the heartbeat.
IDLE_TIMEOUT = 300
