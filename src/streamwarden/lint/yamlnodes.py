"""YAML read as nodes, so findings can point at lines (plain `safe_load` drops them)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import yaml

from streamwarden.lint.findings import ConfigError


def documents(text: str, file: str) -> list[yaml.Node]:
    try:
        return [doc for doc in yaml.compose_all(text, Loader=yaml.SafeLoader) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            file, f"cannot parse YAML: {problem}", mark.line + 1 if mark else None
        ) from None


def line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def get(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v  # type: ignore[no-any-return]
    return None


def key_node(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for k, _ in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return k
    return None


def scalar(node: yaml.Node | None) -> str | None:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else None


def items(node: yaml.Node | None) -> Iterator[tuple[str, yaml.Node, yaml.Node]]:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                yield str(k.value), k, v


def walk(node: yaml.Node) -> Iterator[yaml.Node]:
    """Every mapping below (and including) `node`."""
    if isinstance(node, yaml.MappingNode):
        yield node
        for _, v in node.value:
            yield from walk(v)
    elif isinstance(node, yaml.SequenceNode):
        for v in node.value:
            yield from walk(v)


def to_python(node: yaml.Node) -> object:
    return yaml.SafeLoader(yaml.dump(None)).construct_document(node)


class YamlFile:
    """The documents of one YAML file, and what in them could not be read (template values).

    `injected` holds the lines where a removed template action would have inserted content;
    families report what they skip through `unread`, and the linter turns that into one info
    finding per file.
    """

    def __init__(self, path: str, docs: list[yaml.Node], injected: dict[int, str]) -> None:
        self.path = path
        self.docs = docs
        self.injected = injected
        self.unread: list[tuple[int, str]] = []
        self.templated = bool(injected) or any(_has_placeholder(d) for d in docs)

    def unknown(self, parent: yaml.Node | None, key: str) -> bool:
        """Whether `parent[key]` comes (partly) from a template and cannot be read here."""
        if not isinstance(parent, yaml.MappingNode):
            return False
        pairs = [(k, v) for k, v in parent.value if isinstance(k, yaml.ScalarNode)]
        for i, (k, v) in enumerate(pairs):
            if k.value != key:
                continue
            if isinstance(v, yaml.ScalarNode) and _has_placeholder(v):
                return True  # the whole value is (partly) a template action
            start = line(k)
            end = line(pairs[i + 1][0]) if i + 1 < len(pairs) else int(parent.end_mark.line) + 2
            return any(start <= n < end for n in self.injected)
        # The key is absent; a removed action inside this mapping may have held it, unless
        # what it inserts is indented deeper than the mapping's keys (`labels:` then
        # `{{- include "x.labels" . | nindent 4 }}` fills `labels`, not its siblings).
        first = line(parent)
        last = int(parent.end_mark.line) + 1
        column = int(pairs[0][0].start_mark.column) if pairs else 0
        return any(first <= n <= last and not self._deeper(n, column) for n in self.injected)

    def _deeper(self, at: int, column: int) -> bool:
        width = _NINDENT.search(self.injected[at])
        return width is not None and int(width.group(1)) > column

    def note(self, at: int, what: str) -> None:
        self.unread.append((at, what))


_NINDENT = re.compile(r"\bn?indent\s+(\d+)")


def _has_placeholder(node: yaml.Node) -> bool:
    if isinstance(node, yaml.ScalarNode):
        return "__helm__" in str(node.value)
    if isinstance(node, yaml.MappingNode):
        return any(_has_placeholder(v) for _, v in node.value)
    if isinstance(node, yaml.SequenceNode):
        return any(_has_placeholder(v) for v in node.value)
    return False


def kind_of(doc: yaml.Node) -> str:
    return scalar(get(doc, "kind")) or ""


def name_of(doc: yaml.Node) -> str:
    value = scalar(get(get(doc, "metadata"), "name")) or "?"
    return value.replace("__helm__", "{{…}}")
