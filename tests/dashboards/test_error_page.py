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
from playwright.sync_api import expect

from dashboard_support import BOKEH_IDLE, Server, start_server, stop_server

pytestmark = pytest.mark.browser
expect.set_options(timeout=90_000)


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
        expect(alert).to_contain_text("n'a pas pu être affichée")
        expect(alert).to_contain_text("introuvable")
        expect(alert).to_contain_text("eds.duckdb")
        expect(page.locator("body")).not_to_contain_text("Traceback")
        assert server.alive()

    # The dictionary does not need the warehouse: it still opens, with the live value in error.
    page.goto(server.url + "/dictionnaire?indicateur=dms")
    page.wait_for_function(BOKEH_IDLE)
    expect(page.locator(".wb-indicator")).to_contain_text("Durée moyenne de séjour")
    expect(page.locator(".wb-error")).to_contain_text("La valeur actuelle n'a pas pu être affichée")

    shutil.copyfile(demo_database, broken / demo_database.name)
    page.goto(server.url + "/")
    page.wait_for_function(BOKEH_IDLE)
    page.locator('.wb-tables tr[data-table="visit_occurrence"]').wait_for()
    assert page.locator(".wb-error").count() == 0
    assert server.alive()
