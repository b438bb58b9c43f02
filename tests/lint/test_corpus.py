"""Every corpus file gives exactly the findings its `expect:` markers name, by rule and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from lint_helpers import CORPUS, expected_in

from streamwarden.lint import lint_paths

INCLUDES = CORPUS / "nginx" / "with-includes"
UNITS = [
    *sorted(
        p
        for p in CORPUS.rglob("*")
        if p.is_file() and "broken" not in p.parts and INCLUDES not in p.parents
    ),
    INCLUDES / "nginx.conf",
]


def found(*paths: Path) -> set[tuple[str, int | None, str]]:
    result = lint_paths([str(p) for p in paths])
    assert result.errors == []
    return {(str(Path(f.file or "").resolve()), f.line, f.id) for f in result.findings}


@pytest.mark.parametrize("path", UNITS, ids=lambda p: str(p.relative_to(CORPUS)))
def test_corpus_file(path: Path) -> None:
    files = list(INCLUDES.rglob("*")) if path.parent == INCLUDES else [path]
    assert found(path) == expected_in(*[f for f in files if f.is_file()])


def test_whole_corpus_at_once_reports_included_files_once() -> None:
    # conf.d/api.conf and snippets/streaming.conf are checked through nginx.conf only.
    every = [p for p in CORPUS.rglob("*") if p.is_file() and "broken" not in p.parts]
    dirs = [p for p in CORPUS.iterdir() if p.is_dir() and p.name != "broken"]
    assert found(*dirs) == expected_in(*every)


def test_clean_configs_have_no_findings() -> None:
    clean = [
        CORPUS / "nginx" / "clean.conf",
        CORPUS / "haproxy" / "clean-haproxy.cfg",
        CORPUS / "gunicorn" / "good.gunicorn.conf.py",
        CORPUS / "gunicorn" / "Dockerfile",
        CORPUS / "gunicorn" / "serve.sh",
    ]
    result = lint_paths([str(p) for p in clean])
    assert result.findings == [] and result.errors == []
    assert result.exit_code == 0
    assert len(result.files) == len(clean)


def test_an_included_snippet_linted_alone_still_works() -> None:
    # Linted by itself, a server{} file is read as if it sat in http{}.
    api = INCLUDES / "conf.d" / "api.conf"
    rules = {(f.line, f.id) for f in lint_paths([str(api)]).findings}
    # nginx.conf's `proxy_http_version 1.1` is unseen, and so is the app: one named route.
    assert (11, "nginx/buffering-unverified") in rules
    assert not any(rule in ("nginx/http-version", "nginx/proxy-buffering") for _, rule in rules)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("unbalanced.conf", 'cannot parse nginx config: unexpected end of file, expecting "}"'),
        ("bad-haproxy.cfg", "bad time value `thirty`"),
        ("bad.yaml", "cannot parse YAML"),
    ],
)
def test_broken_files_give_one_error(name: str, problem: str) -> None:
    result = lint_paths([str(CORPUS / "broken" / name)])
    assert result.findings == []
    assert len(result.errors) == 1
    assert problem in result.errors[0].one_line()
    assert result.exit_code == 2
