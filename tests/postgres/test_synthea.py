"""The public Synthea CDM 5.4 export (tests/fixtures/omop-synthea27nj/) in PostgreSQL reads as in DuckDB.

The zip's tables are catalogued by `catalog init` (CDM-typed), copied into
schema `synthea` of the throwaway cluster and catalogued again from there;
every view, every indicator of the wiki (a value or "non disponible" alike on
both engines) and the whole quality run must agree.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import workbench
from postgres.conftest import Server
from postgres.test_parity import assert_same_result, on_postgres
from semantic.fixtures import assert_same_views
from workbench.catalog import write_catalog
from workbench.indicators.dictionary import load_dictionary
from workbench.indicators.engine import compute
from workbench.paths import PROJECT_ROOT
from workbench.quality import run_checks

# checks whose denominator is what the source left untyped: CSV text is cast column by column, a database's
# columns already have their types (same violations on both, a smaller denominator on PostgreSQL)
TYPED_BY_THE_SOURCE = {"cdm_values_castable"}
EXPORT = PROJECT_ROOT / "tests" / "fixtures" / "omop-synthea27nj" / "Synthea27Nj_5.4.zip"


@pytest.fixture(scope="module")
def synthea(postgres_server: Server, tmp_path_factory: pytest.TempPathFactory,
            reader_password_file: Path) -> tuple[Path, Path]:
    duck = tmp_path_factory.mktemp("synthea") / "catalog.yaml"
    write_catalog(EXPORT, "omop", duck)
    return duck, on_postgres(postgres_server, duck, "synthea", "omop", reader_password_file)


def test_views_and_indicators_match_duckdb(synthea: tuple[Path, Path]) -> None:
    duck, pg = synthea
    dictionary = load_dictionary(PROJECT_ROOT / "wiki")
    with workbench.open(duck) as left, workbench.open(pg) as right:
        assert right.catalog.metadata.get("cdm_version") == left.catalog.metadata.get("cdm_version") == "5.4"
        assert len(assert_same_views(left, right)) >= 8
        assert int(right.execute(right.view("patients").count())) == 28
        for indicator, page in dictionary.indicators.items():
            dimensions = page.definition.dimensions[:1]
            expected = compute(page.definition, left, by=dimensions, grain="year")
            assert_same_result(compute(page.definition, right, by=dimensions, grain="year"), expected, indicator)


def test_quality_run_matches_duckdb_without_errors(synthea: tuple[Path, Path]) -> None:
    duck, pg = synthea
    with workbench.open(duck) as left, workbench.open(pg) as right:
        expected = {r.id: r for r in run_checks(left).results}
        got = run_checks(right).results
    errors = sorted({(r.reason or "")[:160] for r in got if r.status.value == "error"})
    assert not errors, errors
    assert {r.id for r in got} == set(expected)
    for result in got:
        reference = expected[result.id]
        assert (result.status.value, result.num_violated_rows) == (
            reference.status.value, reference.num_violated_rows), result.id
        if result.id not in TYPED_BY_THE_SOURCE:
            assert result.num_denominator_rows == reference.num_denominator_rows, result.id
