"""The HTML report: self-contained, and rendered by a real headless Chromium."""

from __future__ import annotations

import asyncio
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from streamwarden.probe import ProbeConfig, Run, diagnose, render_html, run_probe
from streamwarden.probe.target import SSEServer

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)


@pytest.fixture(scope="module")
def cut_run(sse_server: SSEServer) -> Run:
    # Streams that end without their terminator, so that the waterfall has cuts to draw.
    url = sse_server.url + "/v1/chat/completions?n=12&interval=0.01&terminator=0&short=6"
    run = asyncio.run(run_probe(ProbeConfig(url=url, concurrency=(1, 3), step_duration=0.15)))
    run.diagnosis = diagnose(run)
    return run


def test_html_is_self_contained(cut_run: Run) -> None:
    page = render_html(cut_run)
    assert page.startswith("<!doctype html>")
    # Nothing to fetch: no external scripts, styles, fonts or images.
    assert not re.search(r"<(script|img|link|iframe)[^>]+(src|href)=", page)
    assert "@import" not in page and "url(" not in page
    assert page.count("<svg") == 3  # success rate, TTFT, waterfall
    assert page.count('class="row"') == len(cut_run.requests)
    assert "truncated_stream" in page


def png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_html_renders_in_headless_chromium(cut_run: Run, tmp_path: Path) -> None:
    assert CHROMIUM is not None
    html = tmp_path / "report.html"
    html.write_text(render_html(cut_run))
    png = tmp_path / "shot.png"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
    ]
    subprocess.run(
        [CHROMIUM, *flags, f"--screenshot={png}", "--window-size=1200,1600", html.as_uri()],
        check=True,
        capture_output=True,
        timeout=60,
    )
    assert png_size(png) == (1200, 1600)
    assert png.stat().st_size > 20_000  # a page with charts, not a blank one
    # The DOM after scripts ran: the waterfall is there and the script did not throw.
    dom = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", html.as_uri()],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert 'id="waterfall"' in dom and 'id="onlybad"' in dom
    assert 'data-ready="1"' in dom  # the report's script ran to its end


def test_esc_is_public_and_escapes_text_and_attributes() -> None:
    from streamwarden.probe import report

    assert "esc" in report.__all__
    assert report.esc('<b a="1">&\'') == "&lt;b a=&quot;1&quot;&gt;&amp;&#x27;"
    assert report.esc(4) == "4"
