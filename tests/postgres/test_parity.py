"""The same warehouse in PostgreSQL and in DuckDB gives the same views, indicators, checks and releases.

Each fixture is copied table by table into its own schema of the throwaway
cluster (tests/postgres/loading.py), catalogued with
``write_catalog("postgresql://reader@…?schema=S")`` and opened on the
postgres engine; the DuckDB side reads the original files. Views are compared
by row count and content checksum (`semantic.fixtures.assert_same_views`, as
for Spark); indicators by their whole result frames (floats to 1e-9).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import workbench
from postgres.conftest import Server
from postgres.loading import load_into
from semantic.fixtures import assert_same_views
from workbench.access.context import UserContext
from workbench.catalog import write_catalog
from workbench.indicators.dictionary import load_dictionary
from workbench.indicators.engine import compute
from workbench.paths import PROJECT_ROOT
from workbench.quality import run_checks


def assert_same_result(got: Any, expected: Any, what: str) -> None:
    """Same status, columns and rows; sums of floats may differ in their last bits (the engines add in
    different orders), so floats are compared to 1e-9 relative."""
    assert got.status == expected.status, what
    assert list(got.frame.columns) == list(expected.frame.columns), what
    columns = list(expected.frame.columns)
    pd.testing.assert_frame_equal(got.frame.sort_values(columns).reset_index(drop=True),
                                  expected.frame.sort_values(columns).reset_index(drop=True),
                                  check_exact=False, rtol=1e-9, obj=what)


def on_postgres(server: Server, catalog: Path, schema: str, flavour: str, password_file: Path) -> Path:
    """`catalog`'s tables loaded into `schema` and the catalogue `catalog init` writes for that schema."""
    load_into(server, catalog, schema)
    out = catalog.parent / f"postgres-{schema}.yaml"
    write_catalog(server.url(schema, password_file=str(password_file)), flavour, out)
    return out


@pytest.fixture(scope="module")
def demo_catalogs(postgres_server: Server, demo_dir: Path, reader_password_file: Path) -> tuple[Path, Path]:
    """The 2,000-patient demo: its DuckDB catalogue and the catalogue of its copy in schema `demo`."""
    duck = Path(demo_dir) / "catalog.yaml"
    return duck, on_postgres(postgres_server, duck, "demo", "aphp", reader_password_file)


def test_aphp_fixture_views_match_duckdb(postgres_server: Server, aphp_fixture: Path,
                                         reader_password_file: Path) -> None:
    pg = on_postgres(postgres_server, aphp_fixture, "aphp", "aphp", reader_password_file)
    with workbench.open(aphp_fixture) as duck, workbench.open(pg) as postgres:
        assert postgres.backend_name == "postgres"
        assert len(assert_same_views(duck, postgres)) == 9


def test_omop_fixture_views_match_duckdb(postgres_server: Server, omop_fixture: tuple[str, Path],
                                         reader_password_file: Path) -> None:
    version, catalog = omop_fixture
    schema = "omop" + version.replace(".", "")
    pg = on_postgres(postgres_server, catalog, schema, "omop", reader_password_file)
    with workbench.open(catalog) as duck, workbench.open(pg) as postgres:
        assert len(assert_same_views(duck, postgres)) >= 8


def test_demo_views_match_duckdb(demo_catalogs: tuple[Path, Path]) -> None:
    duck, pg = demo_catalogs
    with workbench.open(duck) as left, workbench.open(pg) as right:
        assert len(assert_same_views(left, right)) == 9


def test_every_indicator_on_the_demo_matches_duckdb(demo_catalogs: tuple[Path, Path]) -> None:
    duck, pg = demo_catalogs
    dictionary = load_dictionary(PROJECT_ROOT / "wiki")
    with workbench.open(duck) as left, workbench.open(pg) as right:
        for indicator, page in dictionary.indicators.items():
            dimensions = page.definition.dimensions[:1]
            expected = compute(page.definition, left, by=dimensions, grain="year")
            got = compute(page.definition, right, by=dimensions, grain="year")
            assert_same_result(got, expected, indicator)
        assert len(dictionary.indicators) == 16
        assert '"' in got.sql and "`" not in got.sql  # PostgreSQL's quoting, not Spark's


def test_quality_run_on_the_demo_matches_duckdb_without_errors(demo_catalogs: tuple[Path, Path]) -> None:
    duck, pg = demo_catalogs
    with workbench.open(duck) as left, workbench.open(pg) as right:
        expected = {r.id: r for r in run_checks(left).results}
        got = run_checks(right).results
    errors = [(r.id, r.reason) for r in got if r.status.value == "error"]
    assert not errors
    assert {r.id for r in got} == set(expected) and len(got) >= 40
    for result in got:
        reference = expected[result.id]
        assert (result.status.value, result.num_violated_rows, result.num_denominator_rows) == (
            reference.status.value, reference.num_violated_rows, reference.num_denominator_rows), result.id


def test_a_pilotage_referent_gets_the_same_protected_release(demo_catalogs: tuple[Path, Path]) -> None:
    duck, pg = demo_catalogs
    referent = UserContext(name="pilote", role="referent_pilotage")
    definition = load_dictionary(PROJECT_ROOT / "wiki").indicators["nb_sejours"].definition
    with workbench.open(duck, user=referent) as left, workbench.open(pg, user=referent) as right:
        expected = compute(definition, left, by=["service", "month"], start="2024-01", end="2024-03")
        got = compute(definition, right, by=["service", "month"], start="2024-01", end="2024-03")
    assert_same_result(got, expected, "nb_sejours")
    assert got.frame.isna().any().any()  # some small hospitals' cells are masked, on both engines alike
