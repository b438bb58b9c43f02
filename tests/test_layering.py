"""Imports run down the layers written in docs/architecture.md, never up or sideways: this
reads the table there and checks every import in the package against it."""

from __future__ import annotations

import re

from import_graph import SRC, Import, package_imports


def _layers() -> tuple[dict[str, str], dict[str, set[str]]]:
    """Module prefix -> part, and part -> the parts it may import."""
    doc = (SRC.parent / "docs" / "architecture.md").read_text()
    parts: dict[str, str] = {}
    allowed: dict[str, set[str]] = {}
    for line in doc.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("| ") or len(cells) != 4 or cells[0] in ("part", "---"):
            continue
        part, modules, may_import, _ = cells
        for module in re.findall(r"`([\w.]+)`", modules):
            parts[module] = part
        allowed[part] = {part, *(p.strip() for p in may_import.split(",") if p.strip())}
    return parts, allowed


def _part(module: str, parts: dict[str, str]) -> str | None:
    """The part of the longest matching prefix (`streamwarden.probe.load` -> probe); the bare
    package matches only itself, so that a new subpackage cannot fall into the core."""
    best = None
    for prefix in parts:
        if module == prefix or (prefix != "streamwarden" and module.startswith(prefix + ".")):
            if best is None or len(prefix) > len(best):
                best = prefix
    return parts[best] if best else None


def _ours(imports: list[Import]) -> list[Import]:
    return [i for i in imports if i.target.split(".")[0] == "streamwarden"]


def test_the_table_is_read() -> None:
    parts, allowed = _layers()
    assert parts["streamwarden.guard"] == "core" and parts["streamwarden.lint"] == "lint"
    assert parts["streamwarden"] == "package"
    assert allowed["lint"] == {"lint", "core"}
    assert "lab" not in allowed["probe"]


def test_every_module_belongs_to_a_part() -> None:
    parts, _ = _layers()
    unplaced = sorted({i.module for i in package_imports() if _part(i.module, parts) is None})
    assert unplaced == [], "add these to the table in docs/architecture.md"


def test_no_import_runs_up_or_sideways() -> None:
    parts, allowed = _layers()
    wrong = []
    for found in _ours(package_imports()):
        source, target = _part(found.module, parts), _part(found.target, parts)
        if source is None or target is None:
            continue  # reported by the test above
        if target not in allowed[source]:
            wrong.append(
                f"{found.module}:{found.line} ({source}) imports {found.target} ({target})"
            )
    assert wrong == []


def test_the_probe_and_the_linter_stay_below_the_lab() -> None:
    # The two rules this layering was written for, stated on their own.
    parts, _ = _layers()
    for found in _ours(package_imports()):
        source, target = _part(found.module, parts), _part(found.target, parts)
        if source == "probe":
            assert target != "lab", found
        if source == "lint":
            assert target in ("lint", "core"), found
