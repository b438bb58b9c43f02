"""The acceptance test: precision and recall on real configs from public LLM/SSE projects.

docs/lint.md holds one judged row per finding (true, false or info) and per real problem the
linter misses (missed). This test lints each file alone with default flags, and the files that
belong together as a tree, checks that the findings are exactly the judged ones, and computes
the figures from the verdicts.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from streamwarden.lint import lint_paths
from streamwarden.lint.appservers import is_requirements
from streamwarden.lint.detect import detect

HERE = Path(__file__).parent
DOCS = HERE.parents[1] / "docs" / "lint.md"
REAL = HERE / "real"
HOLDOUT = HERE / "real_holdout"
FRESH = HERE / "real_fresh"
UNSEEN = HERE / "real_unseen"
# Round 6: slices of projects' repositories, configs with the app code their judges read.
TREES = HERE / "real_trees"
# Round 9: Helm charts of LLM projects, judged as `helm install` renders them by default.
CHARTS = HERE / "real_charts"
ROW = re.compile(r"^\| (.+?) \| `(.+?)` \| `(.+?)` \| (true|false|info|missed) \| .+ \|$")
Key = tuple[str, str, str]  # (run, file:line, rule)
# Projects of the held-out corpus whose files belong together (linted as a directory too).
HOLDOUT_TREES = (
    "bisheng",
    "chatgpt-web",
    "gpt-researcher",
    "librechat",
    "private-gpt",
    "production-stack",
    "sglang",
    "weknora",
)
CORPORA = [
    (REAL, "real"),
    (HOLDOUT, "real_holdout"),
    (FRESH, "real_fresh"),
    (UNSEEN, "real_unseen"),
    (TREES, "real_trees"),
    (CHARTS, "real_charts"),
]


def judged(corpus: str) -> dict[Key, str]:
    text = DOCS.read_text()
    start = text.index(f"<!-- judged:{corpus} -->")
    end = text.index(f"<!-- /judged:{corpus} -->")
    rows: dict[Key, str] = {}
    for line in text[start:end].splitlines():
        match = ROW.match(line)
        if match:
            rows[(match.group(1), match.group(2), match.group(3))] = match.group(4)
    return rows


def evidence_only(path: Path) -> bool:
    """A requirements file: read in a tree for the app server, not a config to lint alone."""
    return is_requirements(str(path)) and detect(str(path), path.read_text()) is None


def app_file(path: Path) -> bool:
    """In a project slice, a file the linter reads only inside its tree (app source, a
    dependency manifest, an env file): not a config to lint alone."""
    return detect(str(path), path.read_text(errors="replace")) is None


def runs(base: Path) -> list[tuple[str, list[str], list[tuple[str, str]]]]:
    skip = app_file if base in (TREES, CHARTS) else evidence_only
    files = sorted(
        p for p in base.rglob("*") if p.is_file() and p.name != "SOURCES" and not skip(p)
    )
    out: list[tuple[str, list[str], list[tuple[str, str]]]] = [
        (f"alone: {p.relative_to(base)}", [str(p)], []) for p in files
    ]
    if base == REAL:
        nginx = str(REAL / "dify" / "docker" / "nginx")
        out.append(
            (
                "tree: dify, --root /etc/nginx=dify/docker/nginx",
                [str(REAL / "dify")],
                [("/etc/nginx", nginx)],
            )
        )
        out.append(("tree: sample-app-aoai-chatGPT", [str(REAL / "sample-app-aoai-chatGPT")], []))
    if base == HOLDOUT:
        ragflow = str(HOLDOUT / "ragflow")
        out.append(
            (
                "tree: ragflow, --root /etc/nginx/conf.d=ragflow",
                [ragflow],
                [("/etc/nginx/conf.d", ragflow)],
            )
        )
        out += [(f"tree: {p}", [str(HOLDOUT / p)], []) for p in HOLDOUT_TREES]
    if base == FRESH:
        geekai = str(FRESH / "geekai")
        out.append(("tree: geekai, --root /etc/nginx=geekai", [geekai], [("/etc/nginx", geekai)]))
        out += [(f"tree: {p}", [str(FRESH / p)], []) for p in ("superagi", "taskingai")]
    if base == UNSEEN:
        trees = ["docsgpt", "new-api", "letta", "get-started-with-ai-agents", "llmgateway"]
        trees += ["ruoyi-ai", "rag-web-ui", "openai-forward", "ollama-helm", "ihub-apps"]
        trees += ["erni-ki", "genai-stack", "open-notebook", "refly", "tidb.ai", "ragapp"]
        trees += ["dstack", "LLocalSearch", "Geist-Helm", "MindSearch", "OpenHands", "XAgent"]
        trees += ["vllm", "xinference-helm-charts", "SurfSense", "openui"]
        trees += ["cohere-toolkit", "llama-gpt", "aiproxy", "llm-d", "xyne", "nim-deploy"]
        trees += ["nvidia-rag", "trieve", "tabbyapi"]
        out += [(f"tree: {p}", [str(UNSEEN / p)], []) for p in trees]
    if base == TREES:
        projects = sorted(p.name for p in TREES.iterdir() if p.is_dir())
        out += [(f"tree: {p}", [str(TREES / p)], []) for p in projects]
    if base == CHARTS:
        charts = sorted(p.parent.relative_to(CHARTS) for p in CHARTS.rglob("Chart.yaml"))
        out += [(f"tree: {c}", [str(CHARTS / c)], []) for c in charts]
    return out


def reported(base: Path) -> set[Key]:
    found: set[Key] = set()
    for name, paths, roots in runs(base):
        result = lint_paths(paths, roots=roots)
        assert result.errors == [], (name, [e.one_line() for e in result.errors])
        assert result.files, name
        for f in result.findings:
            where = f"{os.path.relpath(os.path.abspath(f.file or ''), base)}:{f.line}"
            found.add((name, where, f.id))
    return found


def counts(rows: dict[Key, str]) -> tuple[int, int, int]:
    verdicts = list(rows.values())
    true, false, missed = (verdicts.count(v) for v in ("true", "false", "missed"))
    return true, false, missed


def figures(rows: dict[Key, str]) -> tuple[float, float]:
    true, false, missed = counts(rows)
    precision = true / (true + false) if true + false else 1.0
    recall = true / (true + missed) if true + missed else 1.0
    return precision, recall


@pytest.mark.parametrize(("base", "corpus"), CORPORA)
def test_every_finding_is_judged(base: Path, corpus: str) -> None:
    rows = judged(corpus)
    listed = {key for key, verdict in rows.items() if verdict != "missed"}
    assert reported(base) == listed


def test_sources_name_every_file() -> None:
    for base, corpus in CORPORA:
        named = {
            line.split(" | ")[0]
            for line in (base / "SOURCES").read_text().splitlines()
            if line and not line.startswith("#")
        }
        files = {str(p.relative_to(base)) for p in base.rglob("*") if p.name != "SOURCES"}
        assert named == {f for f in files if (base / f).is_file()}
        projects = {name.split("/")[0] for name in named}
        # The fresh corpus is smaller: 12 files from 8 projects at least.
        assert len(named) >= (12 if corpus == "real_fresh" else 20)
        assert len(projects) >= (8 if corpus == "real_fresh" else 10)


def test_precision_and_recall_on_the_corpus() -> None:
    precision, recall = figures(judged("real"))
    assert precision >= 0.9 and recall >= 0.9, (precision, recall)


@pytest.mark.parametrize(
    ("corpus", "least_precision", "least_recall"),
    [
        ("real_holdout", 0.9, 0.8),
        ("real_fresh", 0.65, 0.8),
        ("real_unseen", 0.9, 0.48),
        ("real_trees", 0.8, 0.5),
        ("real_charts", 0.9, 0.2),
    ],
)
def test_figures_on_the_corpora_not_tuned_on(
    corpus: str, least_precision: float, least_recall: float
) -> None:
    # Recall under 90 %, measured and explained in docs/lint.md: default-buffering routes in
    # front of Node and Go apps burst, and their config files look exactly like the ones that
    # do not, so they are named (nginx/buffering-unverified, info) rather than warned; the
    # unseen corpus adds problems that only the app's code shows (no keep-alives under a 60 s
    # read timeout, a uvicorn hidden behind `poetry run`). The fresh corpus's false alarms are
    # drain and grace-period findings on SuperAGI's and AutoGPT's services, which stream
    # nothing the files or their code show. The project trees (round 6) keep four: drains and
    # read timeouts on routes or servers whose judges found no stream there. The charts'
    # judges (round 9) named probes, replicas, selectors and resources, which no rule reads.
    # These bounds only keep the figures from sliding back.
    precision, recall = figures(judged(corpus))
    assert precision >= least_precision and recall >= least_recall, (precision, recall)


@pytest.mark.parametrize(
    ("corpus", "row"),
    [
        ("real", "| `real/` (tuned on) |"),
        ("real_holdout", "| `real_holdout/`, all sets, now (the table the test reads)"),
        ("real_fresh", "| `real_fresh/`, now (the table the test reads)"),
        ("real_unseen", "| `real_unseen/`, now (the table the test reads)"),
        ("real_trees", "| `real_trees/`, rounds 6 to 8, now (the table the test reads)"),
        ("real_charts", "| `real_charts/`, now (the table the test reads)"),
    ],
)
def test_the_documented_figures_are_the_judged_ones(corpus: str, row: str) -> None:
    [line] = [line for line in DOCS.read_text().splitlines() if line.startswith(row)]
    runs, *cells = line.split(" | ")[1:5]
    assert runs == "all"
    true, false, missed = (int(cell) for cell in cells)
    assert (true, false, missed) == counts(judged(corpus))
