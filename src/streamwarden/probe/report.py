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
from streamwarden.probe.compare import RunComparison, changed
from streamwarden.probe.diagnose import headline
from streamwarden.probe.metrics import stream_metrics
from streamwarden.probe.slo import evaluate, request_checks
from streamwarden.probe.timeline import FAILED_OUTCOMES, RequestRecord, Run

__all__ = [
    "REPORT_CSS",
    "esc",
    "finding_html",
    "findings_html",
    "pick_streams",
    "print_comparison",
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
    """A number for people: 3 significant digits (no exponent below a million), `-` for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    value = float(value)
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:.0f}"
    return f"{value:.3g}"


def _pair(pcts: Mapping[str, Any] | None, a: str = "p50", b: str = "p99") -> str:
    pcts = pcts or {}
    return f"{_ms(pcts.get(a))} / {_ms(pcts.get(b))}"


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _evidence(evidence: Mapping[str, Any]) -> str:
    """`key=value` pairs for people: 3 significant digits, unknown values left out."""
    parts = []
    for key, value in evidence.items():
        if value is None:
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}: {_value(v)}" for k, v in value.items() if v is not None)
        elif isinstance(value, list):
            value = ", ".join(_value(v) for v in value)
        else:
            value = _value(value)
        parts.append(f"{key}={value}")
    return "  ".join(parts)


def print_summary(run: Run, console: Console | None = None) -> None:
    """A table per step, then the findings with their fixes."""
    console = console or Console()
    fmt = sorted({r.format for r in run.requests if r.format}) or ["?"]
    console.print(
        Text.assemble(("streamwarden probe ", "bold"), run.target, (f"  ({'/'.join(fmt)})", "dim"))
    )
    if run.incomplete:
        console.print(Text(f"incomplete run: {run.incomplete}", style="bold yellow"))
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    checks = request_checks(run.slos)
    summaries = [step.summary(run.requests, checks) for step in run.steps]
    # Open loop: how late arrivals started, so that coordinated omission shows.
    open_loop = any(s["schedule_lag_ms"] for s in summaries)
    # Two tables, each within 80 columns: how streams went, then the LLM figures.
    columns = ["step", "reqs", "ok", "TTFB p50/p99 ms", "TTFT p50/p99 ms", "gap p99 ms"]
    columns += ["lag p50/max ms"] if open_loop else []
    table = _table([*columns, "ends"])
    llm = _table(["step", "ITL p50/p99 ms", "TPOT p50 ms", "output tok/s", "req/s"])
    if run.slos:
        llm.add_column("goodput req/s", justify="right")
    for step, s in zip(run.steps, summaries, strict=True):
        rate = s["success_rate"]
        ok_style = "green" if rate == 1 else "red" if rate is not None and rate < 0.9 else "yellow"
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(s["outcomes"].items()))
        cells: list[str | Text] = [
            step.label,
            str(s["requests"]),
            Text("-" if rate is None else f"{100 * rate:.0f}%", style=ok_style),
            _pair(s["ttfb_ms"]),
            _pair(s["ttft_ms"]),
            _ms(s["max_gap_ms"]["p99"]),
        ]
        if open_loop:
            lag = s["schedule_lag_ms"] or {}
            cells.append(f"{_ms(lag.get('p50'))} / {_ms(lag.get('max'))}")
        table.add_row(*cells, outcomes)
        figures = [
            step.label,
            _pair(s["itl_ms"]),
            _ms(s["tpot_ms"]["p50"]),
            _ms(s["output_tokens_per_s"]),
            _ms(s["requests_per_s"]),
        ]
        llm.add_row(*figures, *([_ms(s["goodput_rps"])] if run.slos else []))
    console.print(table)
    console.print()
    console.print(llm)
    console.print()
    _print_slos(run, console)
    if not run.diagnosis:
        console.print(Text("✓ no findings: streams arrived whole and on time", style="green"))
        return
    for f in run.diagnosis:
        style = _STYLE.get(f.severity, "")
        if f.caused_by is not None:
            # A consequence: nested under its root cause, whose fix is the one to apply.
            console.print(
                Padding(
                    Text.assemble(
                        ("↳ ", "dim"),
                        (f.id, "bold"),
                        (f" ({f.severity}, because of {f.caused_by})", "dim"),
                    ),
                    (0, 0, 0, 2),
                )
            )
            console.print(Padding(Text(f.summary), (0, 0, 0, 4), expand=False))
            console.print(
                Padding(Text("evidence: " + _evidence(f.evidence), style="dim"), (0, 0, 0, 4))
            )
            continue
        console.print(
            Text.assemble((f"{_MARK.get(f.severity, '-')} {f.severity:<7} ", style), (f.id, "bold"))
        )
        # Padding keeps wrapped lines indented under their finding.
        console.print(Padding(Text(f.summary), (0, 0, 0, 2), expand=False))
        console.print(
            Padding(Text("evidence: " + _evidence(f.evidence), style="dim"), (0, 0, 0, 2))
        )
        console.print(Padding(Text("fix: " + f.fix, style="green"), (0, 0, 0, 2), expand=False))


def _table(columns: Sequence[str]) -> Table:
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for name in columns:
        table.add_column(name, justify="left" if name in ("step", "ends") else "right")
    return table


def _print_slos(run: Run, console: Console) -> None:
    """One line per SLO: passed everywhere, or the steps and values that missed it."""
    if not run.slos:
        return
    results = evaluate(run.slos, run)
    for slo in run.slos:
        mine = [r for r in results if r.slo is slo]
        missed = [r for r in mine if not r.passed]
        if missed:
            where = "; ".join(f"{r.step}: {slo.show(r.value)}" for r in missed)
            console.print(
                Text.assemble(("✗ SLO ", "bold red"), (slo.text, "bold"), f" missed at {where}")
            )
        else:
            worst = ", ".join(f"{r.step}: {slo.show(r.value)}" for r in mine)
            console.print(
                Text.assemble(("✓ SLO ", "green"), (slo.text, "bold"), (f" ({worst})", "dim"))
            )
    console.print()


def print_comparison(cmp: RunComparison, console: Console | None = None) -> None:
    """The metrics that moved beyond the tolerance, the findings that came and went, and
    the regressions (the exit code's reason)."""
    console = console or Console()
    shown = changed(cmp)
    console.print(Text(f"changes beyond {cmp.tolerance_pct:g}%", style="bold"))
    if shown:
        table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
        for name in ("step", "metric", "before", "after", "change"):
            table.add_column(name, justify="left" if name in ("step", "metric") else "right")
        for c in shown:
            style = "red" if c.regression else "green" if c.better else ""
            pct = c.change_pct
            table.add_row(
                c.step,
                c.metric,
                _ms(c.before),
                _ms(c.after),
                Text(f"{pct:+.3g}%" if math.isfinite(pct) else "new", style=style),
            )
        console.print(table)
    else:
        console.print(Text("  none", style="dim"))
    for label in cmp.only_before:
        console.print(Text(f"  {label}: only in the run before, not compared", style="dim"))
    for label in cmp.only_after:
        console.print(Text(f"  {label}: only in the run after, not compared", style="dim"))
    for f in cmp.appeared:
        console.print(
            Text.assemble(
                ("+ appeared ", _STYLE.get(f.severity, "")), (f.id, "bold"), f": {headline(f)}"
            )
        )
    for f in cmp.gone:
        console.print(Text.assemble(("- gone ", "green"), (f.id, "bold")))
    console.print()
    if cmp.regressions:
        console.print(
            Text(
                f"✗ {len(cmp.regressions)} regressions: " + "; ".join(cmp.regressions),
                style="bold red",
            )
        )
    else:
        console.print(Text("✓ no regression beyond the tolerance", style="green"))


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
label{font-size:13px}.controls{margin:4px 0 8px}.shown{margin:0 0 6px;color:#3d4650}
.card{overflow-x:auto}.tbl{overflow-x:auto;max-width:100%}.tbl td{white-space:nowrap}.f.sub{margin:8px 0 0 12px;max-width:none}.because{color:#5b6570;
font-size:12px}ul.slo{margin:0;padding-left:18px}
"""

_JS = """
(function () {
  var onlybad = document.getElementById('onlybad');
  var step = document.getElementById('stepfilter');
  function apply() {
    var want = step ? step.value : '';
    document.querySelectorAll('#waterfall g.row').forEach(function (g) {
      var hide = (onlybad.checked && g.dataset.ok === '1') || (want !== '' && g.dataset.step !== want);
      g.style.display = hide ? 'none' : '';
    });
  }
  onlybad.addEventListener('change', apply);
  if (step) step.addEventListener('change', apply);
})();
document.documentElement.setAttribute('data-ready', '1');
"""

#: Every mark the waterfall draws: its CSS class, colour and legend text. The legend is
#: written from this table, for the classes the drawing used, so the two cannot disagree.
MARKS: dict[str, tuple[str, str]] = {
    "m-wait": ("#8c959f", "waiting for headers"),
    "m-open": ("#57606a", "opening comment (stream open)"),
    "m-read": ("#0969da", "read with events"),
    "m-burst": ("#d4a72c", "burst (4+ events in one read)"),
    "m-beat": ("#1b7c83", "heartbeat comment"),
    "m-ok": ("#1a7f37", "completed"),
    "m-cut": ("#d1242f", "cut mid-stream (truncated, reset, no terminator)"),
    "m-http": ("#8250df", "HTTP error or refusal"),
    "m-connect": ("#6e7781", "could not connect"),
    "m-timeout": ("#bc4c00", "the probe gave up (--timeout)"),
}
#: How the legend draws each mark: the end of a stream is a dot or a cross, the rest bars.
_GLYPH = {"m-ok": "●", "m-cut": "✕", "m-http": "✕", "m-connect": "✕", "m-timeout": "✕"}
_END_MARK = {"ok": "m-ok", "http_error": "m-http", "connect_error": "m-connect"}
_END_MARK |= {"client_timeout": "m-timeout"}


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


def pick_streams(run: Run, limit: int) -> list[RequestRecord]:
    """At most `limit` streams to draw, spread over every step and outcome: failures first
    (every one when they fit), then an even sample of the rest of each step."""
    reqs = sorted(run.requests, key=lambda r: (r.step, r.start_ms))
    if len(reqs) <= limit:
        return reqs
    groups: dict[tuple[bool, int, str], list[RequestRecord]] = {}
    for r in reqs:
        groups.setdefault((r.succeeded, r.step, r.outcome), []).append(r)
    # Round-robin over the groups, failed groups first, each taken evenly across its span.
    order = sorted(groups, key=lambda k: (k[0], k[1], k[2]))
    quota = dict.fromkeys(order, 0)
    left = limit
    failed = [k for k in order if not k[0]]
    for keys in (failed, order):
        while left:
            grew = False
            for k in keys:
                if left and quota[k] < len(groups[k]):
                    quota[k] += 1
                    left -= 1
                    grew = True
            if not grew:
                break
    picked = [r for k in order for r in _spread(groups[k], quota[k])]
    return sorted(picked, key=lambda r: (r.step, r.start_ms))


def _spread(items: list[RequestRecord], n: int) -> list[RequestRecord]:
    if n >= len(items):
        return items
    if n <= 0:
        return []
    return [items[int(i * len(items) / n)] for i in range(n)]


def _opening(r: RequestRecord) -> int | None:
    """The index of the read carrying the stream's opening comment (the guard's
    `: stream open` with the headers): a comment in the first body read, before any event."""
    for i, (_t, size, events, beats) in enumerate(r.reads):
        if size > 0:
            return i if beats and not events else None
    return None


def waterfall_svg(run: Run, burst_events: int = 4, limit: int = 200) -> str:
    """One row per stream (a sample of `limit` at most, said above the chart): the wait for
    headers, each read, heartbeats, and how it ended."""
    streams = pick_streams(run, limit)
    if not streams:
        return "<p>No requests.</p>"
    t_end = max(r.start_ms + (r.end_ms or 0.0) for r in streams)
    t_start = min(r.start_ms for r in streams)
    span = max(t_end - t_start, 1.0)
    row_h = 6 if len(streams) > 120 else 9 if len(streams) > 60 else 14
    left, right, top = 70, 16, 26
    w = 1100
    pw = w - left - right
    h = top + row_h * len(streams) + 30

    def x(t_ms: float) -> float:
        return left + pw * (t_ms - t_start) / span

    used: set[str] = set()

    def mark(cls: str) -> str:
        used.add(cls)
        return MARKS[cls][0]

    out = [
        f'<svg id="waterfall" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        'style="max-width:100%;height:auto" role="img" aria-label="waterfall">'
    ]
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
        tip = (
            f"{step_labels.get(r.step, r.step)} #{i}: {r.outcome}, status {r.status}, "
            f"ttfb {_ms(r.ttfb_ms)} ms, ttft {_ms(r.ttft_ms)} ms, end {_ms(r.end_ms)} ms, "
            f"{len(r.reads)} reads, {r.events} events"
            + (
                f", TPOT {_ms(m.tpot_ms)} ms"
                if (m := stream_metrics(r)).tpot_ms is not None
                else ""
            )
            + (f" — {r.error}" if r.error else "")
        )
        out.append(
            f'<g class="row" data-ok="{1 if r.succeeded else 0}" data-step="{r.step}">'
            f"<title>{esc(tip)}</title>"
        )
        out.append(
            f'<line x1="{x(r.start_ms):.1f}" x2="{x(end):.1f}" y1="{mid:.1f}" y2="{mid:.1f}" '
            f'stroke="#c9d1d9" stroke-width="1"/>'
        )
        if r.ttfb_ms is not None:
            out.append(
                f'<line class="m-wait" x1="{x(r.start_ms):.1f}" '
                f'x2="{x(r.start_ms + r.ttfb_ms):.1f}" y1="{mid:.1f}" y2="{mid:.1f}" '
                f'stroke="{mark("m-wait")}" stroke-width="3"/>'
            )
        opening = _opening(r)
        for n, (t, _size, events, beats) in enumerate(r.reads):
            hh: float
            if events >= burst_events:
                cls, hh, width = "m-burst", row_h - 2.0, 2.5
            elif events:
                cls, hh, width = "m-read", row_h * 0.55, 1.2
            elif beats and n == opening:
                cls, hh, width = "m-open", row_h * 0.9, 1.0
            elif beats:
                cls, hh, width = "m-beat", row_h * 0.4, 1.2
            else:
                continue
            xx = x(r.start_ms + t)
            out.append(
                f'<rect class="{cls}" x="{xx - width / 2:.1f}" y="{mid - hh / 2:.1f}" '
                f'width="{width}" height="{hh:.1f}" fill="{mark(cls)}"/>'
            )
        end_cls = "m-cut" if r.outcome in FAILED_OUTCOMES else _END_MARK.get(r.outcome, "m-cut")
        if end_cls == "m-ok":
            out.append(
                f'<circle class="m-ok" cx="{x(end):.1f}" cy="{mid:.1f}" r="2.5" '
                f'fill="{mark("m-ok")}"/>'
            )
        else:
            xe, half = x(end), row_h / 2 - 1
            out.append(
                f'<path class="{end_cls}" d="M{xe - half:.1f},{mid - half:.1f}'
                f"L{xe + half:.1f},{mid + half:.1f}M{xe - half:.1f},{mid + half:.1f}"
                f'L{xe + half:.1f},{mid - half:.1f}" stroke="{mark(end_cls)}" stroke-width="2"/>'
            )
        if i == 0 or streams[i - 1].step != r.step:
            out.append(
                f'<text x="4" y="{mid + 4:.1f}">{esc(step_labels.get(r.step, r.step))}</text>'
            )
        out.append("</g>")
    out.append("</svg>")
    legend = "".join(
        f"<span class='lg' data-mark='{cls}'>"
        + (
            f"<b style='color:{color}'>{_GLYPH[cls]}</b> "
            if cls in _GLYPH
            else f"<i style='background:{color}'></i>"
        )
        + f"{esc(text)}</span>"
        for cls, (color, text) in MARKS.items()
        if cls in used
    )
    shown = (
        f"<p class='shown'>showing {len(streams)} of {len(run.requests)} streams: every "
        "step and outcome, failures first</p>"
        if len(streams) < len(run.requests)
        else ""
    )
    return f"{shown}<div class='legend'>{legend}</div>{''.join(out)}"


def render_html(run: Run) -> str:
    checks = request_checks(run.slos)
    summaries = [s.summary(run.requests, checks) for s in run.steps]
    labels = [s.label for s in run.steps]
    success = [None if s["success_rate"] is None else 100.0 * s["success_rate"] for s in summaries]
    charts = [
        _line_chart("Success rate", labels, [("success %", "#1a7f37", success)], 100.0, "%"),
        _line_chart(
            "Time to first token",
            labels,
            [
                ("TTFT p50", "#0969da", [s["ttft_ms"]["p50"] for s in summaries]),
                ("TTFT p99", "#d4a72c", [s["ttft_ms"]["p99"] for s in summaries]),
                ("TTFB p50", "#8c959f", [s["ttfb_ms"]["p50"] for s in summaries]),
            ],
            unit=" ms",
        ),
        _line_chart(
            "Inter-token latency",
            labels,
            [
                ("ITL p50", "#0969da", [s["itl_ms"]["p50"] for s in summaries]),
                ("ITL p99", "#d4a72c", [s["itl_ms"]["p99"] for s in summaries]),
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
        cells = [
            f"<td>{esc(label)}</td><td>{s['requests']}</td>",
            f"<td class='{cls}'>{'-' if rate is None else f'{100 * rate:.0f}%'}</td>",
            f"<td>{_pair(s['ttfb_ms'])}</td><td>{_pair(s['ttft_ms'])}</td>",
            f"<td>{_pair(s['itl_ms'])}</td><td>{_ms(s['tpot_ms']['p50'])}</td>",
            f"<td>{_ms(s['output_tokens_per_s'])}</td><td>{_ms(s['requests_per_s'])}</td>",
            f"<td>{_ms(s['goodput_rps'])}</td>" if run.slos else "",
            f"<td>{_ms(s['max_gap_ms']['p99'])}</td>",
            f"<td>{_ms(lag['max']) if lag else '-'}</td>",
            f"<td>{_ms(s['loop_lag_ms']['p99'])}</td>",
            f"<td class='l'>{esc(outcomes)}</td>",
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    findings = findings_html(run.diagnosis) or (
        "<p class='ok'>No findings: streams arrived whole and on time.</p>"
    )
    steps = "".join(f"<option value='{st.index}'>{esc(st.label)}</option>" for st in run.steps)
    controls = (
        "<div class='controls'><label><input type='checkbox' id='onlybad'> only failed "
        "streams</label> <label>step <select id='stepfilter'><option value=''>all</option>"
        f"{steps}</select></label></div>"
    )
    banner = (
        f"<p class='sub'><b>Incomplete run:</b> {esc(run.incomplete)}</p>" if run.incomplete else ""
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>streamwarden probe — {esc(run.target)}</title><style>{REPORT_CSS}</style></head><body>"
        f"<h1>streamwarden probe</h1><div class='sub'>{esc(run.target)} · "
        f"{esc(run.started_at or '')} · {len(run.requests)} requests"
        f"{' · ' + esc(run.protocol) if run.protocol else ''}</div>{banner}"
        f"{_capacity_html(run)}{_slos_html(run)}<h2>Findings</h2>{findings}"
        f"<h2>Steps</h2><div class='tbl'><table><tr><th>step</th><th>reqs</th><th>ok</th>"
        "<th>TTFB p50/p99 ms</th><th>TTFT p50/p99 ms</th><th>ITL p50/p99 ms</th>"
        "<th>TPOT p50 ms</th><th>output tok/s</th><th>req/s</th>"
        f"{'<th>goodput req/s</th>' if run.slos else ''}<th>gap p99 ms</th>"
        "<th>sched. lag max ms</th><th>probe loop lag p99 ms</th><th>ends</th></tr>"
        f"{''.join(rows)}</table></div>"
        f"<div class='charts'>{''.join(f'<div class=card>{c}</div>' for c in charts)}</div>"
        f"<h2>Reads per stream</h2>{controls}<div class='card'>{waterfall_svg(run)}</div>"
        f"<script>{_JS}</script></body></html>\n"
    )


def _capacity_html(run: Run) -> str:
    """What `--find-capacity` found, and each level it tried with why it failed."""
    cap = run.capacity
    if not cap:
        return ""
    found = cap.get("capacity") is not None
    rows = "".join(
        f"<tr><td>{esc(level.get('level'))}</td>"
        f"<td class='{'ok' if level.get('passed') else 'bad'}'>"
        f"{'meets' if level.get('passed') else 'fails'}</td>"
        f"<td class='l'>{esc('; '.join(level.get('reasons') or []))}</td></tr>"
        for level in cap.get("levels", [])
    )
    return (
        f"<h2>Capacity</h2><p class='{'ok' if found else 'bad'}'>{esc(cap.get('summary', ''))}"
        f"</p><table><tr><th>level</th><th>verdict</th><th>why</th></tr>{rows}</table>"
    )


def _slos_html(run: Run) -> str:
    if not run.slos:
        return ""
    results = evaluate(run.slos, run)
    items = []
    for slo in run.slos:
        mine = [r for r in results if r.slo is slo]
        missed = [r for r in mine if not r.passed]
        shown = missed or mine
        where = "; ".join(f"{r.step}: {slo.show(r.value)}" for r in shown)
        mark, cls = ("✗ missed at", "bad") if missed else ("✓", "ok")
        items.append(f"<li class='{cls}'><b>{esc(slo.text)}</b> {mark} {esc(where)}</li>")
    return f"<h2>SLOs</h2><ul class='slo'>{''.join(items)}</ul>"


def findings_html(findings: Sequence[Finding]) -> str:
    """Root causes as cards, each with the consequences it explains nested inside it."""
    ids = {f.id for f in findings}
    out = []
    for f in findings:
        if f.caused_by is not None and f.caused_by in ids:
            continue
        nested = [c for c in findings if c.caused_by == f.id]
        out.append(finding_html(f, nested))
    return "".join(out)


def finding_html(f: Finding, consequences: Sequence[Finding] = ()) -> str:
    inner = "".join(
        f"<div class='f sub {esc(c.severity)}'><span class='sev'>{esc(c.severity)}</span>"
        f"<span class='id'>{esc(c.id)}</span> <span class='because'>because of "
        f"{esc(f.id)}</span><div>{esc(c.summary)}</div>"
        f"<div class='ev'>{esc(_evidence(c.evidence))}</div></div>"
        for c in consequences
    )
    return (
        f"<div class='f {esc(f.severity)}'><span class='sev'>{esc(f.severity)}</span>"
        f"<span class='id'>{esc(f.id)}</span><div>{esc(f.summary)}</div>"
        f"<div class='ev'>{esc(_evidence(f.evidence))}</div>"
        f"<div class='fix'>Fix: {esc(f.fix)}</div>{inner}</div>"
    )


def write_html(run: Run, path: str | Path) -> None:
    Path(path).write_text(render_html(run), encoding="utf-8")
