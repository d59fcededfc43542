"""From a pilotage view: « Ouvrir comme notebook » and « Signaler un problème », in a real browser.

The notebook is downloaded from the page and executed with papermill on the
test warehouse; the value it computes must equal the KPI card the page shows
for the same view (and the hand-written SQL count). The problem report filed
from the page must be stored in the server's state folder (never the
warehouse) and listed on the quality page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import nbformat
import pytest
from playwright.sync_api import expect

from dashboard_support import Server, start_server, stop_server
from test_pilotage_page import busiest_hospital, kpi, sql_stays

pytestmark = pytest.mark.browser
expect.set_options(timeout=180_000)


@pytest.fixture(scope="module")
def server_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pilotage-state")


@pytest.fixture(scope="module")
def server(demo_catalog: Path, server_state: Path) -> Iterator[Server]:
    running = start_server(demo_catalog, "test_pilotage_notebook_and_reports", env={"WORKBENCH_STATE": str(server_state)})
    yield running
    stop_server(running)


def shown_value(page: Any, indicator: str) -> float:
    card = kpi(page, indicator)
    expect(card).not_to_have_attribute("data-value", "")
    return float(card.get_attribute("data-value"))


def test_open_as_notebook_reproduces_the_kpi(open_page, demo_database: Path, month: str, tmp_path: Path) -> None:
    import papermill

    from workbench.notebooks import ensure_kernel
    from workbench.records import read_records

    code, name = busiest_hospital(demo_database, month)
    page = open_page(f"/pilotage?hopital={code}&debut={month}&fin={month}&cartes=nb_sejours&indicateur=nb_sejours")
    value = shown_value(page, "nb_sejours")
    assert value == sql_stays(demo_database, code, month)

    with page.expect_download() as download:
        page.locator(".wb-notebook .bk-btn").click()
    downloaded = tmp_path / download.value.suggested_filename
    download.value.save_as(downloaded)
    assert downloaded.suffix == ".ipynb"

    executed = tmp_path / "executed.ipynb"
    papermill.execute_notebook(str(downloaded), str(executed), kernel_name=ensure_kernel(), progress_bar=False,
                               cwd=str(tmp_path))
    rows = read_records(nbformat.read(executed, as_version=4))["valeur"]
    assert len(rows) == 1
    assert float(rows[0]["value"]) == value


def test_open_as_notebook_is_disabled_when_the_template_cannot_reproduce_the_view(open_page, month: str) -> None:
    page = open_page(f"/pilotage?debut={month}&fin={month}&cartes=nb_sejours&champ=SSR")
    expect(page.locator(".wb-notebook .bk-btn")).to_be_disabled()
    expect(page.locator(".wb-notebook-note")).to_contain_text("champ PMSI")


def test_a_problem_report_is_filed_and_listed_on_the_quality_page(open_page, demo_database: Path, month: str,
                                                                  server_state: Path) -> None:
    from workbench.quality.reports import ReportStore

    code, name = busiest_hospital(demo_database, month)
    page = open_page(f"/pilotage?hopital={code}&debut={month}&fin={month}&cartes=nb_sejours&indicateur=nb_sejours")
    page.locator(".wb-report-card .card-header").click()
    text = "Le nombre de séjours de ce mois paraît trop bas pour cet hôpital"
    page.locator(".wb-report-text textarea").fill(text)
    page.locator(".wb-report-send button").click()
    expect(page.locator(".wb-report-message")).to_contain_text("enregistré")

    reports = ReportStore(server_state).list()  # the server's state folder, read independently
    assert len(reports) == 1
    report = reports[0]
    assert (report.what, report.indicator, report.status) == (text, "nb_sejours", "nouveau")
    assert report.filters["hospital"] == [code] and report.filters["start"] == month and report.filters["end"] == month

    page = open_page("/qualite")
    row = page.locator(f'.wb-reports tr.wb-report[data-report-id="{report.report_id}"]')
    expect(row).to_contain_text(text)
    expect(row).to_have_attribute("data-status", "nouveau")
    expect(page.locator(".wb-report-counts")).to_have_attribute("data-open", "1")

    # the warehouse team takes it in charge from the quality page: the list and the store follow
    page.locator(".wb-report-id select").select_option(label=f"n° {report.report_id} (nouveau)")
    page.locator(".wb-report-status select").select_option(label="pris en charge")
    page.locator(".wb-report-move .bk-btn").click()
    expect(page.locator(".wb-report-move-message")).to_contain_text("pris en charge")
    expect(row).to_have_attribute("data-status", "pris en charge")
    assert ReportStore(server_state).get(report.report_id).status == "pris en charge"
    expect(page.locator(".wb-report-counts")).to_have_attribute("data-open", "1")
