"""The linter's reading of real charts, checked against Helm's own engine (helm_oracle.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helm_oracle import Comparison, charts, compare

pytest.importorskip("helm_python")  # Helm's engine: a Linux x86_64 wheel, in the test extra

HERE = Path(__file__).parent
CHARTS = charts(HERE / "real_charts") + charts(HERE / "real_trees")


@pytest.fixture(scope="module")
def compared(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, Comparison]:
    return {chart: compare(chart, tmp_path_factory.mktemp(chart.name)) for chart in CHARTS}


@pytest.mark.parametrize("chart", CHARTS, ids=lambda p: str(p.relative_to(HERE)))
def test_what_the_linter_reads_from_a_chart_is_what_helm_renders(
    chart: Path, compared: dict[Path, Comparison]
) -> None:
    result = compared[chart]
    assert result.disagreed == []
    assert result.dropped_but_rendered == []
    assert result.without_values == []  # no value the linter inserted broke the YAML
    assert result.failed_but_rendered == []  # helm/render-error only where Helm fails too


def test_the_linter_knows_most_of_what_helm_renders(compared: dict[Path, Comparison]) -> None:
    rendered = [c for c in compared.values() if c.rendered]
    agreed = sum(len(c.agreed) for c in rendered)
    unknown = sum(len(c.unknown) for c in rendered)
    # Not a vacuous pass: every chart renders (helpers of library charts stubbed), and the
    # linter knows nearly every fact the rules read (48 of 49 when this was written).
    assert len(rendered) == len(compared), [c.error for c in compared.values()]
    # Helm stops on a nil map in four of these charts as stored (values.yaml older than a
    # template, a key never defined, dependencies not vendored). The linter claims three:
    # Open WebUI imports values from its dependencies, so it claims nothing there.
    failing = sorted(Path(c.chart).name for c in rendered if c.claimed_failures)
    assert failing == ["h2ogpt-chart", "librechat-rag-api", "qdrant"], failing
    assert agreed >= 40 and agreed >= 10 * unknown, (agreed, unknown)
