"""The path card: measurements in, one line per property out (value, verdict, fix). Pure.

A verdict is `ok`, `info` (not measured, or measured only part of the way), `warning` (it
costs something: latency, money, a setting to keep) or `error` (it breaks streams as long
as `--expect-duration`, or as silent as `--expect-gap`). `doctor` exits 1 on any error.
The same card renders as text, JSON and one self-contained HTML file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from streamwarden.doctor.analysis import Buffering
from streamwarden.doctor.results import Measurements
from streamwarden.findings import Finding, Severity
from streamwarden.probe.report import REPORT_CSS, esc

__all__ = [
    "VERDICTS",
    "Line",
    "breaks_streams",
    "build_card",
    "card_json",
    "findings",
    "print_card",
    "render_html",
    "write_html",
    "write_json",
]

VERDICTS = ("ok", "info", "warning", "error")
_MARK = {"ok": "✓", "info": "i", "warning": "!", "error": "✗"}
_STYLE = {"ok": "green", "info": "cyan", "warning": "yellow", "error": "bold red"}


@dataclass(frozen=True, slots=True)
class Line:
    id: str
    name: str
    value: str
    verdict: str
    fix: str = ""
    #: The number behind `value`, for scripts (seconds, bytes, streams), or None.
    measured: float | None = None

    @property
    def severity(self) -> Severity | None:
        """The verdict on the scale every tool's findings share; None when it is ok."""
        return None if self.verdict == "ok" else Severity.parse(self.verdict)

    def finding(self) -> Finding | None:
        """This line as a `Finding` (the probe's and lint's type), unless it is ok."""
        severity = self.severity
        if severity is None:
            return None
        evidence = {} if self.measured is None else {"measured": self.measured}
        return Finding(self.id, severity, f"{self.name}: {self.value}", self.fix, evidence)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "value": self.value,
            "measured": self.measured,
            "verdict": self.verdict,
            "fix": self.fix,
        }


def _kb(size: int | None) -> str:
    if size is None:
        return "?"
    return f"{size / 1024:.1f} KB" if size >= 1024 else f"{size} B"


def _s(value: float) -> str:
    return f"{value:.3g} s" if value < 100 else f"{value:.0f} s"


# -- one function per property ------------------------------------------------------------------


def _protocol(m: Measurements) -> list[Line]:
    p = m.protocol
    if p is None:
        return []
    tls = p.tls or "no TLS"
    lines = [Line("protocol", "protocol", f"{p.http_version}, {tls}", "ok")]
    h = p.headers
    parts = []
    if h.added:
        parts.append("added " + ", ".join(f"{k}: {v}" for k, v in h.added.items()))
    if h.stripped:
        parts.append("stripped " + ", ".join(h.stripped))
    if h.changed:
        parts.append("rewrote " + ", ".join(f"{k} → {v}" for k, v in h.changed.items()))
    value = "; ".join(parts) or "passed unchanged"
    if "content-type" in h.changed or "content-type" in h.stripped:
        lines.append(
            Line(
                "headers",
                "headers",
                value,
                "error",
                "the path rewrites Content-Type: clients will not parse the stream as events; "
                "exempt text/event-stream from the rule that rewrites it",
            )
        )
    elif "cache-control" in h.changed or "cache-control" in h.stripped:
        lines.append(
            Line(
                "headers",
                "headers",
                value,
                "warning",
                "keep `Cache-Control: no-cache, no-transform` on streams: without "
                "no-transform a CDN or proxy may compress or cache them",
            )
        )
    else:
        lines.append(Line("headers", "headers", value, "ok"))
    return lines


def _held(b: Buffering, what: str) -> str:
    if b.whole:
        return f"holds the whole response ({b.arrived} {what} in {b.reads} read(s))"
    return f"holds {_kb(b.burst_bytes)} bursts ({b.burst_units} {what} each)"


