"""`workbench serve` in a real browser: the catalogue page lists the warehouse tables.

Expected counts come from DuckDB itself (a plain ``SELECT count(*)`` on the
file) and descriptions from the catalogue YAML, never from the app.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
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
