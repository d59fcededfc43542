"""The Pilotage page in a real browser: filters, KPI cards, shared URL, downloads, walkthrough.

Expected figures come from the indicator engine called here, in the test
process, with the same request — and, for `nb_sejours` in one hospital and
month, from a hand-written SQL count on the DuckDB file, so the engine, the
dashboard and the raw data are all held to the same number.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import pytest
import yaml
from playwright.sync_api import expect

from dashboard_support import BOKEH_IDLE, PROJECT

pytestmark = pytest.mark.browser
expect.set_options(timeout=180_000)

WIKI = PROJECT / "wiki"


# --------------------------------------------------------------------------- independent references

@pytest.fixture(scope="module")
def engine(demo_catalog: Path):
    """The library's own engine, in this process, on the same warehouse file as the server."""
    from workbench.indicators.dictionary import load_dictionary
    from workbench.indicators.engine import compute
    from workbench.warehouse import open as open_warehouse

    warehouse = open_warehouse(catalog=demo_catalog)
    dictionary = load_dictionary(WIKI)

    def run(indicator: str, **request: Any):
        return compute(dictionary.get(indicator).definition, warehouse, **request)

    run.warehouse = warehouse  # type: ignore[attr-defined]
    return run


def front_matter(indicator: str) -> dict[str, Any]:
    """The indicator page's YAML, read straight from the wiki file."""
    text = (WIKI / "Indicateurs" / f"{indicator}.md").read_text(encoding="utf-8")
    return yaml.safe_load(text.split("---", 2)[1])


def sql_stays(database: Path, hospital: str, month: str) -> int:
    """Stays of `nb_sejours` by hand: current rows, ended in `month`, at `hospital`,
    full or partial hospitalisation, or a séance (GHM of CMD 28)."""
    query = """
        WITH ghm AS (SELECT visit_occurrence_id, max(drg_source_value) AS ghm FROM cost GROUP BY 1)
        SELECT count(*)
        FROM visit_occurrence v
        JOIN care_site h ON h.care_site_id = v.care_site_id
        LEFT JOIN ghm g ON g.visit_occurrence_id = v.visit_occurrence_id
        WHERE coalesce(v.row_status_source_value, '') <> 'supprimé'
          AND h.care_site_source_value = ?
          AND strftime(v.visit_end_datetime, '%Y-%m') = ?
          AND (substr(g.ghm, 1, 2) = '28'
               OR v.visit_source_value IN ('hospitalisés', 'hospitalisation incomplète'))
    """
    with duckdb.connect(str(database), read_only=True) as con:
        return int(con.execute(query, [hospital, month]).fetchone()[0])


def busiest_hospital(database: Path, month: str) -> tuple[str, str]:
    """(code, name) of the hospital with the most stays ending in `month`, by plain SQL."""
    query = """
        SELECT h.care_site_source_value, h.care_site_name, count(*) AS n
        FROM visit_occurrence v JOIN care_site h ON h.care_site_id = v.care_site_id
        WHERE strftime(v.visit_end_datetime, '%Y-%m') = ?
        GROUP BY 1, 2 ORDER BY n DESC, 1 LIMIT 1
    """
    with duckdb.connect(str(database), read_only=True) as con:
        code, name, _ = con.execute(query, [month]).fetchone()
    return code, name


# --------------------------------------------------------------------------- browser helpers

def choose(page: Any, css: str, label: str) -> None:
    page.locator(f".{css} select").select_option(label=label)


def kpi(page: Any, indicator: str) -> Any:
    return page.locator(f'.wb-kpi[data-indicator="{indicator}"]')


def expect_value(page: Any, indicator: str, value: Any, attribute: str = "data-value") -> None:
    """Wait (event-driven, no fixed delay) until the card shows exactly `value`."""
    expect(kpi(page, indicator)).to_have_attribute(attribute, repr(float(value)))