def _buffering(m: Measurements) -> list[Line]:
    r = m.buffering
    if r is None:
        return []
    plain, guarded, comments = r.plain, r.guarded, r.comments
    off_fix = (
        "turn buffering off for the stream route: nginx `proxy_buffering off;`, ingress-nginx "
        '`nginx.ingress.kubernetes.io/proxy-buffering: "off"`; a CDN: do not cache or '
        "buffer text/event-stream"
    )
    lines: list[Line] = []
    if guarded.held:
        lines.append(
            Line(
                "buffering",
                "buffering",
                _held(guarded, "events") + ", even with X-Accel-Buffering: no",
                "error",
                off_fix,
                guarded.burst_bytes,
            )
        )
    elif guarded.held is None:
        lines.append(
            Line("buffering", "buffering", "could not tell: the stream did not complete", "info")
        )
    elif plain.held:
        lines.append(
            Line(
                "buffering",
                "buffering",
                _held(plain, "events") + " of a plain stream; X-Accel-Buffering: no turns it off",
                "warning",
                "send `X-Accel-Buffering: no` on every stream (streamwarden's guard does), or "
                + off_fix,
                plain.burst_bytes,
            )
        )
    else:
        lines.append(
            Line("buffering", "buffering", "none: events pass one by one", "ok", measured=0)
        )
    if comments.held is None and comments.arrived == 0 and guarded.held is not None:
        lines.append(
            Line(
                "comments",
                "comments",
                "dropped: no comment reached the client",
                "warning",
                "heartbeats as comments never reach the client here; "
                "a timer after this hop is not reset by them",
            )
        )
    elif comments.held:
        lines.append(
            Line(
                "comments",
                "comments",
                _held(comments, "comments"),
                "warning",
                "heartbeat comments are held with the data: they reach the client "
                "late, so timers after this hop may still fire; " + off_fix,
            )
        )
    elif comments.held is False:
        lines.append(Line("comments", "comments", "pass one by one", "ok"))
    return lines


def _compression(m: Measurements) -> list[Line]:
    c = m.compression
    if c is None:
        return []
    if c.encoding is None:
        return [Line("compression", "compression", "none for text/event-stream", "ok")]
    fix = (
        "do not compress text/event-stream: remove it from nginx `gzip_types` (or "
        "`gzip off;` in the stream location); send `Cache-Control: no-transform`"
    )
    if c.held:
        return [
            Line(
                "compression",
                "compression",
                f"{c.encoding}, and the compressor holds events ({_kb(c.burst_bytes)} bursts)",
                "error",
                fix,
                c.burst_bytes,
            )
        ]
    return [
        Line("compression", "compression", f"{c.encoding} on text/event-stream", "warning", fix)
    ]


def _idle(m: Measurements, gap: float) -> list[Line]:
    r = m.idle
    if r is None:
        return []
    if r.cut_s is None:
        if r.total_limit_s is not None:
            value = f"none below the total-time limit ({_s(r.total_limit_s)})"
        else:
            value = f"none up to {_s(r.up_to)}"
        if r.up_to < gap:
            return [
                Line(
                    "idle_timeout",
                    "idle timeout",
                    value + f" (streams may be silent "
                    f"{_s(gap)}: raise --max-idle to measure that far)",
                    "info",
                )
            ]
        return [Line("idle_timeout", "idle timeout", value, "ok")]
    bracket = f"cut between {r.lo:.3g} and {r.hi:.3g} s" if r.hi is not None else ""
    value = f"{_s(r.cut_s)} of silence ({bracket})"
    fix = (
        f"send a heartbeat comment at least every {_s(r.cut_s / 2)} "
        f"(StreamPolicy(heartbeat={r.cut_s / 2:.3g})), or raise this hop's idle timeout "
        "(nginx `proxy_read_timeout`, HAProxy `timeout server`, ALB idle_timeout)"
    )
    if r.cut_s > gap:
        return [Line("idle_timeout", "idle timeout", value, "ok", "", r.cut_s)]
    beats = m.heartbeat
    verdict = "warning" if beats is not None and beats.kept_alive else "error"
    return [
        Line(
            "idle_timeout",
            "idle timeout",
            value + f", under --expect-gap {_s(gap)}",
            verdict,
            fix,
            r.cut_s,
        )
    ]


