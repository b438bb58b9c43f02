"""The report of a run: terminal summary (rich), JSON, and one self-contained HTML file.

The HTML has no external references (no CDN, no fonts): inline CSS, SVG drawn here, and a
few lines of JS, so that it opens offline and can be attached to a ticket.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from streamwarden.findings import Finding
from streamwarden.probe.timeline import FAILED_OUTCOMES, RequestRecord, Run

__all__ = [
    "REPORT_CSS",
    "esc",
    "finding_html",
    "print_summary",
    "render_html",
    "waterfall_svg",
    "write_html",
    "write_json",
]

_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}
_MARK = {"error": "✗", "warning": "!", "info": "i"}


def write_json(run: Run, path: str | Path) -> None:
    # Compact: a run holds one row per socket read, and indenting them costs more CPU than
    # the run itself took to record them (`python -m json.tool` pretty-prints it).
    with Path(path).open("w", encoding="utf-8") as out:
        run.dump(out)


def _ms(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    value = float(value)
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _evidence(evidence: Mapping[str, Any]) -> str:
    parts = []
    for key, value in evidence.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        parts.append(f"{key}={value}")
    return "  ".join(parts)


def print_summary(run: Run, console: Console | None = None) -> None:
    """A table per step, then the findings with their fixes."""
    console = console or Console()
    fmt = sorted({r.format for r in run.requests if r.format}) or ["?"]
    console.print(
        Text.assemble(("streamwarden probe ", "bold"), run.target, (f"  ({'/'.join(fmt)})", "dim"))
    )
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    summaries = [step.summary(run.requests) for step in run.steps]
    # Open loop: how late arrivals started, so that coordinated omission shows.
    open_loop = any(s["schedule_lag_ms"] for s in summaries)
    columns = ["step", "reqs", "ok", "TTFB p50/p99 ms", "TTFT p50/p99 ms", "gap p99 ms"]
    columns += ["lag p50/max ms"] if open_loop else []
    for name in [*columns, "ends"]:
        table.add_column(name, justify="left" if name in ("step", "ends") else "right")
    for step, s in zip(run.steps, summaries, strict=True):
        rate = s["success_rate"]
        ok_style = "green" if rate == 1 else "red" if rate is not None and rate < 0.9 else "yellow"
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(s["outcomes"].items()))
        cells: list[str | Text] = [
            step.label,
            str(s["requests"]),
            Text("-" if rate is None else f"{100 * rate:.0f}%", style=ok_style),
            f"{_ms(s['ttfb_ms']['p50'])} / {_ms(s['ttfb_ms']['p99'])}",
            f"{_ms(s['ttft_ms']['p50'])} / {_ms(s['ttft_ms']['p99'])}",
            _ms(s["max_gap_ms"]["p99"]),
        ]
        if open_loop:
            lag = s["schedule_lag_ms"] or {}
            cells.append(f"{_ms(lag.get('p50'))} / {_ms(lag.get('max'))}")
        table.add_row(*cells, outcomes)
    console.print(table)
    console.print()
    if not run.diagnosis:
        console.print(Text("✓ no findings: streams arrived whole and on time", style="green"))
        return
    for f in run.diagnosis:
        style = _STYLE.get(f.severity, "")
        console.print(
            Text.assemble((f"{_MARK.get(f.severity, '-')} {f.severity:<7} ", style), (f.id, "bold"))
        )
        # Padding keeps wrapped lines indented under their finding.
        console.print(Padding(Text(f.summary), (0, 0, 0, 2), expand=False))
        console.print(
            Padding(Text("evidence: " + _evidence(f.evidence), style="dim"), (0, 0, 0, 2))
        )
        console.print(Padding(Text("fix: " + f.fix, style="green"), (0, 0, 0, 2), expand=False))


# -- HTML ----------------------------------------------------------------------------------

REPORT_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d232b;
background:#fafbfc}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.sub{color:#5b6570;margin-bottom:16px}
table{border-collapse:collapse;background:#fff}td,th{padding:4px 10px;border-bottom:1px solid #e3e7eb;
text-align:right}th{background:#f0f3f6}td:first-child,th:first-child,td.l{text-align:left}
.f{background:#fff;border:1px solid #e3e7eb;border-left:5px solid #888;padding:8px 12px;margin:8px 0;
max-width:1100px}.f.error{border-left-color:#d1242f}.f.warning{border-left-color:#d4a72c}
.f.info{border-left-color:#0969da}.f .id{font-weight:600}.f .sev{text-transform:uppercase;
font-size:11px;font-weight:700;margin-right:8px}.f.error .sev{color:#d1242f}
.f.warning .sev{color:#9a6700}.f .ev{font:12px ui-monospace,monospace;color:#3d4650;margin:4px 0}
.f .fix{color:#1a7f37}.ok{color:#1a7f37}.bad{color:#d1242f}
.charts{display:flex;gap:16px;flex-wrap:wrap}.card{background:#fff;border:1px solid #e3e7eb;
padding:8px}svg text{font:11px system-ui,sans-serif;fill:#3d4650}
.legend span{display:inline-block;margin-right:14px;font-size:12px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:-1px}
label{font-size:13px}
"""

