"""Every config shown in the docs passes `streamwarden lint` with the defaults."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from streamwarden.lint import Kind, Limits, lint_text

ROOT = Path(__file__).parents[2]
KINDS = {"nginx": Kind.NGINX, "haproxy": Kind.HAPROXY, "yaml": Kind.YAML, "hcl": Kind.TERRAFORM}
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks() -> list[tuple[str, str, str]]:
    out = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for match in FENCE.finditer(doc.read_text()):
            if match.group(1) in KINDS:
                out.append((doc.name, match.group(1), match.group(2)))
    return out


def test_the_docs_show_configs() -> None:
    assert any(kind == "nginx" for _, kind, _ in blocks())


@pytest.mark.parametrize(("doc", "kind", "text"), blocks(), ids=lambda v: str(v)[:20])
def test_docs_config_lints_clean(doc: str, kind: str, text: str, tmp_path: Path) -> None:
    found = lint_text(str(tmp_path / f"block.{kind}"), text, KINDS[kind], Limits())
    assert [(f.id, f.line) for f in found if f.severity != "info"] == [], doc


def test_the_docs_list_every_rule() -> None:
    from streamwarden.lint import INFOS

    text = (ROOT / "docs" / "lint.md").read_text()
    assert [rule for rule in INFOS if f"`{rule}`" not in text] == []
