"""Findings as text (grouped by file, coloured on a terminal), JSON and SARIF 2.1.0."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape

from streamwarden.defaults import IDLE_TIMEOUT
from streamwarden.lint.findings import ConfigError, Finding, Severity
from streamwarden.lint.linter import Result
from streamwarden.lint.registry import RuleInfo

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_COLOURS = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def to_json(findings: Sequence[Finding]) -> str:
    return json.dumps({"findings": [finding_json(f) for f in findings]}, indent=2)


def finding_json(f: Finding) -> dict[str, Any]:
    """The linter's JSON shape of a finding: `rule, severity, file, line, message, fix`."""
    return {
        "rule": f.id,
        "severity": f.severity.value,
        "file": f.file,
        "line": f.line,
        "message": f.summary,
        "fix": f.fix,
    }


def to_text(result: Result, console: Console) -> None:
    findings, files = result.findings, result.files
    by_file: dict[str, list[Finding]] = {}
    for finding in findings:
        by_file.setdefault(finding.file or "", []).append(finding)
    for file, group in by_file.items():
        console.print(f"[bold]{escape(file)}[/bold]")
        for f in group:
            colour = _COLOURS[f.severity]
            console.print(
                f"  {f.line:>4}  [{colour}]{f.severity.value:<7}[/{colour}] "
                f"[dim]{escape(f.id)}[/dim]\n        {escape(f.summary)}\n"
                f"        [green]fix:[/green] {escape(f.fix)}",
                soft_wrap=True,
            )
        console.print()
    counts = {s: sum(1 for f in findings if f.severity == s) for s in Severity}
    summary = ", ".join(f"{n} {s.value}{'s' if n != 1 else ''}" for s, n in counts.items() if n)
    if result.streaming:
        listed = "; ".join(result.streaming)
        console.print(f"nginx routes treated as streaming: {escape(listed)}", soft_wrap=True)
    if result.skipped:
        listed = "; ".join(result.skipped)
        console.print(f"[dim]nginx routes skipped: {escape(listed)}[/dim]", soft_wrap=True)
    if result.app_headers:
        listed = ", ".join(result.app_headers)
        console.print(
            f"the app sends X-Accel-Buffering: no ({escape(listed)}): nginx routes in this tree "
            "were judged as with --app-sends-accel-buffering",
            soft_wrap=True,
        )
    if result.silent_stream:
        console.print(
            f"the app streams with no heartbeat ({escape(result.app_streams[0])}"
            f"{_more(len(result.app_streams) - 1)}) and waits on tools or agents "
            f"({escape(result.app_waits[0])}): idle timeouts were held to {IDLE_TIMEOUT} s (what "
            "`config` writes), since a silence lasts as long as a tool call or a reasoning "
            "model does",
            soft_wrap=True,
        )
    if result.app_servers:
        listed = "; ".join(
            f"{s.name} ({s.framing.value}{_ports(s.ports)}{_service(s.service)}, {s.file}:{s.line})"
            for s in result.app_servers
        )
        console.print(
            f"app servers started here (matched to nginx routes by service and port): "
            f"{escape(listed)}",
            soft_wrap=True,
        )
    checked = f"{len(files)} file{'s' if len(files) != 1 else ''} checked"
    console.print(f"{checked}: {summary or 'no findings'}")


def _more(n: int) -> str:
    return f" and {n} more" if n else ""


def _uri(path: str) -> str:
    rel = os.path.relpath(path) if os.path.isabs(path) else path
    return rel.replace(os.sep, "/")


def to_sarif(findings: Sequence[Finding], version: str, rule_docs: Mapping[str, RuleInfo]) -> str:
    rule_ids = sorted({f.id for f in findings})
    index = {rule: i for i, rule in enumerate(rule_ids)}
    first = {f.id: f for f in reversed(findings)}
    rules: list[dict[str, Any]] = [
        {
            "id": rule,
            "name": rule.replace("/", "-"),
            "shortDescription": {"text": rule_docs[rule].title if rule in rule_docs else rule},
            "fullDescription": {"text": rule_docs[rule].docs if rule in rule_docs else rule},
            "help": {"text": first[rule].fix},
            "defaultConfiguration": {"level": _SARIF_LEVEL[first[rule].severity]},
        }
        for rule in rule_ids
    ]
    results = [
        {
            "ruleId": f.id,
            "ruleIndex": index[f.id],
            "level": _SARIF_LEVEL[f.severity],
            "message": {"text": f"{f.summary} Fix: {f.fix}"},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": _uri(f.file or "")},
                        "region": {"startLine": max(f.line or 0, 1)},
                    }
                }
            ],
            "properties": {"fix": f.fix},
        }
        for f in findings
    ]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "streamwarden-lint",
                        "version": version,
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2)


def error_line(error: ConfigError) -> str:
    return f"streamwarden lint: {error.one_line()}"


def _ports(ports: frozenset[int]) -> str:
    return f", port {', '.join(str(p) for p in sorted(ports))}" if ports else ""


def _service(service: str | None) -> str:
    return f", service {service}" if service else ""
