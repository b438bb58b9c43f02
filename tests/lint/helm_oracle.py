"""Real Helm as the oracle for the linter's own reading of chart templates.

Each chart is rendered twice: by Helm's own engine (the helm-python SDK, Helm's Go code behind a
C ABI, no cluster) and by the linter (`templates.read`: the chart's values.yaml evaluated where
it decides, the rest stripped to placeholders). The facts the rules read (an Ingress's
annotations, a pod's grace period, its containers' commands, args and ports) must agree
wherever the linter claims to know them.

Helpers a chart takes from a library chart that is not stored (bitnami's `common`) are
stubbed to return nothing, so Helm renders the rest; the linter treats `include` as unknown,
so no fact it claims to know comes from one.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from streamwarden.lint import templates
from streamwarden.lint import yamlnodes as y
from streamwarden.lint.findings import ConfigError
from streamwarden.lint.templates import PLACEHOLDER

_DEFINE = re.compile(r'\{\{-?\s*define\s+"([^"]+)"')
_USE = re.compile(r'\b(?:include|template)\s+"([^"]+)"')
_BASE_PATH = re.compile(r'\$\.Template\.BasePath\s+"([^"]+)"')
_NIL = re.compile(r"at <(\.Values(?:\.\w+)+)>:\s*nil pointer evaluating interface \{\}\.\w+")
KINDS = ("Ingress", "Deployment", "StatefulSet")
Fact = tuple[str, str, int, str]  # (template, kind, index of that kind, fact name)
NIL_AT_FIRST = "<helm stopped on a nil map with the chart's own values>"


@dataclass
class Comparison:
    chart: str
    rendered: bool
    error: str = ""
    agreed: list[Fact] = field(default_factory=list)
    disagreed: list[tuple[Fact, Any, Any]] = field(default_factory=list)  # fact, ours, helm's
    unknown: list[Fact] = field(default_factory=list)  # helm knows it, we do not
    dropped_but_rendered: list[str] = field(default_factory=list)
    unparsed: list[str] = field(default_factory=list)
    without_values: list[str] = field(default_factory=list)  # the linter fell back
    # Templates the linter says helm cannot render, where Helm rendered the chart.
    failed_but_rendered: list[str] = field(default_factory=list)
    claimed_failures: list[str] = field(default_factory=list)


def charts(base: Path) -> list[Path]:
    """Chart folders: a values.yaml beside a templates/ folder."""
    return sorted(p.parent for p in base.rglob("values.yaml") if (p.parent / "templates").is_dir())


def _stubbed_copy(chart: Path, into: Path) -> Path:
    copy = into / chart.name
    shutil.copytree(chart, copy, ignore=shutil.ignore_patterns("charts"))
    chart_yaml = copy / "Chart.yaml"
    meta = (yaml.safe_load(chart_yaml.read_text()) if chart_yaml.exists() else None) or {}
    meta.pop("dependencies", None)  # library charts are not stored
    meta.setdefault("apiVersion", "v2")
    meta.setdefault("name", chart.name)
    meta.setdefault("version", "0.1.0")
    (copy / "Chart.yaml").write_text(yaml.safe_dump(meta))
    texts = [p.read_text(errors="replace") for p in (copy / "templates").rglob("*") if p.is_file()]
    defined = {name for text in texts for name in _DEFINE.findall(text)}
    used = {name for text in texts for name in _USE.findall(text)}
    stubs = "".join(
        f'{{{{- define "{name}" -}}}}{{{{- end -}}}}\n' for name in sorted(used - defined)
    )
    (copy / "templates" / "_oracle_stubs.tpl").write_text(stubs)
    # `include (print $.Template.BasePath "/configmap.yaml")` (a checksum annotation) of a
    # template that is not stored: an empty one.
    for text in texts:
        for name in _BASE_PATH.findall(text):
            missing = copy / "templates" / name.lstrip("/")
            if not missing.exists():
                missing.parent.mkdir(parents=True, exist_ok=True)
                missing.write_text("")
    return copy


def helm_render(chart: Path, scratch: Path) -> dict[str, str]:
    """{template path under the chart: rendered text}; raises on a render error."""
    import helm_python

    copy = _stubbed_copy(chart, scratch)
    loaded = helm_python.Chart.load(str(copy))
    # A chart that reads a subchart's values, or values a newer values.yaml holds, stops on
    # a nil map (`.Values.ollama.service.port`); an empty map there lets the rest render.
    # The linter reads such a path as unknown, so no fact it knows depends on it.
    extra: dict[str, Any] = {}
    nil_at_first = False
    for _ in range(12):
        try:
            rendered = loaded.render(values=extra, name="release", namespace="default")
            break
        except helm_python.HelmRenderError as exc:
            nil = _NIL.search(str(exc))
            if nil is None:
                raise
            nil_at_first = nil_at_first or not extra
            here = extra
            for key in nil.group(1).split(".")[2:-1]:
                here = here.setdefault(key, {})
    else:
        raise RuntimeError("nil values kept failing")
    prefix = f"{chart.name}/"
    out = {k[len(prefix) :] if k.startswith(prefix) else k: v for k, v in rendered.items()}
    out[NIL_AT_FIRST] = "yes" if nil_at_first else ""
    return out


UNREAD = object()  # what the linter marks unknown: no rule judges it


def _facts(docs: list[Any], unknown: Any = None) -> dict[tuple[str, int, str], Any]:
    """The facts the rules read, from plain documents (Helm's) or, with `unknown` (the
    linter's `YamlFile.unknown`), from the linter's nodes, where what it cannot read is
    UNREAD."""
    out: dict[tuple[str, int, str], Any] = {}
    seen: dict[str, int] = {}

    def fact(parent: Any, key: str, honours_unknown: bool = False) -> Any:
        # As the rules read it: the Ingress rules skip annotations that a stripped action
        # may hold; the workload rules read a pod's fields as they stand (an absent grace
        # period is Kubernetes's 30 s), and a placeholder value is unknown to both.
        if unknown is not None:
            node, plain = parent
            if honours_unknown and unknown(node, key):
                return UNREAD
            return (plain or {}).get(key)
        return (parent or {}).get(key)

    def child(parent: Any, key: str) -> Any:
        if unknown is not None:
            node, plain = parent
            return (y.get(node, key), (plain or {}).get(key))
        return (parent or {}).get(key)

    for doc in docs:
        plain = y.to_python(doc) if unknown is not None else doc
        if not isinstance(plain, dict) or plain.get("kind") not in KINDS:
            continue
        root = (doc, plain) if unknown is not None else plain
        kind = str(plain["kind"])
        index = seen.get(kind, 0)
        seen[kind] = index + 1
        if kind == "Ingress":
            annotations = fact(child(root, "metadata"), "annotations", honours_unknown=True)
            out[(kind, index, "annotations")] = {} if annotations is None else annotations
            continue
        spec = child(child(child(root, "spec"), "template"), "spec")
        out[(kind, index, "terminationGracePeriodSeconds")] = fact(
            spec, "terminationGracePeriodSeconds"
        )
        containers = child(spec, "containers")
        listed = containers[1] if unknown is not None else containers
        for n, _ in enumerate(listed if isinstance(listed, list) else []):
            container = (
                (containers[0].value[n], containers[1][n]) if unknown is not None else listed[n]
            )
            for name in ("command", "args"):
                out[(kind, index, f"containers[{n}].{name}")] = fact(container, name)
            ports = fact(container, "ports")
            out[(kind, index, f"containers[{n}].ports")] = (
                sorted(str(p.get("containerPort")) for p in ports if isinstance(p, dict))
                if isinstance(ports, list)
                else ports
            )
    return out


def _has_placeholder(value: Any) -> bool:
    return value is UNREAD or PLACEHOLDER in repr(value) or "{{" in repr(value)


def compare(chart: Path, scratch: Path) -> Comparison:
    result = Comparison(str(chart), rendered=False)
    try:
        theirs = helm_render(chart, scratch)
    except Exception as exc:  # Helm's own error (a `required` value, a `fail`): not compared
        result.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return result
    result.rendered = True
    for template in sorted((chart / "templates").rglob("*.yaml")):
        name = f"templates/{template.relative_to(chart / 'templates')}"
        text = template.read_text(errors="replace")
        ours = templates.read(str(template), text)
        if ours.without_values:
            result.without_values.append(name)
        if ours.fails is not None:
            result.claimed_failures.append(name)
            if not theirs[NIL_AT_FIRST]:
                result.failed_but_rendered.append(name)
            continue  # nothing installs, so no rule reads its facts
        helm_text = theirs.get(name, "")
        if ours.dropped is not None:
            if helm_text.strip():
                result.dropped_but_rendered.append(name)
            continue
        try:
            file = y.YamlFile(str(template), y.documents(ours.text, name), ours.injected)
        except ConfigError:
            continue  # the linter reports it as a file it cannot read
        try:
            helm_docs = list(yaml.safe_load_all(helm_text)) if helm_text.strip() else []
        except yaml.YAMLError:
            result.unparsed.append(name)  # a stubbed helper left Helm's output broken
            continue
        mine = _facts(file.docs, file.unknown)
        real = _facts(helm_docs)
        for key, value in real.items():
            fact: Fact = (name, *key)
            if key not in mine or _has_placeholder(mine[key]):
                result.unknown.append(fact)
            elif _same(mine[key], value):
                result.agreed.append(fact)
            else:
                result.disagreed.append((fact, mine[key], value))
    return result


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return {k: str(v) for k, v in ours.items()} == {k: str(v) for k, v in theirs.items()}
    if isinstance(ours, list) and isinstance(theirs, list):
        return [str(v) for v in ours] == [str(v) for v in theirs]
    return str(ours) == str(theirs) if ours is not None or theirs is not None else True


if __name__ == "__main__":
    import sys
    import tempfile

    for base in sys.argv[1:]:
        for chart in charts(Path(base)):
            with tempfile.TemporaryDirectory() as scratch:
                c = compare(chart, Path(scratch))
            print(
                os.path.relpath(c.chart),
                "rendered" if c.rendered else f"NOT RENDERED: {c.error}",
                f"agreed={len(c.agreed)} unknown={len(c.unknown)}",
                f"disagreed={c.disagreed} dropped_but_rendered={c.dropped_but_rendered}",
            )
