"""`workbench serve` on a fresh checkout: the demo catalogue's file is missing, so it is built first.

This is the `make run` path: a copy of the project's own `catalog.yaml`
(``demo: true``, pointing at ``data/eds.duckdb``) in an empty folder.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from dashboard_support import BOKEH_IDLE, PROJECT, start_server, stop_server

pytestmark = pytest.mark.browser


def test_serve_builds_the_missing_demo_warehouse_then_serves_it(tmp_path: Path, page) -> None:
    shutil.copyfile(PROJECT / "catalog.yaml", tmp_path / "catalog.yaml")
    database = tmp_path / "data" / "eds.duckdb"
    assert not database.exists()

    server = start_server(tmp_path / "catalog.yaml", "test_serve_demo")
    try:
        assert database.is_file()
        assert any("Entrepôt de démonstration absent" in line for line in server.output)
        page.goto(server.url + "/")
        page.wait_for_function(BOKEH_IDLE)
        with duckdb.connect(str(database), read_only=True) as con:
            patients = con.execute("SELECT count(*) FROM person").fetchone()[0]
            stays = con.execute("SELECT count(*) FROM visit_occurrence").fetchone()[0]
        assert patients > 0 and stays > patients
        person = page.locator('.wb-tables tr[data-table="person"] .wb-count')
        assert person.get_attribute("data-count") == str(patients)
        visits = page.locator('.wb-tables tr[data-table="visit_occurrence"] .wb-count')
        assert visits.get_attribute("data-count") == str(stays)
    finally:
        stop_server(server)
