"""One rule = one check function with its description next to it (gixy's plugin design).

A family module makes a `Registry`, decorates each check with `registry.rule(...)`, and the
catalog (`streamwarden.lint.catalog.RULES`, SARIF metadata, docs) is read off the registries,
never kept by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from streamwarden.findings import Finding, Severity

F = TypeVar("F", bound=Callable[..., list[Finding]])


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What a rule catches (`title`), how bad by default, and the measured or documented
    behaviour behind it (`docs`, with the vendor's page where a default comes from)."""

    id: str
    title: str
    severity: Severity
    docs: str

    def finding(
        self,
        summary: str,
        fix: str,
        file: str | None,
        line: int | None,
        severity: Severity | None = None,
    ) -> Finding:
        return Finding(self.id, severity or self.severity, summary, fix, file=file, line=line)


class Registry(Generic[F]):
    """The rules of one config family, in the order they run."""

    def __init__(self, family: str) -> None:
        self.family = family
        self.checks: list[tuple[RuleInfo, F]] = []
        self.notes: list[RuleInfo] = []

    def rule(self, name: str, title: str, severity: Severity, docs: str) -> Callable[[F], F]:
        """Register a check function under `family/name`."""
        info = RuleInfo(f"{self.family}/{name}", title, severity, docs)

        def register(check: F) -> F:
            self.checks.append((info, check))
            return check

        return register

    def note(self, name: str, title: str, severity: Severity, docs: str) -> RuleInfo:
        """Register a rule whose findings come from loading, not from a check function
        (an include that could not be read, a value that is not valid)."""
        info = RuleInfo(f"{self.family}/{name}", title, severity, docs)
        self.notes.append(info)
        return info

    def info(self, name: str) -> RuleInfo:
        """The rule registered as `family/name`."""
        wanted = f"{self.family}/{name}"
        for found in self.infos():
            if found.id == wanted:
                return found
        raise KeyError(wanted)

    def run(self, *args: object) -> list[Finding]:
        """Every check, in the order registered, on the same arguments."""
        return [finding for _, check in self.checks for finding in check(*args)]

    def infos(self) -> Iterator[RuleInfo]:
        yield from (info for info, _ in self.checks)
        yield from self.notes
