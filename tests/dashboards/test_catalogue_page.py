"""`workbench serve` in a real browser: the catalogue page lists the warehouse tables.

Expected counts come from DuckDB itself (a plain ``SELECT count(*)`` on the
file) and descriptions from the catalogue YAML, never from the app.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.browser


def _catalog_tables(catalog: Path) -> dict[str, dict]:
    document = yaml.safe_load(catalog.read_text(encoding="utf-8"))
    return {name: entry for name, entry in document["entries"].items()}


def test_home_lists_tables_with_french_description_and_true_counts(open_page, demo_catalog: Path, demo_database: Path) -> None:
    page = open_page("/")
    entries = _catalog_tables(demo_catalog)
    rows = page.locator(".wb-tables tbody tr")
    rows.first.wait_for()  # the list is computed once the page is loaded
    assert rows.count() == len(entries)
    with duckdb.connect(str(demo_database), read_only=True) as con:
        for name in ("visit_occurrence", "person", "care_site"):
            physical = entries[name]["kwargs"]["table"]
            expected = con.execute(f'SELECT count(*) FROM "{physical}"').fetchone()[0]
            row = page.locator(f'.wb-tables tr[data-table="{name}"]')
            assert row.locator(".wb-count").get_attribute("data-count") == str(expected)
            assert entries[name]["metadata"]["description"] in row.inner_text()
    assert expected > 0


def test_catalogue_shows_columns_of_a_table_and_of_a_view(open_page, demo_catalog: Path) -> None:
    page = open_page("/catalogue?table=visit_occurrence&vue=stays")
    described = _catalog_tables(demo_catalog)["visit_occurrence"]["metadata"]["columns"]
    page.get_by_text(described["visit_start_datetime"]["description"]).first.wait_for()
    page.locator(".bk-tab", has_text="Vues canoniques").click()
    # every column the architecture document promises for `stays`
    for column in ("stay_category", "nights", "is_open", "age_band"):
        page.locator(".tabulator-cell", has_text=column).first.wait_for()


def test_catalogue_opens_on_a_clinical_table_not_on_metadata(open_page, demo_catalog: Path) -> None:
    page = open_page("/catalogue")
    described = _catalog_tables(demo_catalog)["visit_occurrence"]["metadata"]["columns"]
    page.get_by_text(described["visit_start_datetime"]["description"]).first.wait_for()


HEATMAP_JS = """() => {
  // the newest completeness source (the heat map of the chosen view)
  let newest = null;
  const number = (model) => parseInt(String(model.id).replace(/[^0-9]/g, ''), 10);
  for (const doc of Bokeh.documents) for (const model of doc.all_models) {
    if (model.constructor.__name__ !== 'ColumnDataSource' || !model.data || !model.data['completude']) continue;
    if (!newest || number(model) > number(newest)) newest = model;
  }
  if (!newest) return null;
  const d = newest.data;
  return Array.from(d['completude'], (value, i) => [d['hopital'][i], d['mois'][i], value]);
}"""


def test_monthly_volumes_show_the_stopped_feed_at_a_glance(open_page, demo_dir: Path, demo_database: Path) -> None:
    flaws = json.loads((Path(demo_dir) / "flaws.json").read_text(encoding="utf-8"))["flaws"]
    stopped = next(flaw for flaw in flaws if flaw["id"] == "feed_stopped")["scope"]
    with duckdb.connect(str(demo_database), read_only=True) as con:
        code, name = con.execute(
            "SELECT care_site_source_value, care_site_name FROM care_site WHERE care_site_id = ?", [stopped["care_site_id"]]
        ).fetchone()
    page = open_page("/catalogue?volumes=stays")
    page.locator(".bk-tab", has_text="Volumes mensuels").click()
    page.wait_for_function(f"() => ({HEATMAP_JS})() !== null", timeout=180_000)
    cells = page.evaluate(HEATMAP_JS)
    # HoloViews hands the colour values to Bokeh as text: compare them as numbers
    by_cell = {(hospital, pd.Timestamp(month, unit="ms").strftime("%Y-%m")): float(value) for hospital, month, value in cells}
    label = f"{name} ({code})"
    shown_months = [month for month in stopped["months"] if (label, month) in by_cell]
    assert shown_months, "les mois d'arrêt du flux doivent figurer sur la carte"
    for month in shown_months:
        assert by_cell[(label, month)] == 0
        others = [value for (hospital, m), value in by_cell.items() if m == month and hospital != label]
        assert others and max(others) > 0
    before = pd.Period(stopped["months"][0], freq="M") - 3
    assert by_cell[(label, str(before))] > 0