def _heartbeat(m: Measurements, gap: float) -> list[Line]:
    h = m.heartbeat
    if h is None:
        return []
    if h.kept_alive is None:
        return [Line("heartbeat", "heartbeat", h.note or "not tried", "info")]
    assert h.interval_s is not None and h.pause_s is not None
    if h.kept_alive:
        return [
            Line(
                "heartbeat",
                "heartbeat",
                f"comments every {_s(h.interval_s)} kept a {_s(h.pause_s)} silence open",
                "ok",
                "",
                h.interval_s,
            )
        ]
    idle = m.idle.cut_s if m.idle else None
    verdict = "error" if idle is not None and idle <= gap else "warning"
    return [
        Line(
            "heartbeat",
            "heartbeat",
            f"comments every {_s(h.interval_s)} did NOT keep a {_s(h.pause_s)} silence open",
            verdict,
            "this path counts only data (or holds comments): raise its idle timeout above "
            "your longest silence, or send data events instead of comments",
            h.interval_s,
        )
    ]


def _total(m: Measurements, duration: float) -> list[Line]:
    t = m.total
    if t is None:
        return []
    if t.cut_s is None:
        value = f"none up to {_s(t.up_to)}"
        if t.up_to < duration:
            return [
                Line(
                    "total_limit",
                    "total-time limit",
                    value + f" (streams may last "
                    f"{_s(duration)}: raise --max-total to measure that far)",
                    "info",
                )
            ]
        return [Line("total_limit", "total-time limit", value, "ok")]
    value = f"cuts every stream at {_s(t.cut_s)}, heartbeats or not"
    fix = (
        "raise this hop's total timeout for the stream route (Envoy route `timeout: 0s`, "
        "GCP backend `timeoutSec`, API gateways cannot: move streams off them), or keep "
        "streams shorter than it and resume them"
    )
    if t.cut_s < duration:
        return [
            Line(
                "total_limit",
                "total-time limit",
                value + f", under --expect-duration {_s(duration)}",
                "error",
                fix,
                t.cut_s,
            )
        ]
    return [Line("total_limit", "total-time limit", value, "warning", fix, t.cut_s)]


def _disconnect(m: Measurements) -> list[Line]:
    d = m.disconnect
    if d is None:
        return []
    fix = (
        "make every hop close its upstream when the client leaves: nginx "
        "`proxy_ignore_client_abort off` (the default), HAProxy `option abortonclose`; "
        "a relay that keeps the upstream open pays for tokens nobody reads"
    )
    if d.never:
        waited = f" ({_s(d.remaining_s)} later the stream ran to its end)" if d.remaining_s else ""
        return [Line("disconnect", "disconnect", "never reaches the app" + waited, "warning", fix)]
    assert d.delay_s is not None
    ms = d.delay_s * 1000
    # Under 10 ms the figure is within the error of mapping the client's clock onto the
    # canary's (half a time to first byte).
    value = f"reaches the app after {ms:.0f} ms" if ms >= 10 else "reaches the app at once (<10 ms)"
    if d.delay_s > 1.0:
        return [Line("disconnect", "disconnect", value, "warning", fix, d.delay_s)]
    return [Line("disconnect", "disconnect", value, "ok", "", d.delay_s)]


def _concurrency(m: Measurements) -> list[Line]:
    c = m.concurrency
    if c is None:
        return []
    if c.limited_at is None:
        return [
            Line(
                "concurrency",
                "concurrency",
                f"{c.admitted} streams at once, all served (the most tried)",
                "ok",
                "",
                c.admitted,
            )
        ]
    return [
        Line(
            "concurrency",
            "concurrency",
            f"serves {c.admitted} at once; at {c.limited_at} some were {c.how}",
            "warning",
            "each stream holds a connection (and a worker) for its whole life: raise the "
            "hop's connection or worker limit, or scale out before this load",
            c.admitted,
        )
    ]


def build_card(m: Measurements, expect_duration: float, expect_gap: float) -> list[Line]:
    """The card: one line per property measured, then one per experiment that failed."""
    lines = [
        *_protocol(m),
        *_buffering(m),
        *_compression(m),
        *_idle(m, expect_gap),
        *_heartbeat(m, expect_gap),
        *_total(m, expect_duration),
        *_disconnect(m),
        *_concurrency(m),
    ]
    for name, message in m.errors.items():
        lines.append(
            Line(
                name,
                name,
                f"could not measure: {message}",
                "error",
                "check that the canary answers through this path (run with --only "
                f"{name} to retry it alone)",
            )
        )
    return lines


