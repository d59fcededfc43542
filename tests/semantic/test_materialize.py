"""Canonical views materialised once per snapshot (`workbench.materialize`).

What must hold: queries give the same rows with and without materialisation,
the executed query reads the views' temporary tables while everything shown or
inspected (SQL, lineage, audit) still reads the raw tables, a view is built
once per connection (shared by warehouses, concurrent sessions), a replaced
file is built again, row filters still apply, and ``WORKBENCH_MATERIALIZE=0``
turns it all off.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import ibis
import ibis.expr.operations as ops
import pandas as pd
import pytest

import workbench
from semantic.fixtures import APHP_ROWS, catalog_for_aphp, write_aphp
from workbench import materialize
from workbench.indicators.lineage import lineage
from workbench.access.context import UserContext


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Audit log of each test in its own folder; materialisation on whatever the caller's environment says."""
    monkeypatch.setenv("WORKBENCH_STATE", str(tmp_path / "state"))
    monkeypatch.delenv(materialize.ENVIRONMENT, raising=False)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def _read_tables(expr: ibis.Expr) -> set[str]:
    return {node.name for node in expr.op().find(ops.DatabaseTable)}


def _temp_tables(wh) -> int:
    return wh.con.raw_sql("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchone()[0]


def _folder(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def _by_hospital(wh) -> ibis.Table:
    stays = wh.view("stays")
    return stays.group_by("hospital").aggregate(n=stays.count(), nights=stays.nights.sum()).order_by("hospital")


def test_every_view_gives_the_same_rows_materialised_or_not(aphp_catalog: Path, monkeypatch) -> None:
    with workbench.open(aphp_catalog) as wh:
        for name in wh.views:
            materialised = wh.execute(wh.view(name))
            monkeypatch.setenv(materialize.ENVIRONMENT, "0")
            direct = wh.execute(wh.view(name))
            monkeypatch.delenv(materialize.ENVIRONMENT)
            pd.testing.assert_frame_equal(_sorted(materialised), _sorted(direct), obj=name)


def test_the_executed_query_reads_the_views_tables_not_the_raw_ones(aphp_catalog: Path) -> None:
    with workbench.open(aphp_catalog) as wh:
        expr = _by_hospital(wh)
        swapped = materialize.swap(wh.con, expr)
        assert not _read_tables(swapped) & set(wh.tables)
        assert {"visit_occurrence", "care_site", "person"} <= _read_tables(expr)  # what callers hold stays logical


def test_a_view_is_built_once_for_every_warehouse_and_thread_of_the_process(tmp_path: Path) -> None:
    catalog = catalog_for_aphp(_folder(tmp_path / "fresh"))  # a file no other test opened: its connection starts empty
    warehouses = [workbench.open(catalog) for _ in range(6)]
    answers: list[pd.DataFrame] = []
    errors: list[BaseException] = []

    queries = [_by_hospital(wh) for wh in warehouses]  # reading table schemas on one connection: done in turn

    def ask(wh, query) -> None:
        # concurrent requests meet in the build; running queries on one connection from threads is another matter
        try:
            answers.append(materialize.swap(wh.con, query))
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=ask, args=pair) for pair in zip(warehouses, queries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(answers) == len(warehouses)
    assert len({frozenset(_read_tables(answer)) for answer in answers}) == 1
    assert len({id(wh.con) for wh in warehouses}) == 1
    assert _temp_tables(warehouses[0]) == 3  # stays, and the two views it is built from: care_sites, patients
    frames = [wh.execute(_by_hospital(wh)) for wh in warehouses]
    assert all(frame.equals(frames[0]) for frame in frames) and len(frames[0]) > 0


def test_a_replaced_file_is_materialised_again(tmp_path: Path) -> None:
    catalog = catalog_for_aphp(_folder(tmp_path / "replaced"))
    database = catalog.parent / "eds.duckdb"
    with workbench.open(catalog) as wh:
        before = int(wh.execute(wh.view("stays").count()))
    kept = {**APHP_ROWS, "visit_occurrence": APHP_ROWS["visit_occurrence"][:2]}
    staging = write_aphp(tmp_path / "staging.duckdb", kept)
    os.replace(staging, database)
    with workbench.open(catalog) as wh:
        after = int(wh.execute(wh.view("stays").count()))
        expected = sum(1 for row in kept["visit_occurrence"] if row.get("row_status_source_value") != "supprimé")
    assert after == expected != before


def test_the_sql_shown_reads_the_raw_tables_and_gives_the_same_answer(aphp_catalog: Path) -> None:
    with workbench.open(aphp_catalog) as wh:
        expr = _by_hospital(wh)
        answer = wh.execute(expr)
        sql = wh.to_sql(expr)
        assert "cached" not in sql and '"visit_occurrence"' in sql and sql.startswith("WITH ")
        assert "stays AS (" in sql and "care_sites AS (" in sql
        shown = wh.con.raw_sql(sql).df()
        pd.testing.assert_frame_equal(shown, answer, check_dtype=False)
        spark = wh.to_sql(expr, "spark")
        assert "cached" not in spark and "`visit_occurrence`" in spark


def test_lineage_and_audit_still_name_the_raw_tables(aphp_catalog: Path) -> None:
    with workbench.open(aphp_catalog) as wh:
        expr = _by_hospital(wh)
        wh.execute(expr)
        found = lineage(expr)
        assert "visit_occurrence" in found and "care_site" in found
        assert not any("cached" in name for name in found)
        log = (Path(os.environ["WORKBENCH_STATE"])).rglob("*")
        text = "".join(path.read_text(encoding="utf-8") for path in log if path.is_file())
        assert "visit_occurrence" in text and "cached" not in text


def test_row_filters_apply_on_top_of_the_materialised_views(aphp_catalog: Path, monkeypatch) -> None:
    with workbench.open(aphp_catalog) as admin:
        sites = admin.execute(admin.view("care_sites"))
    hospital = sorted(sites.loc[sites["level"] == "hopital", "code"])[0]
    restricted = UserContext(name="clinicienne", role="clinicien", perimeter=frozenset({hospital}), nominative=False)
    with workbench.open(aphp_catalog, user=restricted) as wh:
        materialised = wh.execute(wh.view("stays"))
        monkeypatch.setenv(materialize.ENVIRONMENT, "0")
        direct = wh.execute(wh.view("stays"))
    with workbench.open(aphp_catalog) as admin:
        everything = admin.execute(admin.view("stays"))
    pd.testing.assert_frame_equal(_sorted(materialised), _sorted(direct))
    assert 0 < len(materialised) < len(everything)


def test_the_opt_out_runs_and_shows_the_full_views(aphp_catalog: Path, monkeypatch) -> None:
    monkeypatch.setenv(materialize.ENVIRONMENT, "0")
    with workbench.open(aphp_catalog) as wh:
        expr = _by_hospital(wh)
        assert materialize.swap(wh.con, expr) is expr
        assert wh.to_sql(expr) == str(ibis.to_sql(expr, dialect="duckdb"))
