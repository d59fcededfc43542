"""The Pilotage page served on the public Synthea27Nj OMOP export (tests/fixtures/omop-synthea27nj/), in Chromium.

The card's figure is held to SQL that DuckDB runs on the zip's CSV files; an indicator that standard OMOP cannot
give shows "non disponible pour cette source" instead of an error.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
import duckdb
import pytest
from playwright.sync_api import expect

from dashboard_support import PROJECT

pytestmark = pytest.mark.browser
expect.set_options(timeout=180_000)

SYNTHEA_ZIP = PROJECT / "tests" / "fixtures" / "omop-synthea27nj" / "Synthea27Nj_5.4.zip"


@pytest.fixture(scope="module")
def synthea(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from workbench.catalog import write_catalog

    folder = tmp_path_factory.mktemp("synthea-page")
    with zipfile.ZipFile(SYNTHEA_ZIP) as archive:
        archive.extract("VISIT_OCCURRENCE.csv", folder)
    write_catalog(SYNTHEA_ZIP, "omop", folder / "catalog.yaml")
    return folder


@pytest.fixture(scope="module")
def demo_catalog(synthea: Path) -> Path:
    """The catalogue conftest.py's `server` serves: here the Synthea export's, not the demo's."""
    return synthea / "catalog.yaml"


def inpatient_stays_ended(folder: Path, first: str, last: str) -> int:
    """`nb_sejours` by hand: inpatient visits (concept 9201) ending in the months [first, last]."""
    query = ("SELECT count(*) FROM read_csv(?, all_varchar=true) WHERE visit_concept_id = '9201' "
             "AND strftime(visit_end_date::DATE, '%Y-%m') BETWEEN ? AND ?")
    with duckdb.connect() as con:
        return con.execute(query, [str(folder / "VISIT_OCCURRENCE.csv"), first, last]).fetchone()[0]


def test_pilotage_renders_on_a_public_omop_export(open_page, synthea: Path) -> None:
    # the months offered end with the month before the export's last date (2022-10-10), 72 of them
    page = open_page("/pilotage?debut=2017-01&fin=2022-09&cartes=nb_sejours,rh7")
    assert page.locator(".wb-debut select").input_value() == "2017-01"
    assert page.locator(".wb-fin select").input_value() == "2022-09"
    expected = inpatient_stays_ended(synthea, "2017-01", "2022-09")
    assert expected > 0
    expect(page.locator('.wb-kpi[data-indicator="nb_sejours"]')).to_have_attribute("data-value", repr(float(expected)))
    expect(page.locator('.wb-kpi[data-indicator="rh7"] .wb-kpi-change')).to_contain_text(
        "non disponible pour cette source")
    expect(page.locator(".pn-loading")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text("Erreur interne")
