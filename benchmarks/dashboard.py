"""Benchmark: Pilotage dashboard latency in a real browser (Debian Chromium via Playwright).

A real `workbench serve` is started on a demo warehouse (20,000 patients by
default) and driven like a user would:

- first render, cold: a new session on a fresh server (empty results cache),
  from navigation until every KPI card, the series and the breakdown table are
  drawn and Bokeh is idle;
- first render, warm: a second session asking for the same view (shared
  ``pn.cache``: no engine call);
- filter change to idle: choose a hospital, wait until every card shows the
  value the engine gives for that request (computed beforehand in this process,
  outside the timing), the breakdown is by pole and nothing is loading.
  Each hospital is a new request (cold); re-choosing one already seen is warm.

Usage: ``python benchmarks/dashboard.py [--patients 20000] [--data DIR] [--hospitals 4]``.
The server inherits the environment: ``WORKBENCH_MATERIALIZE=0`` measures the
dashboard without materialised views (every engine call compiles and runs the
full views), for comparison.
Data: ``$WORKBENCH_BENCH_DATA/<N>/`` or ``~/.cache/eds-workbench/bench/<N>/``
(built with ``workbench.demo.build_demo`` when missing).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "dashboards"))

from dashboard_support import (
    BOKEH_IDLE,
    CHROMIUM,
    CHROMIUM_ARGS,
    start_server,
    stop_server,
)

CARDS = ("nb_sejours", "dms", "mortalite_hospitaliere")
"""The Pilotage page's default cards."""


def data_folder(patients: int, explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    base = os.environ.get("WORKBENCH_BENCH_DATA")
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "eds-workbench" / "bench"
    return root / str(patients)


def ensure_data(folder: Path, patients: int) -> Path:
    catalog = folder / "catalog.yaml"
    if not (folder / "eds.duckdb").is_file() or not catalog.is_file():
        from workbench.demo import build_demo

        print(f"construction de l'entrepôt de démonstration ({patients} patients) dans {folder}", file=sys.stderr)
        build_demo(folder, patients=patients, progress=True)
    return catalog


def shift(month: str, months: int) -> str:
    year, number = (int(p) for p in month.split("-"))
    index = year * 12 + number - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


class Reference:
    """The engine in this process: the values the page must end up showing."""

    def __init__(self, catalog: Path) -> None:
        from workbench.indicators.dictionary import load_dictionary
        from workbench.warehouse import open as open_warehouse

        self.warehouse = open_warehouse(catalog=catalog)
        self.dictionary = load_dictionary(ROOT / "wiki")
        day = self.warehouse.extraction_date
        self.end = shift(f"{day.year:04d}-{day.month:02d}", -1)
        self.start = shift(self.end, -11)

    def value(self, indicator: str, hospital: str | None) -> str:
        from workbench.indicators.engine import compute

        filters = {"hospital": [hospital]} if hospital else {}
        frame = compute(self.dictionary.get(indicator).definition, self.warehouse, start=self.start, end=self.end,
                        filters=filters).frame
        return "" if frame.empty or frame["value"].isna().iloc[0] else repr(float(frame["value"].iloc[0]))

    def hospitals(self, count: int) -> list[tuple[str, str]]:
        sites = self.warehouse.view("care_sites")
        frame = self.warehouse.execute(sites.filter(sites.level == "hopital").select("code", "name").order_by("code"))
        return list(zip(frame["code"], frame["name"]))[:count]


def settled(page: Any, expected: dict[str, str], level_title: str) -> None:
    """Wait until the cards show `expected`, the breakdown is by `level_title`, nothing loads."""
    from playwright.sync_api import expect

    for indicator, value in expected.items():
        expect(page.locator(f'.wb-kpi[data-indicator="{indicator}"]')).to_have_attribute("data-value", value)
    expect(page.locator(".wb-breakdown-title")).to_contain_text(level_title)
    page.locator(".wb-series").first.wait_for()
    expect(page.locator(".pn-loading")).to_have_count(0)
    page.wait_for_function(BOKEH_IDLE)


def percentile(values: list[float], q: float) -> float | None:
    """The `q`-th percentile (nearest rank) of `values`, rounded to the millisecond; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 3)


def choose_hospital(page: Any, code: str, name: str, expected: dict[str, str]) -> float:
    """Seconds from choosing a hospital in the sidebar until its figures are drawn and Bokeh is idle."""
    began = time.perf_counter()
    page.locator(".wb-hopital select").select_option(label=f"{name} ({code})")
    settled(page, expected, "pôle")
    return time.perf_counter() - began


def run(catalog: Path, hospitals: int) -> dict[str, Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=300_000)
    reference = Reference(catalog)
    everywhere = {indicator: reference.value(indicator, None) for indicator in CARDS}
    chosen = reference.hospitals(hospitals)
    per_hospital = {code: {indicator: reference.value(indicator, code) for indicator in CARDS} for code, _ in chosen}
    url_path = f"/pilotage?debut={reference.start}&fin={reference.end}"

    server = start_server(catalog, "benchmark_dashboard")
    figures: dict[str, Any] = {"patients_catalog": str(catalog), "period": f"{reference.start}/{reference.end}"}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            timings: dict[str, Any] = {}
            for label in ("first_render_cold_s", "first_render_warm_s"):
                context = browser.new_context(viewport={"width": 1500, "height": 1100})
                page = context.new_page()
                began = time.perf_counter()
                page.goto(server.url + url_path, timeout=300_000)
                settled(page, everywhere, "hôpital")
                timings[label] = round(time.perf_counter() - began, 3)
                if label == "first_render_cold_s":
                    context.close()
            cold, warm = [], []
            for code, name in chosen:
                cold.append(choose_hospital(page, code, name, per_hospital[code]))
            for code, name in chosen:
                warm.append(choose_hospital(page, code, name, per_hospital[code]))
            timings["filter_change_cold_median_s"] = round(statistics.median(cold), 3)
            timings["filter_change_warm_median_s"] = round(statistics.median(warm), 3)
            timings["filter_change_cold_p95_s"] = percentile(cold, 95)
            timings["filter_change_p95_s"] = percentile(cold + warm, 95)
            timings["filter_changes"] = len(cold)
            began = time.perf_counter()
            catalogue = browser.new_page()
            catalogue.goto(server.url + "/catalogue", timeout=300_000)
            catalogue.locator(".wb-tables tbody tr").first.wait_for()
            catalogue.wait_for_function(BOKEH_IDLE)
            timings["catalogue_first_render_s"] = round(time.perf_counter() - began, 3)
            figures.update(timings)
            browser.close()
    finally:
        stop_server(server)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--hospitals", type=int, default=4)
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit("Chromium Debian absent (/usr/bin/chromium) : apt-get install chromium")
    catalog = ensure_data(data_folder(args.patients, args.data), args.patients)
    figures = run(catalog, args.hospitals)
    figures["patients"] = args.patients
    print(json.dumps(figures, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
