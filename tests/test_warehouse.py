"""`workbench.open()`: one object for raw tables, views, snapshot and user; the connection policy."""

from __future__ import annotations

import csv
import dataclasses
import os
from datetime import date
from pathlib import Path

import duckdb
import intake
import pandas as pd
import pytest

import workbench
from semantic.fixtures import APHP_ROWS, catalog_for_aphp, catalog_for_omop, write_aphp, write_omop_csv
from workbench.catalog import write_catalog
from workbench.errors import UserError
from workbench.access.context import UserContext


@pytest.fixture(scope="module")
def aphp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return catalog_for_aphp(tmp_path_factory.mktemp("wh"))


def test_open_gives_tables_views_and_the_local_user(aphp: Path) -> None:
    with workbench.open(aphp) as wh:
        assert wh.flavour == "aphp" and wh.backend_name == "duckdb" and wh.catalog_path == aphp.resolve()
        assert "visit_occurrence" in wh.tables and "stays" in wh.views
        frame = wh.execute(wh.table("person"))
        assert isinstance(frame, pd.DataFrame) and len(frame) == len(APHP_ROWS["person"])
        assert wh.user == UserContext(name="local", role="admin", perimeter=frozenset())
        with pytest.raises(dataclasses.FrozenInstanceError):
            wh.user.role = "clinician"  # type: ignore[misc]


def test_default_catalogue_comes_from_the_environment(aphp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_CATALOG", str(aphp))
    with workbench.open() as wh:
        assert wh.catalog_path == aphp.resolve()


def test_unknown_names_are_user_errors_naming_them(aphp: Path) -> None:
    with workbench.open(aphp) as wh:
        with pytest.raises(UserError, match="table « patient » absente du catalogue catalog.yaml"):
            wh.table("patient")
        with pytest.raises(UserError, match="vue « sejours » inconnue"):
            wh.view("sejours")
    with pytest.raises(UserError, match="moteur « oracle » inconnu"):
        workbench.open(aphp, backend="oracle")


def test_snapshot_and_extraction_date_come_from_metadata(aphp: Path) -> None:
    with workbench.open(aphp) as wh:
        assert wh.snapshot_id == "fixture-snapshot"
        assert wh.extraction_date == date(2020, 12, 31)


def test_snapshot_without_metadata_is_a_stable_content_hash(tmp_path: Path) -> None:
    first = catalog_for_omop(tmp_path / "a", "5.4")
    second = catalog_for_omop(tmp_path / "b", "5.4")
    with workbench.open(first) as a, workbench.open(second) as b:
        assert a.snapshot_id == b.snapshot_id and len(a.snapshot_id) == 16
    with open(tmp_path / "b" / "csv" / "death.csv", "a", newline="", encoding="utf-8") as stream:
        csv.writer(stream).writerow([3, "2110-12-01"])  # one more death: the content changed
    with workbench.open(second) as b:
        assert b.snapshot_id != a.snapshot_id


def test_warehouse_file_is_opened_read_only(aphp: Path) -> None:
    with workbench.open(aphp) as wh:
        with pytest.raises(duckdb.Error, match="read-only"):
            wh.con.raw_sql("CREATE TABLE app_state (x INTEGER)")


def test_intake_reads_the_same_file_in_the_same_process(aphp: Path) -> None:
    """The Intake reader shares the process's read-only connection: no "different configuration" clash."""
    with workbench.open(aphp) as wh:
        cat = intake.from_yaml_file(str(aphp))
        person = cat["person"].read()
        assert type(person).__name__ == "Table"
        assert person.count().execute() == wh.execute(wh.table("person").count()) == 6


def test_a_replaced_warehouse_file_is_reopened(tmp_path: Path) -> None:
    catalog = catalog_for_aphp(tmp_path)
    with workbench.open(catalog) as wh:
        assert wh.execute(wh.table("person").count()) == 6
    rows = {**APHP_ROWS, "person": APHP_ROWS["person"][:2]}
    write_aphp(tmp_path / "next.duckdb", rows)
    os.replace(tmp_path / "next.duckdb", tmp_path / "eds.duckdb")  # what the demo builder does
    with workbench.open(catalog) as wh:
        assert wh.execute(wh.table("person").count()) == 2


def test_sql_for_duckdb_and_spark(aphp: Path) -> None:
    with workbench.open(aphp) as wh:
        stays = wh.view("stays")
        expr = stays.filter(stays.hospital == "014").count()
        assert '"hospital"' in wh.to_sql(expr)
        assert "`hospital`" in wh.to_sql(expr, dialect="spark")


def test_parquet_folder_source(tmp_path: Path) -> None:
    """A folder of Parquet files (one per table) is a source like any other."""
    database = write_aphp(tmp_path / "eds.duckdb")
    folder = tmp_path / "parquet"
    folder.mkdir()
    con = duckdb.connect(str(database), read_only=True)
    for table in ("person", "visit_occurrence", "care_site", "fact_relationship"):
        con.execute(f"COPY {table} TO '{folder / (table + '.parquet')}' (FORMAT parquet)")
    con.close()
    write_catalog(folder, "aphp", tmp_path / "parquet.yaml")
    with workbench.open(tmp_path / "parquet.yaml") as wh:
        assert wh.catalog.source_kind == "parquet"
        assert sorted(wh.tables) == ["care_site", "fact_relationship", "person", "visit_occurrence"]
        assert wh.views == ["patients", "care_sites", "stays"]
        assert wh.execute(wh.view("stays").count()) == 10
        assert wh.unavailable("stays") == {"ghm", "cmd", "ghm_type", "ghm_severity"}  # no cost table


def test_omop_csv_headers_in_any_case(tmp_path: Path) -> None:
    write_omop_csv(tmp_path / "csv", "5.3")
    assert (tmp_path / "csv" / "PERSON.csv").read_text().startswith("PERSON_ID,GENDER_CONCEPT_ID")
    write_catalog(tmp_path / "csv", "omop", tmp_path / "catalog.yaml")
    with workbench.open(tmp_path / "catalog.yaml") as wh:
        assert "person_id" in wh.table("person").columns
        assert wh.execute(wh.table("visit_occurrence").count()) == 8


def test_sessions_on_threads_can_query_the_shared_connection_at_once(demo_dir: Path) -> None:
    """Threaded server sessions share the process's warehouse handle and its one read-only
    connection: concurrent queries must all return the right answer (an independent count)."""
    from concurrent.futures import ThreadPoolExecutor

    with duckdb.connect(str(demo_dir / "eds.duckdb"), read_only=True) as con:
        expected = con.execute(
            "SELECT count(*) FROM visit_occurrence WHERE row_status_source_value IS DISTINCT FROM 'supprimé'"
        ).fetchone()[0]
    warehouse = workbench.open(demo_dir / "catalog.yaml")
    by_hospital = warehouse.view("stays").group_by("hospital").aggregate(n=lambda t: t.count())

    def count_stays(_: int) -> int:
        return int(warehouse.execute(by_hospital)["n"].sum())

    with ThreadPoolExecutor(max_workers=6) as pool:
        counts = list(pool.map(count_stays, range(24)))
    assert counts == [expected] * 24
