"""Every indicator of the dictionary gives the same figures on a local SparkSession as on DuckDB.

On the 2,000-patient demo (Spark reads its Parquet copy, DuckDB its file), for
2024 by hospital and quarter: the same cells, numerators, denominators, patient
counts and values (to 1e-9 for ratios computed in floating point), or
"non disponible pour cette source" on both. (The hand-computed figures of each
indicator are in its own test file; `test_engine_spark.py` checks two of them on
Spark directly. The disclosure policy masks from these figures in Python, so
equal figures give equal masks.)
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import workbench
from workbench import paths
from workbench.indicators.dictionary import load_dictionary
from workbench.indicators.engine import compute

pytestmark = pytest.mark.spark

DICTIONARY = load_dictionary(paths.PROJECT_ROOT / "wiki")
INDICATORS = sorted(page.definition.id for page in DICTIONARY.indicators.values())
VALUES = ["value", "numerator", "denominator", "n_patients"]


@pytest.fixture(scope="module")
def engines(spark, demo_dir: Path):
    catalog = Path(demo_dir) / "catalog.yaml"
    with workbench.open(catalog, backend="duckdb") as duck, workbench.open(catalog, backend="pyspark") as on_spark:
        yield duck, on_spark


def comparable(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Rows in key order, values as floats (Spark and DuckDB return different integer and decimal types)."""
    out = frame[keys + [c for c in VALUES + ["masked"] if c in frame.columns]].copy()
    for column in VALUES:
        out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    return out.sort_values(keys).reset_index(drop=True)


def keys_of(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in (*VALUES, "masked", "indicator_version", "snapshot_id")]


def test_the_dictionary_holds_the_sixteen_indicators():
    assert len(INDICATORS) == 16


@pytest.mark.parametrize("indicator", INDICATORS)
def test_indicator_on_spark_equals_duckdb(engines, indicator: str) -> None:
    duck, on_spark = engines
    definition = DICTIONARY.get(indicator).definition
    by = [dimension for dimension in ("hospital", "quarter") if dimension in definition.dimensions]
    request = dict(by=by, start="2024-01", end="2024-12", grain="quarter")
    expected, found = compute(definition, duck, **request), compute(definition, on_spark, **request)
    assert found.available == expected.available
    if not expected.available:
        return
    keys = keys_of(expected.frame)
    left, right = comparable(expected.frame, keys), comparable(found.frame, keys)
    assert len(left) > 0
    pd.testing.assert_frame_equal(right, left, check_dtype=False, rtol=1e-9)
