"""YAML read as nodes, so findings can point at lines (plain `safe_load` drops them)."""

from __future__ import annotations

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