_JS = """
document.getElementById('onlybad').addEventListener('change', function (e) {
  document.querySelectorAll('#waterfall g.row').forEach(function (g) {
    g.style.display = (e.target.checked && g.dataset.ok === '1') ? 'none' : '';
  });
});
document.documentElement.setAttribute('data-ready', '1');
"""

_OUTCOME_COLOR = {
    "ok": "#1a7f37",
    "http_error": "#8250df",
    "connect_error": "#8250df",
    "client_timeout": "#bc4c00",
}


def esc(value: object) -> str:
    """`value` as text safe in HTML content and in quoted attributes."""
    return html.escape(str(value), quote=True)


def _nice_max(value: float) -> float:
    if value <= 0 or math.isnan(value):
        return 1.0
    exp = 10.0 ** math.floor(math.log10(value))
    for m in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= m * exp:
            return m * exp
    return 10.0 * exp


def _line_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, str, Sequence[float | None]]],
    y_max: float | None = None,
    unit: str = "",
) -> str:
    w, h, left, right, top, bottom = 420, 250, 56, 12, 28, 48
    pw, ph = w - left - right, h - top - bottom
    values = [v for _, _, vs in series for v in vs if v is not None and not math.isnan(v)]
    top_value = y_max if y_max is not None else _nice_max(max(values, default=1.0))
    n = max(len(labels), 1)

    def x(i: int) -> float:
        return left + (pw * (i + 0.5) / n)

    def y(v: float) -> float:
        return top + ph - ph * min(v, top_value) / top_value

    out = [f'<svg width="{w}" height="{h}" role="img" aria-label="{esc(title)}">']
    out.append(f'<text x="{left}" y="16" style="font-weight:600">{esc(title)}</text>')
    for k in range(5):
        v = top_value * k / 4
        yy = y(v)
        out.append(
            f'<line x1="{left}" x2="{w - right}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#e3e7eb"/>'
        )
        out.append(
            f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">{v:g}{esc(unit)}</text>'
        )
    for i, label in enumerate(labels):
        out.append(f'<text x="{x(i):.1f}" y="{h - 30}" text-anchor="middle">{esc(label)}</text>')
    for name, color, vs in series:
        pts = [(x(i), y(v)) for i, v in enumerate(vs) if v is not None and not math.isnan(v)]
        if len(pts) > 1:
            path = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for (px, py), v in zip(
            pts, [v for v in vs if v is not None and not math.isnan(v)], strict=False
        ):
            out.append(
                f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{color}">'
                f"<title>{esc(name)}: {v:.4g}{esc(unit)}</title></circle>"
            )
    lx = left
    for name, color, _ in series:
        out.append(f'<rect x="{lx}" y="{h - 10}" width="10" height="3" fill="{color}"/>')
        out.append(f'<text x="{lx + 14}" y="{h - 6}">{esc(name)}</text>')
        lx += 14 + 7 * len(name) + 16
    out.append("</svg>")
    return "".join(out)


