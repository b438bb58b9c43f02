"""Generate docs/img/probe-report.png: a real probe run through a default nginx, rendered
as the HTML report and photographed by headless Chromium.

    .venv/bin/python bench/probe_screenshot.py [--out docs/img/probe-report.png]

The stack: the SSE target (`streamwarden.probe.target`) behind nginx 1.22 with its defaults
(proxy_buffering on) and `proxy_read_timeout 1s`, streams of 60 OpenAI-sized chunks with a
1.5 s "thinking" pause after the 45th, so the waterfall shows 4 KB bursts and idle cuts.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from streamwarden.probe import ProbeConfig, Thresholds, diagnose, run_probe, write_html, write_json
from streamwarden.probe.report import print_summary
from streamwarden.probe.target import SSEServer
from streamwarden.procs import free_port, start_nginx

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def screenshot(html: Path, png: Path, size: str = "1400,2300") -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                f"--screenshot={png}",
                f"--window-size={size}",
                html.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("docs/img/probe-report.png"))
    parser.add_argument("--keep", type=Path, help="also keep the run's JSON and HTML here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, SSEServer() as server:
        work = Path(args.keep or tmp)
        work.mkdir(parents=True, exist_ok=True)
        port = free_port()
        http = f"""
        server {{
            listen 127.0.0.1:{port};
            location / {{ proxy_pass http://127.0.0.1:{server.port}; proxy_read_timeout 1s; }}
        }}"""
        nginx = start_nginx(work / "nginx", http, port)
        try:
            url = (
                f"http://127.0.0.1:{port}/v1/chat/completions"
                "?n=60&interval=0.02&pad=120&pause_after=45&pause=1.5&short=20"
            )
            config = ProbeConfig(url=url, concurrency=(1, 4, 8), step_duration=1.5)
            run = asyncio.run(run_probe(config))
        finally:
            nginx.stop()
        run.diagnosis = diagnose(run, Thresholds().scaled(0.05))
        print_summary(run)
        write_json(run, work / "run.json")
        write_html(run, work / "report.html")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        screenshot(work / "report.html", args.out)
        print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