SERIES_JS = """() => {
  // the newest line source of each series (a re-rendered plot may leave older models in the document)
  const newest = {};
  const number = (model) => parseInt(String(model.id).replace(/[^0-9]/g, ''), 10);
  for (const doc of Bokeh.documents) for (const model of doc.all_models) {
    const data = model.data;
    if (model.constructor.__name__ !== 'ColumnDataSource' || !data || !data['série'] || !data['numerator']) continue;
    if (data['série'].length === 0) continue;
    const label = data['série'][0];
    if (!newest[label] || number(model) > number(newest[label])) newest[label] = model;
  }
  const points = {};
  for (const [label, model] of Object.entries(newest)) {
    points[label] = {};
    for (let i = 0; i < model.data['value'].length; i++) points[label][model.data['libellé'][i]] = model.data['value'][i];
  }
  return points;
}"""


def series_points(page: Any) -> dict[str, dict[str, float]]:
    """{series label: {period label: value}} read from the plot's data sources in the browser."""
    return page.evaluate(SERIES_JS)


def single(result: Any) -> float:
    assert result.available and len(result.frame) == 1, result.frame
    return float(result.frame["value"].iloc[0])


@pytest.fixture(scope="module")
def last_month(engine) -> str:
    """The month before the extraction date: the page's default end of period."""
    day = engine.warehouse.extraction_date
    index = day.year * 12 + day.month - 1 - 1
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months_before(month: str, n: int) -> str:
    year, number = (int(p) for p in month.split("-"))
    index = year * 12 + number - 1 - n
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


# --------------------------------------------------------------------------- tests

def test_hospital_filter_changes_kpi_to_engine_and_sql_value(open_page, engine, demo_database, last_month) -> None:
    month = last_month
    code, name = busiest_hospital(demo_database, month)
    page = open_page(f"/pilotage?debut={month}&fin={month}&cartes=nb_sejours")
    everything = single(engine("nb_sejours", start=month, end=month))
    expect_value(page, "nb_sejours", everything)

    choose(page, "wb-hopital", f"{name} ({code})")
    in_hospital = single(engine("nb_sejours", start=month, end=month, filters={"hospital": [code]}))
    assert in_hospital == sql_stays(demo_database, code, month)
    assert 0 < in_hospital < everything
    expect_value(page, "nb_sejours", in_hospital)
    previous = single(engine("nb_sejours", start=months_before(month, 12), end=months_before(month, 12),
                             filters={"hospital": [code]}))
    expect_value(page, "nb_sejours", previous, "data-previous")
    # the quality badge: the checks nb_sejours depends on, on this hospital and month
    from workbench.quality.status import quality_status

    day = engine.warehouse.extraction_date.replace(day=1)
    first = (day - dt.timedelta(days=1)).replace(day=1)
    quality = quality_status(engine.warehouse, front_matter("nb_sejours")["quality_checks"], first,
                             day - dt.timedelta(days=1), {"hospital": [code]})
    expect(kpi(page, "nb_sejours").locator(".wb-quality")).to_have_attribute("data-quality", quality.status)
    # the PMSI field narrows the same request
    fields = engine("nb_sejours", by=("stay_type",), start=month, end=month, filters={"hospital": [code]}).frame
    labels = {"MCO": "MCO", "SSR": "SSR", "PSY": "Psychiatrie", "SLD": "SLD"}
    fields = fields[fields.stay_type.isin(list(labels))].sort_values(["value", "stay_type"], ascending=[False, True])
    field = fields.iloc[-1].stay_type if len(fields) > 1 else "SSR"
    choose(page, "wb-champ", labels[field])
    narrowed = engine("nb_sejours", start=month, end=month, filters={"hospital": [code], "stay_type": [field]})
    expected_field = single(narrowed) if len(narrowed.frame) else None
    assert expected_field is None or expected_field < in_hospital
    expect(kpi(page, "nb_sejours")).to_have_attribute("data-value", "" if expected_field is None else repr(expected_field))
    # the pole list now holds this hospital's poles only
    poles = page.locator(".wb-pole select option").all_inner_texts()
    sites = engine.warehouse.execute(engine.warehouse.view("care_sites"))
    expected_poles = sites[(sites.level == "pole") & (sites.hospital == code)]
    assert len(poles) == len(expected_poles) + 1


