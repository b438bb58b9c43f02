"""The lab's report: a terminal table (rich), JSON in the shape of docs/lab.md, and one HTML file.

The HTML reuses the probe's own drawing (its per-stream read waterfall and finding cards),
so a scenario's chart looks exactly like `streamwarden probe --html` on the same stack.
"""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from streamwarden.lab.runner import LabResult, ScenarioResult
from streamwarden.lab.scenarios import SCENARIOS, Scenario
from streamwarden.probe import report as probe_report
from streamwarden.probe.report import esc

__all__ = ["print_table", "render_html", "write_html", "write_json"]

_VERDICT_STYLE = {"pass": "bold green", "FAIL": "bold red", "error": "bold red", "skip": "yellow"}


def _ids(ids: list[str]) -> str:
    return ", ".join(ids) if ids else "none"


def _diagnosed(r: ScenarioResult) -> Text:
    """One id a line (keeps the column narrow): expected plain, companions dim, others red."""
    if not r.ran or r.error:
        return Text("-")
    if not r.diagnosed:
        return Text("none")
    out = Text()
    for i, finding_id in enumerate(r.diagnosed):
        if i:
            out.append("\n")
        style = "" if finding_id in r.expected else "dim" if finding_id in r.companions else "red"
        out.append(finding_id, style=style)
    return out


def print_table(lab: LabResult, console: Console | None = None) -> None:
    """One row per scenario: stack, expected, diagnosed, verdict, one line of evidence."""
    console = console or Console()
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold", expand=False)
    table.add_column("scenario", no_wrap=True)
    table.add_column("stack")
    table.add_column("expected", no_wrap=True)
    table.add_column("diagnosed", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("evidence")
    for r in lab.scenarios:
        evidence = r.skipped or r.evidence
        if r.note and r.ran and r.error is None:
            evidence = f"{evidence}; {r.note}"
        table.add_row(
            r.name,
            Text(r.stack, style="dim"),
            "\n".join(r.expected) or "none",
            _diagnosed(r),
            Text(r.verdict, style=_VERDICT_STYLE.get(r.verdict, "")),
            evidence,
        )
    console.print(table)
    ran = [r for r in lab.scenarios if r.ran]
    passed = sum(1 for r in ran if r.passed)
    skipped = len(lab.scenarios) - len(ran)
    line = f"{passed}/{len(ran)} scenarios passed"
    if skipped:
        line += f", {skipped} skipped"
    line += f" in {lab.duration_s:.0f}s (time scale 1:{1 / lab.scale:.0f})"
    if lab.interrupted:
        line += " — interrupted, every started process was stopped"
    console.print()
    console.print(Text(line, style="bold green" if lab.passed else "bold red"))


def write_json(lab: LabResult, path: str | Path, runs: bool = True) -> None:
    Path(path).write_text(json.dumps(lab.to_json(runs), indent=1) + "\n", encoding="utf-8")


_CSS_EXTRA = """
.labtable th{text-align:left}
.scn{margin:28px 0 8px;padding-top:8px;border-top:2px solid #e3e7eb}
.verdict{font-weight:700;padding:1px 8px;border-radius:3px;color:#fff;margin-left:8px;
font-size:12px}.verdict.pass{background:#1a7f37}.verdict.FAIL,.verdict.error{background:#d1242f}
.verdict.skip{background:#9a6700}.meta{color:#3d4650;margin:4px 0;max-width:1100px}
.meta b{color:#1d232b}
"""


def _scenario_html(r: ScenarioResult, scenario: Scenario | None) -> str:
    out = [
        f"<div class='scn' id='{esc(r.name)}'><h2>{esc(r.name)}"
        f"<span class='verdict {esc(r.verdict)}'>{esc(r.verdict)}</span></h2>",
        f"<div class='meta'><b>Stack:</b> {esc(r.stack)}</div>",
    ]
    if scenario is not None and scenario.real_world:
        out.append(f"<div class='meta'><b>In production:</b> {esc(scenario.real_world)}</div>")
    out.append(
        f"<div class='meta'><b>Expected:</b> {esc(_ids(r.expected))} · "
        f"<b>Diagnosed:</b> {esc(_ids(r.diagnosed))} · "
        f"<b>Took:</b> {r.duration_s:.1f}s</div>"
    )
    evidence = r.skipped or r.evidence
    out.append(f"<div class='meta'><b>Evidence:</b> {esc(evidence)}</div>")
    if r.note:
        out.append(f"<div class='meta'><b>Note:</b> {esc(r.note)}</div>")
    if scenario is not None and scenario.fix:
        out.append(f"<div class='meta'><b>Fix:</b> {esc(scenario.fix)}</div>")
    out.append(probe_report.findings_html(r.findings))
    for label, run in r.runs.items():
        title = f"Reads per stream — {label}" if len(r.runs) > 1 else "Reads per stream"
        out.append(
            f"<h3>{esc(title)}</h3><div class='card'>{probe_report.waterfall_svg(run)}</div>"
        )
    if set(r.details) - {"attempts"} or r.details.get("attempts", 1) > 1:
        out.append(f"<pre>{esc(json.dumps(r.details, indent=1))}</pre>")
    out.append("</div>")
    return "".join(out)


def render_html(lab: LabResult) -> str:
    known = {s.name: s for s in SCENARIOS}
    rows = "".join(
        f"<tr><td><a href='#{esc(r.name)}'>{esc(r.name)}</a></td><td class='l'>{esc(r.stack)}</td>"
        f"<td class='l'>{esc(_ids(r.expected))}</td>"
        f"<td class='l'>{esc('-' if not r.ran else _ids(r.diagnosed))}</td>"
        f"<td><span class='verdict {esc(r.verdict)}'>{esc(r.verdict)}</span></td>"
        f"<td class='l'>{esc(r.skipped or r.evidence)}</td></tr>"
        for r in lab.scenarios
    )
    body = "".join(_scenario_html(r, known.get(r.name)) for r in lab.scenarios)
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<title>streamwarden lab</title>"
        f"<style>{probe_report.REPORT_CSS}{_CSS_EXTRA}</style></head><body>"
        "<h1>streamwarden lab</h1>"
        f"<div class='sub'>{len(lab.scenarios)} scenarios · {lab.duration_s:.0f}s · time scale "
        f"1:{1 / lab.scale:.0f} (1 lab second stands for {1 / lab.scale:.0f} real seconds)</div>"
        "<table class='labtable'><tr><th>scenario</th><th>stack</th><th>expected</th><th>diagnosed</th>"
        f"<th>verdict</th><th>evidence</th></tr>{rows}</table>{body}"
        "</body></html>\n"
    )


def write_html(lab: LabResult, path: str | Path) -> None:
    Path(path).write_text(render_html(lab), encoding="utf-8")
