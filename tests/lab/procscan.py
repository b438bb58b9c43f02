"""Scanners of Linux /proc for the lab's teardown tests: what a lab run left running."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["live_session_members", "processes_referring_to"]


def live_session_members(session_ids: Iterable[int]) -> list[tuple[int, str]]:
    """`(pid, command name)` of every live process in one of these sessions (Linux /proc).

    A ManagedProcess leads its own session, so its pid is the session id of everything it
    started: workers, helpers, grandchildren. Zombies count as gone.
    """
    wanted = set(session_ids)
    found: list[tuple[int, str]] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The name is in parentheses and may hold spaces; the fields after it are plain.
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        state, session = fields[0], int(fields[3])
        if session in wanted and state not in ("Z", "X"):
            found.append((int(entry.name), name))
    return found


def processes_referring_to(text: str) -> list[tuple[int, str]]:
    """`(pid, command name)` of every live process of this user whose command line or
    environment contains `text` (a unique folder): how a test finds what a lab run, even in
    another process, left behind. nginx overwrites its environment with its process title,
    but the title keeps its `-p` folder; the lab's other processes carry `LAB_ENV`."""
    needle = text.encode()
    found: list[tuple[int, str]] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            seen = (entry / "cmdline").read_bytes() + b"\0" + (entry / "environ").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone, or another user's
        state = stat[stat.rindex(")") + 2 :].split()[0]
        if needle in seen and state not in ("Z", "X"):
            found.append((int(entry.name), stat[stat.index("(") + 1 : stat.rindex(")")]))
    return found