def test_shared_url_reopens_the_same_view(open_page, page, browser, engine, demo_database, last_month) -> None:
    code, name = busiest_hospital(demo_database, last_month)
    open_page("/pilotage?cartes=dms")
    choose(page, "wb-hopital", f"{name} ({code})")
    choose(page, "wb-debut", months_before(last_month, 5))
    page.locator(".wb-grain button", has_text="Trimestre").click()
    choose(page, "wb-indicateur", "Durée moyenne de séjour (DMS) (dms)")
    page.wait_for_url(re.compile(r"indicateur=dms"))
    assert "grain=quarter" in page.url and f"hopital={code}" in page.url
    # the card covers exactly the chosen months; the grain only shapes the series
    expected = single(engine("dms", start=months_before(last_month, 5), end=last_month, filters={"hospital": [code]}))
    expect_value(page, "dms", expected)
    shared = page.url

    other = browser.new_context().new_page()
    try:
        other.goto(shared)
        other.wait_for_function(BOKEH_IDLE)
        expect_value(other, "dms", expected)
        assert other.locator(".wb-hopital select").input_value() == f"{name} ({code})"
        assert other.locator(".wb-debut select").input_value() == months_before(last_month, 5)
        assert other.locator(".wb-indicateur select").input_value() == "Durée moyenne de séjour (DMS) (dms)"
        assert other.locator(".wb-grain button.bk-active").inner_text() == "Trimestre"
        assert kpi(other, "nb_sejours").count() == 0
        expect(other.locator(".wb-definition")).to_contain_text("Durée moyenne de séjour")
    finally:
        other.context.close()


def _csv_parts(text: str) -> tuple[dict[str, str], list[list[str]]]:
    stamp = {}
    lines = text.splitlines()
    while lines and lines[0].startswith("# "):
        key, _, value = lines.pop(0)[2:].partition(": ")
        stamp[key] = value
    return stamp, list(csv.reader(io.StringIO("\n".join(lines))))


def test_csv_download_equals_cli_output(open_page, demo_catalog, last_month) -> None:
    start = months_before(last_month, 2)
    page = open_page(f"/pilotage?indicateur=nb_sejours&debut={start}&fin={last_month}&cartes=nb_sejours")
    expect(page.locator(".wb-breakdown-title")).to_contain_text("par hôpital")
    expect(page.locator(".pn-loading")).to_have_count(0)
    with page.expect_download() as download:
        page.locator(".wb-download-csv .bk-btn").click()
    assert download.value.suggested_filename.endswith(".csv")
    downloaded = Path(download.value.path()).read_text(encoding="utf-8")

    cli = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "--catalog", str(demo_catalog), "indicators", "compute", "nb_sejours",
         "--by", "hospital", "--from", start, "--to", last_month, "--format", "csv"],
        cwd=PROJECT, capture_output=True, text=True, check=True,
    )
    page_stamp, page_rows = _csv_parts(downloaded)
    cli_stamp, cli_rows = _csv_parts(cli.stdout)
    assert page_rows == cli_rows
    assert len(page_rows) > 2 and page_rows[0][:2] == ["hospital", "value"]
    page_stamp.pop("computed_at"), cli_stamp.pop("computed_at")
    assert page_stamp == cli_stamp
    assert page_stamp["indicateur"] == "nb_sejours"


