"""streamwarden.lint: static checks of proxy, server and load-balancer configs for streams."""

from streamwarden.lint.catalog import INFOS, RULES
from streamwarden.lint.detect import Kind
from streamwarden.lint.findings import AppServer, ConfigError, Finding, Framing, Limits, Severity
from streamwarden.lint.linter import Result, lint_paths, lint_text
from streamwarden.lint.snippets import SnippetOptions

__all__ = [
    "INFOS",
    "RULES",
    "AppServer",
    "ConfigError",
    "Finding",
    "Framing",
    "Kind",
    "Limits",
    "Result",
    "Severity",
    "SnippetOptions",
    "lint_paths",
    "lint_text",
]
