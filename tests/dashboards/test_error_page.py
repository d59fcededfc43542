"""A missing warehouse file gives a French message in the page, and the server lives on.

The catalogue is a copy of the demo one (not flagged as demo, so `serve` does
not rebuild it) whose DuckDB file is absent; once the file appears, a new
session gets the real page from the same server process: nothing failed was cached.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest
import yaml

from dashboard_support import BOKEH_IDLE, Server, start_server, stop_server

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory, demo_catalog: Path) -> Path:
    folder = tmp_path_factory.mktemp("entrepot_absent")
    document = yaml.safe_load(demo_catalog.read_text(encoding="utf-8"))
    document["metadata"]["demo"] = False
    (folder / "catalog.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def server(broken: Path) -> Iterator[Server]:
    running = start_server(broken / "catalog.yaml", "test_error_page")
    yield running
    stop_server(running)


def test_missing_warehouse_shows_french_error_and_server_keeps_serving(
    server: Server, page, broken: Path, demo_database: Path
) -> None:
    for path in ("/", "/pilotage"):
        page.goto(server.url + path)
        page.wait_for_function(BOKEH_IDLE)
        alert = page.locator(".wb-error").first
        alert.wait_for()
        text = alert.inner_text()
        assert "n'a pas pu être affichée" in text
        assert "introuvable" in text and "eds.duckdb" in text
        assert "Traceback" not in page.content()
        assert server.alive()

    # The dictionary does not need the warehouse: it still opens, with the live value in error.
    page.goto(server.url + "/dictionnaire?indicateur=dms")
    page.wait_for_function(BOKEH_IDLE)
    page.locator(".wb-indicator", has_text="Durée moyenne de séjour").wait_for()
    page.locator(".wb-error", has_text="La valeur actuelle").wait_for()

    shutil.copyfile(demo_database, broken / demo_database.name)
    page.goto(server.url + "/")
    page.wait_for_function(BOKEH_IDLE)
    page.locator('.wb-tables tr[data-table="visit_occurrence"]').wait_for()
    assert page.locator(".wb-error").count() == 0
    assert server.alive()
