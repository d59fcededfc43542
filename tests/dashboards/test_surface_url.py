"""The dashboard row of the surfaces table (tests/access/test_surfaces.py): a logged-in clinician of
cardiology (014-S03, demo account of access.yaml) opens the pilotage page with another hospital in the
URL (``?hopital=<other>``); the hospital list still holds his hospital only, the page says the link's
parameter was ignored, the attempt is in the audit log, and every request the page makes for him is for
his own service (computed exactly, on his rows), never the URL's hospital. The other hospital is found by SQL on the care-site tree."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from dashboard_support import BOKEH_IDLE, PROJECT, Server, log_in, start_server, stop_server
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
expect.set_options(timeout=180_000)

OTHER_HOSPITAL = """
SELECT c.care_site_source_value FROM care_site c JOIN fact_relationship f ON f.fact_id_1 = c.care_site_id
WHERE f.relationship_concept_id = 46233688 AND f.domain_concept_id_1 = 57
  AND f.fact_id_2 = (SELECT care_site_id FROM care_site WHERE care_site_source_value = 'APHP')
  AND c.care_site_source_value <> '014'
ORDER BY 1 LIMIT 1
"""


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("surface-state")


@pytest.fixture(scope="module")
def server(demo_catalog: Path, state: Path) -> Iterator[Server]:
    running = start_server(demo_catalog, "test_surface_url", env={"WORKBENCH_STATE": str(state)},
                           access=PROJECT / "access.yaml")
    yield running
    stop_server(running)


def test_a_clinician_cannot_reach_another_hospital_through_the_url(page, server: Server, state: Path,
                                                                   demo_database: Path) -> None:
    with duckdb.connect(str(demo_database), read_only=True) as con:
        (other,) = con.execute(OTHER_HOSPITAL).fetchone()
    page.goto(f"{server.url}/pilotage?hopital={other}&cartes=nb_sejours")
    log_in(page, "clinicien.cardio", "cardio-demo")
    page.wait_for_url(lambda url: "/pilotage" in url)
    page.wait_for_function(BOKEH_IDLE)
    expect(page.locator(".wb-user")).to_have_text("clinicien.cardio")
    select = page.locator(".wb-hopital select")
    assert select.locator("option").all_inner_texts() == ["Hôpital Ambroise-Paré (014)"]
    services = page.locator(".wb-service select option").all_inner_texts()
    assert len(services) == 1 and services[0].endswith("(014-S03)"), services  # his service, no "Tous les services"
    expect(page.locator(".wb-notice")).to_contain_text(f"hopital = {other}")
    card = page.locator('.wb-kpi[data-indicator="nb_sejours"]')
    expect(card).not_to_have_attribute("data-value", "")  # computed on his own rows, not refused
    deadline = time.monotonic() + 120
    while True:  # the cards are computed after the page is idle: wait for their audit lines (bounded)
        events = [json.loads(line) for line in (state / "audit.jsonl").read_text(encoding="utf-8").splitlines()]
        mine = [e for e in events if e.get("user") == "clinicien.cardio" and e["event"] in ("indicator", "refused")]
        if any(e["event"] == "indicator" for e in mine) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    refused = [e for e in mine if e["event"] == "refused"]
    assert [(e["parameter"], e["value"]) for e in refused] == [("hopital", other)], refused  # the attempt is logged
    computed = [e for e in mine if e["event"] == "indicator"]
    assert computed, "the page asked the data-access layer for its card (audited)"
    for event in computed:  # every request of the page is for his own service, never the URL's hospital
        assert event["filters"].get("hospital") == ["014"], event
        assert event["filters"].get("service") == ["014-S03"], event
        assert event["policy"] is False, event
    with page.expect_download() as download:  # the table he sees leaves the workbench: an `export` line
        page.locator(".wb-download-csv .bk-btn").click()
    rows = Path(download.value.path()).read_text(encoding="utf-8").count("\n")
    exports = [json.loads(line) for line in (state / "audit.jsonl").read_text(encoding="utf-8").splitlines()
               if '"export"' in line]
    assert [(e["user"], e["format"], e["surface"], e["filters"]["service"]) for e in exports] == [
        ("clinicien.cardio", "csv", "dashboard", ["014-S03"])]
    assert 0 < exports[0]["rows"] < rows  # the table's rows (the file adds its stamp lines)