def breaks_streams(card: Sequence[Line]) -> bool:
    return any(line.severity is Severity.ERROR for line in card)


def findings(card: Sequence[Line]) -> list[Finding]:
    """The lines that are not ok, as findings."""
    return [f for line in card if (f := line.finding()) is not None]


def card_json(m: Measurements, card: Sequence[Line]) -> dict[str, Any]:
    return {
        "version": 1,
        "target": m.target,
        "started_at": m.started_at,
        "elapsed_s": m.elapsed_s,
        "card": [line.as_json() for line in card],
        "measurements": m.as_json(),
    }


def write_json(m: Measurements, card: Sequence[Line], path: str | Path) -> None:
    Path(path).write_text(json.dumps(card_json(m, card), indent=1) + "\n", encoding="utf-8")


def print_card(card: Sequence[Line], target: str, console: Console | None = None) -> None:
    """One row per property (mark, name, value); the fix on a row of its own under it."""
    console = console or Console()
    console.print(Text.assemble(("streamwarden doctor ", "bold"), target))
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for line in card:
        style = _STYLE[line.verdict]
        grid.add_row(
            Text(_MARK[line.verdict], style=style),
            Text(line.name, style="bold"),
            Text(line.value, style="" if line.verdict == "ok" else style),
        )
        if line.fix:
            grid.add_row("", "", Text("fix: " + line.fix, style="green"))
    console.print(grid)


_CARD_CSS = """
table.path th,table.path td{text-align:left;vertical-align:top}table.path td.fix{color:#1a7f37;
max-width:560px}tr.v-error td.v,tr.v-error td.mark,tr.v-error td.verdict{color:#d1242f;
font-weight:600}tr.v-warning td.v,tr.v-warning td.mark,tr.v-warning td.verdict{color:#9a6700}
tr.v-info td.v,tr.v-info td.mark{color:#0969da}tr.v-ok td.mark,tr.v-ok td.verdict{color:#1a7f37}
td.mark{font-weight:700}td.name{font-weight:600}
pre{background:#fff;border:1px solid #e3e7eb;padding:8px;max-height:480px;overflow:auto;
font:12px ui-monospace,monospace}
"""


def render_html(m: Measurements, card: Sequence[Line]) -> str:
    rows = "".join(
        f"<tr class='v-{esc(line.verdict)}'><td class='mark'>{esc(_MARK[line.verdict])}</td>"
        f"<td class='name'>{esc(line.name)}</td><td class='v'>{esc(line.value)}</td>"
        f"<td class='verdict'>{esc(line.verdict)}</td><td class='fix'>{esc(line.fix)}</td></tr>"
        for line in card
    )
    bad = [line for line in card if line.verdict in ("error", "warning")]
    summary = (
        "<p class='ok'>Clean: nothing on this path breaks or delays a stream.</p>"
        if not bad
        else f"<p class='bad'>{len(bad)} propert{'y' if len(bad) == 1 else 'ies'} to fix.</p>"
    )
    raw = json.dumps(m.as_json(), indent=1)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>streamwarden doctor — {esc(m.target)}</title>"
        f"<style>{REPORT_CSS}{_CARD_CSS}</style></head><body>"
        f"<h1>streamwarden doctor</h1><div class='sub'>{esc(m.target)} · {esc(m.started_at)} · "
        f"{m.elapsed_s:g} s</div>{summary}"
        "<h2>Path card</h2><table class='path'><tr><th></th><th>property</th><th>value</th><th>verdict</th>"
        f"<th>fix</th></tr>{rows}</table>"
        f"<h2>Measurements</h2><details><summary>raw JSON</summary><pre>{esc(raw)}</pre>"
        "</details></body></html>\n"
    )


def write_html(m: Measurements, card: Sequence[Line], path: str | Path) -> None:
    Path(path).write_text(render_html(m, card), encoding="utf-8")
