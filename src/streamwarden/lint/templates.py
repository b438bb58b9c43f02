"""Helm templates: render them with `helm template` when helm is installed, else evaluate
what the chart's default values decide (`helmvalues`) and strip the rest of the template
syntax well enough to read what is literal, and say what could not be read.

Stripping keeps line numbers: a line that is only template actions (`{{- if … }}`,
`{{- toYaml . | nindent 4 }}`) becomes a comment at the same indentation, and an action inside a value becomes the
placeholder `__helm__`. A mapping key whose content came from a removed `toYaml`/`include` line,
or whose value is a placeholder, is *unknown*: its rules do not run on it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from streamwarden.lint import helmvalues
from streamwarden.lint import yamlnodes as y
from streamwarden.lint.findings import ConfigError

PLACEHOLDER = "__helm__"
_CONDITION = re.compile(r"\{\{-?\s*(if|with)\s")
# Go template actions (`{{ … }}`), and Jinja statements (`{% … %}`: a YAML template that a
# tool renders, like archgw's envoy.template.yaml).
_ACTION = re.compile(r"\{\{-?.*?-?\}\}|\{%-?.*?-?%\}")
_ONLY_ACTIONS = re.compile(r"^\s*((\{\{-?.*?-?\}\}|\{%-?.*?-?%\})\s*)+$")
# `labels: {{- include "x" . | nindent 4 }}`: the action is the mapping's whole content.
_KEY_THEN_BLOCK = re.compile(r"^(\s*[^\s#][^:]*:)\s*\{\{-?.*\b(nindent|indent|toYaml)\b.*\}\}\s*$")
_INJECTS = re.compile(r"\b(toYaml|include|tpl|toJson)\b")


@dataclass(slots=True)
class Stripped:
    text: str
    # line (1-based) -> what the removed action there would have inserted (toYaml .Values.x)
    injected: dict[int, str] = field(default_factory=dict)
    # A template that renders nothing with its chart's default values: the action that
    # drops it (`{{- if .Values.ingress.enabled }}`) and its line.
    dropped: tuple[str, int] | None = None
    # The chart's values broke the YAML, so the template was read without them.
    without_values: bool = False
    # The YAML documents of `text`, where reading the values has parsed them already.
    docs: list[yaml.Node] | None = None

    def documents(self, path: str) -> list[yaml.Node]:
        """The YAML documents of `text`, parsed once."""
        if self.docs is None:
            self.docs = y.documents(self.text, path)
        return self.docs

    # Where helm stops with the chart's default values (a field read through a map that
    # values.yaml does not hold): (line, the field path). Nothing of the chart installs.
    fails: helmvalues.Failure | None = None


class Charts:
    """How one lint run reads Helm templates without helm: the values files it deploys the
    charts with (`--helm-values`; `files` for helm, `values` for the linter's own reading),
    and each chart's values and each template's reading, worked out once per run. A chart's
    templates share its values, and a template is read both for the servers it starts and
    for its rules."""

    def __init__(self, files: Sequence[str] = (), values: Sequence[dict[str, Any]] = ()) -> None:
        self.files = tuple(files)
        self.values = tuple(values)
        self._charts: dict[str, tuple[dict[str, Any] | None, frozenset[str] | None]] = {}
        self._read: dict[str, Stripped] = {}

    def read(self, path: str, text: str) -> Stripped:
        """`read(path, text)` with this run's values, once per template."""
        if path not in self._read:
            chart = helmvalues.chart_of(path)
            if chart is None:
                self._read[path] = strip(text)
            else:
                if chart not in self._charts:
                    self._charts[chart] = (
                        helmvalues.values_of(chart, self.values),
                        helmvalues.dependencies_of(chart),
                    )
                self._read[path] = _read(text, *self._charts[chart])
        return self._read[path]


def is_template(text: str) -> bool:
    return ("{{" in text and "}}" in text) or ("{%" in text and "%}" in text)


def read(path: str, text: str, overrides: Sequence[Mapping[str, Any]] = ()) -> Stripped:
    """A template without helm: its chart's values (the defaults, with a user's `overrides`
    over them) evaluated where they decide, the rest stripped."""
    chart = helmvalues.chart_of(path)
    if chart is None:
        return strip(text)
    values = helmvalues.values_of(chart, overrides)
    return _read(text, values, helmvalues.dependencies_of(chart))


def _read(text: str, values: dict[str, Any] | None, subcharts: frozenset[str] | None) -> Stripped:
    if values is None:
        return strip(text)
    evaluated, fails = helmvalues.evaluation(text, values, subcharts)
    if fails is not None:
        failed = strip(text)
        failed.fails = fails
        return failed
    stripped = strip(evaluated)
    try:
        stripped.docs = y.documents(stripped.text, "")
    except (ConfigError, RecursionError):
        # What the values inserted broke the YAML (a value helm would quote or indent
        # differently): read the template without them, as if there were no values.
        plain = strip(text)
        plain.without_values = True
        return plain
    if _is_empty(evaluated) and not _is_empty(text):
        lines = list(enumerate(text.splitlines(), 1))
        condition = [(n, line) for n, line in lines if _CONDITION.search(line)]
        n, line = (condition or [(n, line) for n, line in lines if "{{" in line])[0]
        stripped.dropped = (line.strip(), n)
    return stripped


def _is_empty(text: str) -> bool:
    return all(line.strip() in ("", "#", "---") for line in text.splitlines())


def strip(text: str) -> Stripped:
    out: list[str] = []
    injected: dict[int, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if _ONLY_ACTIONS.match(line):
            if _INJECTS.search(line):
                injected[number] = line.strip()
            # A comment at the line's own indentation: inside a block scalar (`data: |` of
            # a ConfigMap) a column-0 line would end the scalar and break the YAML.
            indent = line[: len(line) - len(line.lstrip())]
            # A tab may not indent YAML: as wide in spaces, the comment stays where it was.
            out.append(indent.replace("\t", " " * 8) + "#")
            continue
        block = _KEY_THEN_BLOCK.match(line)
        if block is not None:
            # The key stays a mapping (its indented lines below still parse) whose inserted
            # content is unknown.
            injected[number] = line.strip()
            out.append(block.group(1))
            continue
        if "{{" in line or "{%" in line:
            # `name: {{ include "x.fullname" . }}` on one line inserts a scalar (a map there
            # would not parse): the value is a placeholder, its siblings stay readable.
            line = _ACTION.sub(PLACEHOLDER, line)
        out.append(line)
    return Stripped("\n".join(out) + "\n", injected)


def chart_root(path: str) -> str | None:
    """The chart directory (holding Chart.yaml) above a template, if any."""
    here = os.path.dirname(os.path.abspath(path))
    for _ in range(4):
        if os.path.isfile(os.path.join(here, "Chart.yaml")):
            return here
        here = os.path.dirname(here)
    return None


def render(path: str, values_files: Sequence[str] = (), timeout: float = 30.0) -> str | None:
    """`helm template CHART --show-only TEMPLATE [-f FILE…]`: the chart's default values,
    with the user's values files over them; None when helm is not installed, the file is not
    in a chart, or helm fails (then we strip)."""
    helm = shutil.which("helm")
    chart = chart_root(path)
    if helm is None or chart is None:
        return None
    relative = os.path.relpath(os.path.abspath(path), chart)
    files = [arg for file in values_files for arg in ("-f", os.path.abspath(file))]
    try:
        done = subprocess.run(
            [helm, "template", chart, "--show-only", relative, *files],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None
