"""Every canonical view gives the same rows on a local SparkSession as on DuckDB.

Row counts and a content checksum (SHA-256 of the rows rendered as plain
values and sorted) are compared view by view, on the AP-HP fixture (Spark reads
a Parquet copy of the DuckDB file), on the OMOP 5.3 and 5.4 CSV exports (Spark
reads the CSV files itself) and, when present, on the demo warehouse.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

import workbench
from semantic.fixtures import plain

pytestmark = pytest.mark.spark


def fingerprint(frame) -> tuple[int, str]:
    """Row count and an order-independent checksum of a view's content."""
    rows = sorted(repr(tuple(plain(v) for v in row)) for row in frame.itertuples(index=False))
    return len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest()


def assert_same_views(catalog: Path) -> list[str]:
    with workbench.open(catalog, backend="duckdb") as duck, workbench.open(catalog, backend="pyspark") as spark:
        assert spark.backend_name == "pyspark" and duck.views == spark.views
        for name in duck.views:
            expected = duck.execute(duck.view(name))
            got = spark.execute(spark.view(name))
            assert list(got.columns) == list(expected.columns), name
            assert fingerprint(got) == fingerprint(expected), name
        return duck.views


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
