"""Lint files: read them (the only I/O), hand each to its family's rules, collect findings."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from streamwarden.lint import envoy, gunicorn, haproxy, ingress, nginx, terraform, uvicorn
from streamwarden.lint import yamlnodes as y
from streamwarden.lint.cmdline import find_commands
from streamwarden.lint.detect import Kind, detect, expand
from streamwarden.lint.findings import ConfigError, Finding, Limits


@dataclass(slots=True)
class Result:
    findings: list[Finding] = field(default_factory=list)
    errors: list[ConfigError] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # files that were checked

    @property
    def exit_code(self) -> int:
        if self.errors:
            return 2
        return 1 if any(f.severity == "error" for f in self.findings) else 0


def lint_text(path: str, text: str, kind: Kind, limits: Limits) -> list[Finding]:
    """Check one file's text. Raises ConfigError when it cannot be parsed."""
    if kind is Kind.NGINX:
        return nginx.check(nginx.load(path, text), limits)
    if kind is Kind.GUNICORN:
        try:
            settings = gunicorn.from_conf_py(text)
        except SyntaxError as exc:
            raise ConfigError(path, f"cannot parse Python: {exc.msg}", exc.lineno) from None
        return gunicorn.check(settings, path, limits)
    if kind is Kind.COMMANDS:
        out: list[Finding] = []
        for cmd in find_commands(text):
            if cmd.program == "gunicorn":
                out += gunicorn.check(gunicorn.from_command(cmd), path, limits)
            else:
                out += uvicorn.check(cmd, path, limits)
        return out
    if kind is Kind.HAPROXY:
        return haproxy.check(haproxy.parse(text, path), path, limits)
    if kind is Kind.TERRAFORM:
        return terraform.check(terraform.parse(text, path), path, limits)
    docs = y.documents(text, path)
    out = ingress.check(docs, path, limits)
    if envoy.looks_like_envoy(docs):
        out += envoy.check(docs, path, limits)
    return out


def lint_paths(paths: list[str], limits: Limits | None = None, kind: Kind | None = None) -> Result:
    """Lint files and directories. Directories are walked; unknown files in them are skipped."""
    limits = limits or Limits()
    result = Result()
    files, missing = expand(paths)
    result.errors += [ConfigError(p, "no such file or directory") for p in missing]
    named = {os.path.normpath(p) for p in paths}
    texts: dict[str, tuple[str, Kind]] = {}
    for path in files:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError as exc:
            result.errors.append(ConfigError(path, exc.strerror or str(exc)))
            continue
        found = kind or detect(path, text)
        if found is None:
            if os.path.normpath(path) in named:
                result.errors.append(
                    ConfigError(path, "not a config this linter knows (try --kind)")
                )
            continue
        texts[path] = (text, found)

    # An nginx file included by another one is checked through it, in its context.
    included: set[str] = set()
    loaded: dict[str, nginx.Loaded] = {}
    for path, (text, found) in texts.items():
        if found is Kind.NGINX:
            try:
                loaded[path] = nginx.load(path, text)
            except ConfigError as exc:
                result.errors.append(exc)
                continue
            included |= loaded[path].files

    for path, (text, found) in texts.items():
        if found is Kind.NGINX:
            if path not in loaded or os.path.abspath(path) in included:
                continue
            result.findings += nginx.check(loaded[path], limits)
            result.files.append(path)
            continue
        try:
            result.findings += lint_text(path, text, found, limits)
            result.files.append(path)
        except ConfigError as exc:
            result.errors.append(exc)
        except (ValueError, RecursionError) as exc:
            # A parser surprised by odd input still gets the one-line treatment.
            result.errors.append(ConfigError(path, f"cannot parse: {exc}"))
    result.findings.sort(key=lambda f: (f.file, f.line, f.id))
    return result
