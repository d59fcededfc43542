"""The same indicator requests on a local SparkSession give the hand-computed numbers too.

Re-uses the fixtures of `test_rh30.py` (readmissions: self-join on a date
window, subquery) and `test_taux_occupation.py` (calendar of months built by
the engine, range joins, capacities), whose rows and expected figures are
shown there; Spark reads a Parquet copy of the DuckDB file.
"""

from __future__ import annotations

import pytest

from workbench import warehouse

from . import test_rh30, test_taux_occupation
from .fixtures import build_warehouse, definition
from workbench.indicators.engine import compute

pytestmark = pytest.mark.spark


def on_spark(fixture, folder):
    build_warehouse(fixture, folder)
    return warehouse.open(catalog=folder / "catalog.yaml", backend="pyspark")


def test_rh30_on_spark(tmp_path):
    spark = on_spark(test_rh30.FIXTURE, tmp_path)
    result = compute(definition("rh30"), spark, by=["month"], start="2024-01", end="2024-03")
    assert test_rh30.rates(result, "month") == {"2024-01": (2, 4), "2024-02": (0, 2), "2024-03": (1, 3)}
    assert "`" in result.sql  # Spark SQL, not DuckDB's


def test_occupancy_on_spark(tmp_path):
    spark = on_spark(test_taux_occupation.FIXTURE, tmp_path)
    occupancy = definition("taux_occupation", dimensions=test_taux_occupation.DIMENSIONS)
    # January only: February's figures depend on the extraction date (the open stay counts up to it)
    result = compute(occupancy, spark, by=["hospital", "month"], start="2024-01", end="2024-01")
    assert test_taux_occupation.terms(result, "hospital", "month") == {
        ("014", "2024-01"): (5, 310), ("028", "2024-01"): (18, 203),
    }
