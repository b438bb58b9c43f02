"""Helpers shared by the linter tests (a plain module: tests/lint is not a package)."""

from __future__ import annotations

import os
import re
import shutil
import socket
from pathlib import Path

CORPUS = Path(__file__).parent / "corpus"
_EXPECT = re.compile(r"expect(-next)?:\s*([a-z0-9/,\s-]+)")


def expected_in(*files: Path) -> set[tuple[str, int, str]]:
    """(absolute file, line, rule) for every `expect: rule, rule` marker in the files."""
    out: set[tuple[str, int, str]] = set()
    for file in files:
        for number, line in enumerate(file.read_text().splitlines(), start=1):
            match = _EXPECT.search(line)
            if match:
                # `expect-next:` marks the line below (a line that cannot hold a comment).
                at = number + 1 if match.group(1) else number
                for rule in match.group(2).split(","):
                    if rule.strip():
                        out.add((str(file.resolve()), at, rule.strip()))
    return out


def find_binary(name: str) -> str | None:
    return shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/local/sbin/{name}") if os.access(p, os.X_OK)),
        None,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