def test_sql_is_shown_for_duckdb_and_spark(open_page) -> None:
    page = open_page("/pilotage?indicateur=nb_sejours&cartes=nb_sejours")
    page.locator(".wb-sql-toggle .bk-btn").click()
    duck = page.locator(".wb-sql pre").first
    expect(duck).to_contain_text("SELECT")
    page.locator(".wb-sql .bk-tab", has_text="SQL Spark").click()
    spark = page.locator(".wb-sql pre", has_text="`").first
    expect(spark).to_contain_text("SELECT")


def test_clinician_walkthrough_dms_of_a_service_over_24_months(open_page, engine, last_month, tmp_path: Path) -> None:
    """Find the DMS of a service over the last 24 months, compare with the year before,
    read what DMS means, download the table."""
    start = months_before(last_month, 23)
    by_service = engine("dms", by=("service",), start=start, end=last_month).frame
    service = by_service.sort_values(["denominator", "service"], ascending=[False, True]).iloc[0]["service"]
    sites = engine.warehouse.execute(engine.warehouse.view("care_sites"))
    row = sites[(sites.level == "service") & (sites.code == service)].iloc[0]
    label = lambda code: "{} ({})".format(sites[sites.code == code].iloc[0]["name"], code)  # noqa: E731

    page = open_page("/pilotage?cartes=dms")
    choose(page, "wb-indicateur", "Durée moyenne de séjour (DMS) (dms)")
    choose(page, "wb-hopital", label(row.hospital))
    choose(page, "wb-pole", label(row.pole))
    choose(page, "wb-service", label(service))
    choose(page, "wb-debut", start)
    assert page.locator(".wb-fin select").input_value() == last_month  # the default end: last complete month

    current = single(engine("dms", start=start, end=last_month, filters={"service": [service]}))
    previous = single(engine("dms", start=months_before(start, 12), end=months_before(last_month, 12),
                             filters={"service": [service]}))
    expect_value(page, "dms", current)
    expect_value(page, "dms", previous, "data-previous")
    expect(kpi(page, "dms").locator(".wb-kpi-change")).to_contain_text("vs N-1")

    # the series: the chosen 24 months and the 24 before, each month as the engine gives it
    expect(page.locator(".pn-loading")).to_have_count(0)
    page.wait_for_function(BOKEH_IDLE)
    plotted = series_points(page)
    for label, first, last in (("Période choisie", start, last_month),
                               ("Année précédente", months_before(start, 12), months_before(last_month, 12))):
        monthly = engine("dms", by=("month",), start=first, end=last, filters={"service": [service]}).frame
        assert plotted[label] == pytest.approx(dict(zip(monthly["month"], monthly["value"].astype(float))))

    meaning = " ".join(front_matter("dms")["definition"].split())
    expect(page.locator(".wb-definition")).to_contain_text(meaning[:80])

    page.wait_for_url(re.compile(rf"service={service}"))
    expect(page.locator(".wb-breakdown-title")).to_contain_text("par uf")
    expect(page.locator(".pn-loading")).to_have_count(0)
    with page.expect_download() as download:
        page.locator(".wb-download-xlsx .bk-btn").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    book = openpyxl.load_workbook(saved)
    rows = list(book["Données"].iter_rows(values_only=True))
    breakdown = engine("dms", by=("uf",), start=start, end=last_month, filters={"service": [service]})
    expected = breakdown.frame
    assert rows[0][:2] == ("uf", "value")
    assert len(rows) - 1 == len(expected) > 0
    assert sorted(r[1] for r in rows[1:]) == pytest.approx(sorted(expected["value"].astype(float)))
    stamp = {k: v for k, v in book["Métadonnées"].iter_rows(values_only=True, min_row=2)}
    assert stamp["indicateur"] == "dms" and stamp["version"] == breakdown.version

    page.locator(".wb-definition a", has_text="Page du dictionnaire").click()
    page.wait_for_url(re.compile(r"/dictionnaire\?indicateur=dms"))
    page.wait_for_function(BOKEH_IDLE)
    for pitfall in front_matter("dms")["pitfalls"]:
        expect(page.locator(".wb-indicator")).to_contain_text(pitfall)
