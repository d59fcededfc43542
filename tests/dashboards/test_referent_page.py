"""The Pilotage page for a référent pilotage (aggregates only, under the disclosure policy), in Chromium.

The demo account ``pilotage`` (access.yaml) logs in. Under the policy the page
offers whole years (the cube publishes whole periods only): the default is the
last complete year, compared with the year before. Expected figures: the
AP-HP-wide stay count of that year by a hand-written SQL query on the DuckDB
file (large enough never to be masked); for the breakdown of a pole by
service, every row the browser receives either has at least k = 10 distinct
patients or is masked with no value.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from dashboard_support import BOKEH_IDLE, PROJECT, Server, log_in, start_server, stop_server
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
expect.set_options(timeout=180_000)

K = 10

STAYS_OF_YEAR = """
    WITH ghm AS (SELECT visit_occurrence_id, max(drg_source_value) AS ghm FROM cost GROUP BY 1)
    SELECT count(*)
    FROM visit_occurrence v LEFT JOIN ghm g ON g.visit_occurrence_id = v.visit_occurrence_id
    WHERE coalesce(v.row_status_source_value, '') <> 'supprimé'
      AND year(v.visit_end_datetime) = ?
      AND (substr(g.ghm, 1, 2) = '28' OR v.visit_source_value IN ('hospitalisés', 'hospitalisation incomplète'))
"""
"""`nb_sejours` by hand: current stays ended in the year, full or partial hospitalisation or a séance."""

BUSIEST_POLE = """
    WITH parent AS (SELECT fact_id_1 AS child, fact_id_2 AS parent FROM fact_relationship
                    WHERE relationship_concept_id = 46233688 AND domain_concept_id_1 = 57)
    SELECT p.care_site_source_value, p.care_site_name, h.care_site_source_value, h.care_site_name
    FROM care_site p
    JOIN parent ph ON ph.child = p.care_site_id JOIN care_site h ON h.care_site_id = ph.parent
    JOIN parent ha ON ha.child = h.care_site_id
    JOIN care_site a ON a.care_site_id = ha.parent AND a.care_site_source_value = 'APHP'
    ORDER BY (SELECT count(*) FROM parent s WHERE s.parent = p.care_site_id) DESC, 1
    LIMIT 1
"""
"""A pole (a child of a hospital, itself a child of AP-HP) with the most services, by the care-site tree."""

TABLE_JS = """() => {
  for (const doc of Bokeh.documents) for (const model of doc.all_models)
    if (model.constructor.__name__ === 'DataTabulator' && model.source.data['n_patients'] !== undefined)
      return Object.fromEntries(Object.entries(model.source.data).map(([k, v]) => [k, Array.from(v)]));
  return null;
}"""


@pytest.fixture(scope="module")
def server(demo_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    state = tmp_path_factory.mktemp("referent-state")
    running = start_server(demo_catalog, "test_referent_page", env={"WORKBENCH_STATE": str(state)},
                           access=PROJECT / "access.yaml")
    yield running
    stop_server(running)


def default_year(database: Path) -> int:
    """The last complete year before the extraction date (read from `_metadata` by SQL)."""
    with duckdb.connect(str(database), read_only=True) as con:
        (extraction,) = con.execute("SELECT max(extraction_date) FROM _metadata").fetchone()
    month = extraction.month - 1 or 12
    year = extraction.year if extraction.month > 1 else extraction.year - 1
    return year if month == 12 else year - 1


def whole_warehouse_badge(catalog: Path, year: int) -> str:
    """The administrator's fit-for-use status of `nb_sejours` over the year, all hospitals."""
    import datetime as dt

    from workbench.indicators.dictionary import load_dictionary
    from workbench.quality.status import quality_status
    from workbench.warehouse import open as open_warehouse

    definition = load_dictionary(PROJECT / "wiki").get("nb_sejours").definition
    return quality_status(open_warehouse(catalog=catalog), definition, dt.date(year, 1, 1), dt.date(year, 12, 31)).status


def test_referent_sees_whole_years_and_no_count_under_k(page, server: Server, demo_catalog: Path,
                                                         demo_database: Path) -> None:
    year = default_year(demo_database)
    with duckdb.connect(str(demo_database), read_only=True) as con:
        current, previous = (con.execute(STAYS_OF_YEAR, [y]).fetchone()[0] for y in (year, year - 1))
        pole, pole_name, hospital, hospital_name = con.execute(BUSIEST_POLE).fetchone()

    page.goto(f"{server.url}/pilotage?cartes=nb_sejours")
    log_in(page, "pilotage", "pilotage-demo")
    page.wait_for_url(lambda url: "/pilotage" in url)
    page.wait_for_function(BOKEH_IDLE)

    assert page.locator(".wb-debut label, .wb-debut .bk-input-group").first.inner_text().startswith("Année")
    assert page.locator(".wb-debut select").input_value() == str(year)
    card = page.locator('.wb-kpi[data-indicator="nb_sejours"]')
    expect(card).to_have_attribute("data-value", repr(float(current)))
    expect(card).to_have_attribute("data-previous", repr(float(previous)))
    expect(page.locator(".wb-periode")).to_contain_text(f"Année {year}")
    # the badge is the whole warehouse's (his own handle refuses the checks' raw tables)
    expect(card.locator(".wb-quality")).to_have_attribute("data-quality", whole_warehouse_badge(demo_catalog, year))

    page.locator(".wb-hopital select").select_option(label=f"{hospital_name} ({hospital})")
    page.locator(".wb-pole select").select_option(label=f"{pole_name} ({pole})")
    expect(page.locator(".wb-breakdown-title")).to_contain_text("par service")
    expect(page.locator(".pn-loading")).to_have_count(0)
    page.wait_for_function(BOKEH_IDLE)
    table = page.evaluate(TABLE_JS)
    assert table is not None and len(table["service"]) > 1, table
    for service, patients, value, masked in zip(table["service"], table["n_patients"], table["value"], table["masked"]):
        if masked:
            assert value is None or value != value, (service, value)  # null (NaN in the browser): nothing to read
        else:
            assert patients >= K, (service, patients)
