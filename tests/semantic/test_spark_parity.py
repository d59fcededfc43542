"""Every canonical view gives the same rows on a local SparkSession as on DuckDB.

Row counts and a content checksum (SHA-256 of the rows rendered as plain
values and sorted) are compared view by view, on the AP-HP fixture (Spark reads
a Parquet copy of the DuckDB file), on the OMOP 5.3 and 5.4 CSV exports (Spark
reads the CSV files itself) and, when present, on the demo warehouse.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import workbench
from semantic.fixtures import assert_same_views as same_views

pytestmark = pytest.mark.spark


def assert_same_views(catalog: Path) -> list[str]:
    with workbench.open(catalog, backend="duckdb") as duck, workbench.open(catalog, backend="pyspark") as spark:
        assert spark.backend_name == "pyspark"
        return same_views(duck, spark)


def test_aphp_views_on_spark_match_duckdb(spark, aphp_catalog: Path) -> None:
    assert len(assert_same_views(aphp_catalog)) == 9


def test_omop_views_on_spark_match_duckdb(spark, omop_catalog) -> None:
    _, catalog = omop_catalog
    assert len(assert_same_views(catalog)) == 8


def test_spark_sql_is_generated_for_a_view(spark, aphp_catalog: Path) -> None:
    with workbench.open(aphp_catalog, backend="pyspark") as wh:
        stays = wh.view("stays")
        sql = wh.to_sql(stays.filter(stays.stay_category == "seance").count())
        assert "`" in sql  # Spark quotes identifiers with backticks
        assert wh.execute(stays.filter(stays.stay_category == "seance").count()) == 1


def test_demo_views_on_spark_match_duckdb(spark, demo_dir: Path) -> None:
    """The 2,000-patient demo: every view, same rows on both engines."""
    assert len(assert_same_views(Path(demo_dir) / "catalog.yaml")) == 9
