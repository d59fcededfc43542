"""The indicator dictionary in a real browser: search, filters, indicator page, live value, wiki pages.

Expected content is read straight from the wiki's Markdown files (YAML front
matter parsed here), and the live value from the engine called in this process.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import expect

from dashboard_support import PROJECT

pytestmark = pytest.mark.browser
expect.set_options(timeout=90_000)

WIKI = PROJECT / "wiki"


def all_front_matters() -> dict[str, dict[str, Any]]:
    pages = {}
    for path in sorted((WIKI / "Indicateurs").glob("*.md")):
        document = yaml.safe_load(path.read_text(encoding="utf-8").split("---", 2)[1])
        pages[document["id"]] = document
    return pages


def listed(page: Any) -> int:
    """Number of indicator rows in the listing table (header excluded)."""
    return page.locator(".wb-listing tbody tr").count()


def live_period(warehouse) -> tuple[str, str]:
    """The live value's period: the twelve complete months before the extraction date."""
    day = warehouse.extraction_date
    index = day.year * 12 + day.month - 1 - 1
    return f"{(index - 11) // 12:04d}-{(index - 11) % 12 + 1:02d}", f"{index // 12:04d}-{index % 12 + 1:02d}"


def test_indicator_page_shows_definition_versions_lineage_and_live_value(open_page, demo_catalog: Path) -> None:
    from workbench.indicators.dictionary import load_dictionary
    from workbench.indicators.engine import compute
    from workbench.warehouse import open as open_warehouse

    dms = all_front_matters()["dms"]
    page = open_page("/dictionnaire?indicateur=dms")
    body = page.locator(".wb-indicator")
    expect(body).to_contain_text(dms["name"])
    expect(body).to_contain_text(" ".join(dms["numerator"].split()))
    expect(body).to_contain_text(" ".join(dms["denominator"].split()))
    for pitfall in dms["pitfalls"]:
        expect(body).to_contain_text(pitfall)
    for version in dms["versions"]:
        expect(page.locator(".tabulator-cell", has_text=str(version["effective_from"])).first).to_be_visible()
    expect(page.locator(".wb-wiki-body")).to_contain_text("Mode de calcul")

    warehouse = open_warehouse(catalog=demo_catalog)
    first, last = live_period(warehouse)
    result = compute(load_dictionary(WIKI).get("dms").definition, warehouse, start=first, end=last)
    card = page.locator('.wb-kpi[data-indicator="dms"]')
    expect(card).to_have_attribute("data-value", repr(float(result.frame["value"].iloc[0])))
    # DMS reads the stays: the raw visit table and its dates must be in the derived lineage
    lineage = page.locator(".wb-lineage")
    expect(lineage).to_contain_text("visit_occurrence")
    expect(lineage).to_contain_text("visit_end_datetime")


def test_search_and_filters_narrow_the_list(open_page) -> None:
    pages = all_front_matters()
    page = open_page("/dictionnaire")
    expect(page.locator(".wb-listing")).to_contain_text(f"{len(pages)} indicateur(s)")

    urgent = [p for p in pages.values() if p["theme"] == "Urgences"]
    page.locator(".wb-theme select").select_option(label="Urgences")
    expect(page.locator(".wb-listing")).to_contain_text(f"{len(urgent)} indicateur(s)")
    for indicator in urgent:
        expect(page.locator(".wb-listing")).to_contain_text(indicator["name"])
    assert 0 < len(urgent) < len(pages)

    page.locator(".wb-theme select").select_option(label="Tous les thèmes")
    search = page.locator(".wb-search input")
    search.fill("séjour")
    search.press("Enter")
    words = [p for p in pages.values() if "séjour" in " ".join([p["id"], p["name"], p["definition"], p["theme"]]).lower()]
    expect(page.locator(".wb-listing")).to_contain_text(f"{len(words)} indicateur(s)")
    assert 0 < len(words) < len(pages)
    expect(page).to_have_url(re.compile(r"[?&]q="))


def test_other_wiki_pages_are_readable(open_page) -> None:
    page = open_page("/dictionnaire?onglet=1&page=Referents")
    referents = yaml.safe_load((WIKI / "Referents.md").read_text(encoding="utf-8").split("---", 2)[1])["referents"]
    shown = page.locator(".wb-wiki-page")
    for referent in referents:
        expect(shown).to_contain_text(referent["role"])
        expect(shown).to_contain_text(referent["contact"])
    page.locator(".wb-wiki-select select").select_option("Comptes-rendus/2023-11-14")
    minutes = (WIKI / "Comptes-rendus" / "2023-11-14.md").read_text(encoding="utf-8")
    heading = next(line.lstrip("#").strip() for line in minutes.splitlines() if line.startswith("#"))
    expect(shown).to_contain_text(heading)


def test_a_distribution_shows_its_shares_not_one_of_them(open_page, demo_catalog: Path) -> None:
    """The case-mix's live value: one row per CMD with the engine's share (it used to show the first CMD's
    share as the indicator's value)."""
    from workbench.indicators.dictionary import load_dictionary
    from workbench.indicators.engine import compute
    from workbench.warehouse import open as open_warehouse

    warehouse = open_warehouse(catalog=demo_catalog)
    first, last = live_period(warehouse)
    result = compute(load_dictionary(WIKI).get("case_mix").definition, warehouse, start=first, end=last)
    expected = {str(row["cmd"]): repr(float(row["value"])) for row in result.frame.to_dict(orient="records")}
    assert len(expected) > 1
    page = open_page("/dictionnaire?indicateur=case_mix")
    rows = page.locator(".wb-distribution tr")
    expect(rows).to_have_count(len(expected))
    shown = {rows.nth(i).get_attribute("data-member"): rows.nth(i).get_attribute("data-value")
             for i in range(len(expected))}
    assert shown == expected
    expect(page.locator('.wb-kpi[data-indicator="case_mix"]')).to_have_count(0)
