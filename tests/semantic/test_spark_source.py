"""A Spark/Hive database as the source: `catalog init --source spark:DB`, then the views on Spark."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

import workbench
from semantic.fixtures import plain_rows, write_omop_csv
from workbench.catalog import write_catalog
from workbench.errors import UserError

pytestmark = pytest.mark.spark
DATABASE = "wb_test_omop54"


@pytest.fixture(scope="module")
def spark_catalog(spark, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The OMOP 5.4 fixture loaded as managed tables of a Spark database, and its catalogue."""
    folder = tmp_path_factory.mktemp("sparkdb")
    write_omop_csv(folder / "csv", "5.4")
    spark.sql(f"CREATE DATABASE IF NOT EXISTS {DATABASE} LOCATION '{folder / 'db'}'")
    for path in sorted((folder / "csv").glob("*.csv")):
        frame = spark.read.csv(str(path), header=True, inferSchema=True)
        frame.write.mode("overwrite").saveAsTable(f"{DATABASE}.{path.stem}")
    write_catalog(f"spark:{DATABASE}", "omop", folder / "catalog.yaml")
    return folder / "catalog.yaml"


def test_catalogue_of_a_spark_database_opens_on_spark(spark_catalog: Path) -> None:
    document = yaml.safe_load(spark_catalog.read_text(encoding="utf-8"))
    assert document["data"]["warehouse"]["kwargs"] == {"database": DATABASE}
    with workbench.open(spark_catalog) as wh:
        assert wh.backend_name == "pyspark" and wh.catalog.source_kind == "spark"
        assert wh.execute(wh.table("visit_occurrence").count()) == 8
        stays = plain_rows(wh.execute(wh.view("stays")), ["stay_id", "visit_type", "stay_category", "nights"],
                           "stay_id")
        assert stays == [
            (-100, "hospitalisés", "hospitalisation_complete", 3), (101, "urgence", "urgence", 0),
            (102, "hospitalisés", "hospitalisation_complete", 2), (103, "consultation externe", "consultation", 0),
            (104, "hospitalisés", "ambulatoire", 0), (105, "hospitalisation incomplète", "hospitalisation_complete", 1),
            (106, "autre", "autre", 0), (107, "hospitalisés", "hospitalisation_complete", None),
        ]


def test_spark_source_needs_the_spark_backend(spark_catalog: Path) -> None:
    with pytest.raises(UserError, match="Spark"):
        workbench.open(spark_catalog, backend="duckdb")


def test_declared_column_missing_from_a_spark_table(spark_catalog: Path, tmp_path: Path) -> None:
    document = yaml.safe_load(spark_catalog.read_text(encoding="utf-8"))
    document["entries"]["death"]["metadata"]["columns"]["cause"] = {"type": "string", "description": "Cause"}
    (tmp_path / "catalog.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    with pytest.raises(UserError, match="entrée « death », clé « metadata.columns.cause »"):
        workbench.open(tmp_path / "catalog.yaml")