def _pick_streams(run: Run, limit: int) -> list[RequestRecord]:
    """All streams when few; otherwise every failure first, then an even sample per step."""
    reqs = sorted(run.requests, key=lambda r: r.start_ms)
    if len(reqs) <= limit:
        return reqs
    bad = [r for r in reqs if not r.succeeded][: limit // 2]
    good = [r for r in reqs if r.succeeded]
    room = limit - len(bad)
    stride = max(1, math.ceil(len(good) / max(room, 1)))
    return sorted(bad + good[::stride][:room], key=lambda r: r.start_ms)


def waterfall_svg(run: Run, burst_events: int = 4, limit: int = 120) -> str:
    streams = _pick_streams(run, limit)
    if not streams:
        return "<p>No requests.</p>"
    t_end = max(r.start_ms + (r.end_ms or 0.0) for r in streams)
    t_start = min(r.start_ms for r in streams)
    span = max(t_end - t_start, 1.0)
    row_h = 9 if len(streams) > 60 else 14
    left, right, top = 70, 16, 26
    w = 1100
    pw = w - left - right
    h = top + row_h * len(streams) + 30

    def x(t_ms: float) -> float:
        return left + pw * (t_ms - t_start) / span

    out = [f'<svg id="waterfall" width="{w}" height="{h}" role="img" aria-label="waterfall">']
    tick = _nice_max(span / 8)
    k = 0.0
    while k <= span + 1e-9:
        xx = x(t_start + k)
        out.append(
            f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{top - 4}" y2="{h - 24}" stroke="#eef1f4"/>'
        )
        out.append(f'<text x="{xx:.1f}" y="{h - 10}" text-anchor="middle">{k / 1000:g}s</text>')
        k += tick
    step_labels = {s.index: s.label for s in run.steps}
    for i, r in enumerate(streams):
        y0 = top + i * row_h
        mid = y0 + row_h / 2
        end = r.start_ms + (r.end_ms or 0.0)
        cut = r.outcome in FAILED_OUTCOMES
        color = "#d1242f" if cut else _OUTCOME_COLOR.get(r.outcome, "#d1242f")
        tip = (
            f"{step_labels.get(r.step, r.step)} #{i}: {r.outcome}, status {r.status}, "
            f"ttfb {_ms(r.ttfb_ms)} ms, ttft {_ms(r.ttft_ms)} ms, end {_ms(r.end_ms)} ms, "
            f"{len(r.reads)} reads, {r.events} events" + (f" — {r.error}" if r.error else "")
        )
        out.append(f'<g class="row" data-ok="{1 if r.succeeded else 0}"><title>{esc(tip)}</title>')
        out.append(
            f'<line x1="{x(r.start_ms):.1f}" x2="{x(end):.1f}" y1="{mid:.1f}" y2="{mid:.1f}" '
            f'stroke="#c9d1d9" stroke-width="1"/>'
        )
        if r.ttfb_ms is not None:
            out.append(
                f'<line x1="{x(r.start_ms):.1f}" x2="{x(r.start_ms + r.ttfb_ms):.1f}" '
                f'y1="{mid:.1f}" y2="{mid:.1f}" stroke="#8c959f" stroke-width="3"/>'
            )
        for t, _size, events, beats in r.reads:
            hh: float
            if events >= burst_events:
                fill, hh = "#d4a72c", row_h - 2.0
            elif events:
                fill, hh = "#0969da", row_h * 0.55
            elif beats:
                fill, hh = "#8250df", row_h * 0.4
            else:
                continue
            xx = x(r.start_ms + t)
            width = 2.5 if events >= burst_events else 1.2
            out.append(
                f'<rect x="{xx - width / 2:.1f}" y="{mid - hh / 2:.1f}" width="{width}" '
                f'height="{hh:.1f}" fill="{fill}"/>'
            )
        if cut or not r.succeeded:
            xe, s = x(end), row_h / 2 - 1
            out.append(
                f'<path d="M{xe - s:.1f},{mid - s:.1f}L{xe + s:.1f},{mid + s:.1f}'
                f'M{xe - s:.1f},{mid + s:.1f}L{xe + s:.1f},{mid - s:.1f}" '
                f'stroke="{color}" stroke-width="2"/>'
            )
        else:
            out.append(f'<circle cx="{x(end):.1f}" cy="{mid:.1f}" r="2.5" fill="{color}"/>')
        if i == 0 or streams[i - 1].step != r.step:
            out.append(
                f'<text x="4" y="{mid + 4:.1f}">{esc(step_labels.get(r.step, r.step))}</text>'
            )
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def render_html(run: Run) -> str:
    summaries = [s.summary(run.requests) for s in run.steps]
    labels = [s.label for s in run.steps]
    success = [None if s["success_rate"] is None else 100.0 * s["success_rate"] for s in summaries]
    charts = [
        _line_chart("Success rate", labels, [("success %", "#1a7f37", success)], 100.0, "%"),
        _line_chart(
            "Time to first token",
            labels,
            [
                ("TTFT p50", "#0969da", [s["ttft_ms"]["p50"] for s in summaries]),
                ("TTFT p90", "#d4a72c", [s["ttft_ms"]["p90"] for s in summaries]),
                ("TTFB p50", "#8c959f", [s["ttfb_ms"]["p50"] for s in summaries]),
            ],
            unit=" ms",
        ),
    ]
    rows = []
    for s, label in zip(summaries, labels, strict=True):
        rate = s["success_rate"]
        cls = "ok" if rate == 1 else "bad"
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(s["outcomes"].items()))
        lag = s["schedule_lag_ms"]
        rows.append(
            "<tr>"
            f"<td>{esc(label)}</td><td>{s['requests']}</td>"
            f"<td class='{cls}'>{'-' if rate is None else f'{100 * rate:.0f}%'}</td>"
            f"<td>{_ms(s['ttfb_ms']['p50'])} / {_ms(s['ttfb_ms']['p99'])}</td>"
            f"<td>{_ms(s['ttft_ms']['p50'])} / {_ms(s['ttft_ms']['p99'])}</td>"
            f"<td>{_ms(s['max_gap_ms']['p99'])}</td>"
            f"<td>{_ms(lag['max']) if lag else '-'}</td>"
            f"<td>{_ms(s['loop_lag_ms']['p99'])}</td>"
            f"<td class='l'>{esc(outcomes)}</td></tr>"
        )
    findings = "".join(finding_html(f) for f in run.diagnosis) or (
        "<p class='ok'>No findings: streams arrived whole and on time.</p>"
    )
    legend = (
        "<div class='legend'><span><i style='background:#8c959f'></i>waiting for headers</span>"
        "<span><i style='background:#0969da'></i>read with events</span>"
        "<span><i style='background:#d4a72c'></i>burst (4+ events in one read)</span>"
        "<span><i style='background:#8250df'></i>heartbeat only</span>"
        "<span style='color:#1a7f37'>● complete</span><span style='color:#d1242f'>✕ cut / failed"
        "</span> <label><input type='checkbox' id='onlybad'> only failed streams</label></div>"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>streamwarden probe — {esc(run.target)}</title><style>{REPORT_CSS}</style></head><body>"
        f"<h1>streamwarden probe</h1><div class='sub'>{esc(run.target)} · "
        f"{esc(run.started_at or '')} · {len(run.requests)} requests</div>"
        f"<h2>Findings</h2>{findings}"
        f"<h2>Steps</h2><table><tr><th>step</th><th>reqs</th><th>ok</th>"
        "<th>TTFB p50/p99 ms</th><th>TTFT p50/p99 ms</th><th>gap p99 ms</th>"
        "<th>sched. lag max ms</th><th>probe loop lag p99 ms</th><th>ends</th></tr>"
        f"{''.join(rows)}</table>"
        f"<div class='charts'>{''.join(f'<div class=card>{c}</div>' for c in charts)}</div>"
        f"<h2>Reads per stream</h2>{legend}<div class='card'>{waterfall_svg(run)}</div>"
        f"<script>{_JS}</script></body></html>\n"
    )


def finding_html(f: Finding) -> str:
    return (
        f"<div class='f {esc(f.severity)}'><span class='sev'>{esc(f.severity)}</span>"
        f"<span class='id'>{esc(f.id)}</span><div>{esc(f.summary)}</div>"
        f"<div class='ev'>{esc(_evidence(f.evidence))}</div>"
        f"<div class='fix'>Fix: {esc(f.fix)}</div></div>"
    )


def write_html(run: Run, path: str | Path) -> None:
    Path(path).write_text(render_html(run), encoding="utf-8")
