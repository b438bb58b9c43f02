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
    assert page.count("<svg") == 4  # success rate, TTFT, ITL, waterfall
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


def _flags(tmp_path: Path) -> list[str]:
    return [
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


def _many_outcomes_run() -> Run:
    """A long synthetic run: three steps, every outcome, far more streams than are drawn."""
    from streamwarden.probe.timeline import RequestRecord, Step

    steps = [
        Step(i, concurrency=c, started_ms=i * 1000.0, ended_ms=(i + 1) * 1000.0)
        for i, c in enumerate((1, 8, 64))
    ]
    reqs = []
    outcomes = ["ok"] * 12 + ["truncated", "http_error", "connect_error", "client_timeout"]
    for step in steps:
        for n in range(150):
            outcome = outcomes[n % len(outcomes)]
            served = outcome in ("ok", "truncated", "client_timeout")
            reads = (
                [(5.0, 40, 0, 1), (50.0, 100, 1, 0), (300.0, 20, 0, 1), (400.0, 900, 6, 0)]
                if served
                else []
            )
            reqs.append(
                RequestRecord(
                    step.index,
                    step.started_ms + n * 5.0,
                    status=200 if served else (503 if outcome == "http_error" else None),
                    ttfb_ms=5.0 if served else None,
                    ttft_ms=50.0 if served else None,
                    end_ms=450.0,
                    outcome=outcome,
                    content_events=7 if served else 0,
                    reads=reads,
                )
            )
    return Run("http://127.0.0.1:1/v1/chat/completions", steps=steps, requests=reqs)


def test_the_waterfall_samples_every_step_and_outcome() -> None:
    from streamwarden.probe.report import pick_streams

    run = _many_outcomes_run()
    picked = pick_streams(run, 200)
    assert len(picked) == 200
    assert {r.step for r in picked} == {0, 1, 2}
    failures = [r for r in run.requests if not r.succeeded]
    assert all(r in picked for r in failures)  # every failure fits: all are drawn
    assert {r.outcome for r in picked} == {r.outcome for r in run.requests}


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_legend_matches_the_marks_in_headless_chromium(tmp_path: Path) -> None:
    assert CHROMIUM is not None
    html = tmp_path / "report.html"
    run = _many_outcomes_run()
    html.write_text(render_html(run))
    dom = subprocess.run(
        [CHROMIUM, *_flags(tmp_path), "--dump-dom", html.as_uri()],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert 'data-ready="1"' in dom
    svg = dom[dom.index('<svg id="waterfall"') :]
    drawn = set(re.findall(r'class="(m-[a-z]+)"', svg))
    legend = set(re.findall(r"data-mark=\"(m-[a-z]+)\"", dom))
    # Every kind of mark the chart draws has its own legend entry, and nothing else does.
    assert drawn == legend, (drawn, legend)
    assert {"m-open", "m-beat", "m-http", "m-connect", "m-timeout", "m-cut", "m-ok"} <= drawn
    assert f"showing 200 of {len(run.requests)} streams" in dom
    assert dom.count("<option value=") == len(run.steps) + 1  # all, then one per step
    # Each mark class has one colour, the legend's.
    from streamwarden.probe.report import MARKS

    for cls in drawn:
        colors = set(re.findall(rf'class="{cls}"[^>]*?(?:fill|stroke)="(#[0-9a-f]{{6}})"', svg))
        assert colors == {MARKS[cls][0]}, (cls, colors)
    for width in (1400, 800):
        png = tmp_path / f"report-{width}.png"
        subprocess.run(
            [
                CHROMIUM,
                *_flags(tmp_path),
                f"--screenshot={png}",
                f"--window-size={width},1800",
                html.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        assert png_size(png) == (width, 1800) and png.stat().st_size > 20_000
