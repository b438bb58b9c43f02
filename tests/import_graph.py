"""The imports each module of the package makes, read from its source (ast), for the tests
that hold the package's layering and its extras."""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "streamwarden"


@dataclass(frozen=True, slots=True)
class Import:
    module: str  # the importing module, e.g. "streamwarden.probe.load"
    target: str  # what it imports, e.g. "streamwarden.probe.formats" or "httptools"
    line: int
    typing_only: bool  # under `if TYPE_CHECKING:`: costs nothing at run time
    optional: bool  # in a `try:` that handles ImportError: used when installed


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _typing_only_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                for inner in ast.walk(child):
                    if hasattr(inner, "lineno"):
                        lines.add(inner.lineno)
    return lines


def _optional_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            "ImportError" in ast.unparse(h.type) if h.type else False for h in node.handlers
        ):
            for child in node.body:
                for inner in ast.walk(child):
                    if hasattr(inner, "lineno"):
                        lines.add(inner.lineno)
    return lines


def imports_of(path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(), str(path))
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    typing_only = _typing_only_lines(tree)
    optional = _optional_lines(tree)
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base]) if base else ".".join(anchor)
            # `from streamwarden.lab import stacks` imports a module, not a name: name it.
            targets = [
                f"{base}.{alias.name}" if _is_module(f"{base}.{alias.name}") else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            line = node.lineno
            found.append(Import(name, target, line, line in typing_only, line in optional))
    return found


def _is_module(dotted: str) -> bool:
    if not dotted.startswith("streamwarden"):
        return False
    path = SRC.joinpath(*dotted.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()


def package_imports() -> list[Import]:
    return [found for path in sorted(PACKAGE.rglob("*.py")) for found in imports_of(path)]


def third_party(target: str) -> str | None:
    """The top-level name of a module outside the standard library and the package."""
    top = target.split(".")[0]
    if top in ("streamwarden", "__future__") or top in sys.stdlib_module_names:
        return None
    return top
