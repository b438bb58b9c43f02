"""The one finding type of every tool that judges something: the probe's diagnosis rules, the
linter's rules and the lab's verdicts all speak in `Finding`s of one `Severity` scale."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Finding", "Severity"]


class Severity(enum.StrEnum):
    """How bad a finding is. `error` makes the probe (with `--fail-on error`) and lint exit 1."""

    # Most severe first: the order summaries list them in.
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Orders severities: info 0 < warning 1 < error 2."""
        return _RANK[self]

    @classmethod
    def parse(cls, value: str) -> Severity:
        """A severity from its JSON name, with a plain error for anything else."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise ValueError(f"a severity must be one of {names}, not {value!r}") from None


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: what happens to a stream and why, the numbers that show it, the fix.

    `id` names the rule (`proxy_buffering` for the probe, `nginx/proxy-buffering` for lint).
    `file` and `line` locate findings about a config file; `evidence` carries measured
    numbers; `caused_by` names the root-cause finding this one is a consequence of.
    """

    id: str
    severity: Severity
    summary: str
    fix: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    file: str | None = None
    line: int | None = None
    caused_by: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The probe's JSON shape: `id, severity, summary, evidence, fix`, plus what is set."""
        data: dict[str, Any] = {
            "id": self.id,
            "severity": self.severity.value,
            "summary": self.summary,
            "evidence": dict(self.evidence),
            "fix": self.fix,
        }
        if self.file is not None:
            data["file"] = self.file
            data["line"] = self.line
        if self.caused_by is not None:
            data["caused_by"] = self.caused_by
        return data
