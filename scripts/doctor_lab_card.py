"""The path card in docs/doctor.md, measured on the lab's real stack (time scale 1:30).

    python scripts/doctor_lab_card.py [--html docs/img/doctor-card.html]

The path: limiter (cuts every connection at 6 s: 180 s at scale) -> nginx with
`proxy_read_timeout 2s` (60 s at scale) and gzip on for text/event-stream -> the canary,
mounted in a Starlette app on uvicorn with h11 (close-delimited, so nginx buffers it).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from streamwarden.cli import main as cli
from streamwarden.lab import stacks
from streamwarden.lab.stacks import Launcher

NGINX = """
proxy_read_timeout 2s;
gzip on;
gzip_types text/event-stream;
"""


def main(argv: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp, Launcher(Path(tmp)) as lab:
        app = stacks.uvicorn_app(lab, "streamwarden.lab.apps.canary:app", "canary", http="h11")
        front = stacks.total_time_limiter(lab, stacks.nginx_in_front(lab, app, NGINX), 6.0)
        url = f"http://{stacks.HOST}:{front}/_streamwarden"
        try:
            cli(
                [
                    *("doctor", url, "--token", "lab-canary", "--max-idle", "4"),
                    *("--max-total", "8", "--expect-gap", "3", "--expect-duration", "10"),
                    *("--max-concurrency", "8", *argv),
                ]
            )
        except SystemExit as exc:
            print(f"exit code {exc.code}")


if __name__ == "__main__":
    main(sys.argv[1:])
