"""Benchmark: Pilotage dashboard latency in a real browser (Debian Chromium via Playwright).

A real `workbench serve` is started on a demo warehouse (20,000 patients by
default) and driven like a user would:

- first render, cold: a new session on a fresh server (empty results cache),
  from navigation until every KPI card, the series and the breakdown table are
  drawn and Bokeh is idle;
- the server's warm-up (`dashboards.warmup.warm_up`, started with the
  server: default view, quality checks, protected cube of the policy
  accounts), from its log line; the cold first render above may wait for it;
- first render, warm: a second session asking for the same view once the
  warm-up is over (shared results cache: no engine call);
- filter change to idle: choose a hospital, wait until every card shows the
  value the engine gives for that request (computed beforehand in this process,
  outside the timing), the breakdown is by pole and nothing is loading.
  Each hospital is a new request (cold); re-choosing one already seen is warm.

With ``--as pilotage`` or ``--as dim.014`` the server runs with the project's
access.yaml and the browser logs in with that demo account (the first render
is timed from the login): the référent gets the disclosure policy (whole
years, masked cube), the DIM analyst his hospital's rows (he chooses poles).

Usage: ``python benchmarks/dashboard.py [--patients 20000] [--data DIR] [--hospitals 4] [--as ACCOUNT]``.
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
    log_in,
    start_server,
    stop_server,
)

from workbench.periods import shift_month  # noqa: E402

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


shift = shift_month  # the name the benchmark's steps use


ACCOUNTS = {"pilotage": "pilotage-demo", "dim.014": "dim-demo"}
"""Demo accounts of the project's access.yaml the benchmark can log in as (``--as``)."""


class Reference:
    """The engine in this process, as the page's user: the values the page must end up showing.

    Without a user, the page's default view (last 12 months, all hospitals)
    and a choice of hospitals; as the référent pilotage (disclosure policy),
    the last complete year as one cell and a choice of hospitals; as the DIM
    analyst of hospital 014 (perimeter), his hospital and a choice of its poles.
    """

    def __init__(self, catalog: Path, account: str | None) -> None:
        from workbench.access import authenticate
        from workbench.indicators.dictionary import load_dictionary
        from workbench.warehouse import open as open_warehouse

        self.account = account
        user = authenticate(account, ACCOUNTS[account], ROOT / "access.yaml") if account else None
        self.warehouse = open_warehouse(catalog=catalog, user=user)
        self.dictionary = load_dictionary(ROOT / "wiki")
        day = self.warehouse.extraction_date
        self.end = shift(f"{day.year:04d}-{day.month:02d}", -1)
        self.start = shift(self.end, -11)
        self.grain = "month"
        self.base: dict[str, list[str]] = {}
        if account == "pilotage":  # whole years: the last complete one
            year = int(self.end[:4]) - (0 if self.end.endswith("-12") else 1)
            self.start, self.end, self.grain = f"{year}-01", f"{year}-12", "year"
        elif account == "dim.014":
            self.base = {"hospital": ["014"]}

    @property
    def level(self) -> str:
        """The dimension the benchmark changes, and the breakdown title that follows."""
        return "pole" if self.base else "hospital"

    def value(self, indicator: str, member: str | None) -> str:
        from workbench.indicators.engine import compute

        filters = {**self.base, **({self.level: [member]} if member else {})}
        frame = compute(self.dictionary.get(indicator).definition, self.warehouse, start=self.start, end=self.end,
                        grain=self.grain, filters=filters).frame
        return "" if frame.empty or frame["value"].isna().iloc[0] else repr(float(frame["value"].iloc[0]))

    def members(self, count: int) -> list[tuple[str, str]]:
        """(code, name) of the hospitals (or of the poles of the DIM's hospital) to choose."""
        sites = self.warehouse.view("care_sites")
        if self.base:
            chosen = sites.filter((sites.level == "pole") & (sites.hospital == "014"))
        else:
            chosen = sites.filter(sites.level == "hopital")
        frame = self.warehouse.execute(chosen.select("code", "name").order_by("code"))
        return list(zip(frame["code"], frame["name"]))[:count]

    def login(self, page: Any) -> None:
        if self.account:
            log_in(page, self.account, ACCOUNTS[self.account])


def settled(page: Any, expected: dict[str, str], level_title: str) -> None:
    """Wait until the cards show `expected`, the breakdown is by `level_title`, nothing loads."""
    from playwright.sync_api import expect

    for indicator, value in expected.items():
        expect(page.locator(f'.wb-kpi[data-indicator="{indicator}"]')).to_have_attribute("data-value", value)
    expect(page.locator(".wb-breakdown-title")).to_contain_text(level_title)
    page.locator(".wb-series").or_(page.locator(".wb-series-empty")).first.wait_for()  # a plot, or "no data"
    expect(page.locator(".pn-loading")).to_have_count(0)
    page.wait_for_function(BOKEH_IDLE)


def percentile(values: list[float], q: float) -> float | None:
    """The `q`-th percentile (nearest rank) of `values`, rounded to the millisecond; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(ordered[index], 3)


def warm_up_seconds(server: Any, timeout: float = 1800.0) -> float | None:
    """Wait for the server's warm-up to end (its log line) and return its duration in seconds."""
    import re

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.alive():
        for line in server.output:
            found = re.search(r"préchauffage terminé en ([0-9.]+) s", line)
            if found:
                return float(found.group(1))
        time.sleep(0.2)
    return None


BREAKDOWN_TITLES = {"hospital": "pôle", "pole": "service"}


def choose(page: Any, reference: Reference, code: str, name: str, expected: dict[str, str]) -> float:
    """Seconds from choosing a hospital (or pole) in the sidebar until its figures are drawn and Bokeh is idle."""
    began = time.perf_counter()
    css = "wb-hopital" if reference.level == "hospital" else "wb-pole"
    page.locator(f".{css} select").select_option(label=f"{name} ({code})")
    settled(page, expected, BREAKDOWN_TITLES[reference.level])
    return time.perf_counter() - began


def run(catalog: Path, count: int, account: str | None = None) -> dict[str, Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=300_000)
    reference = Reference(catalog, account)
    first_view = {indicator: reference.value(indicator, None) for indicator in CARDS}
    chosen = reference.members(count)
    per_member = {code: {indicator: reference.value(indicator, code) for indicator in CARDS} for code, _ in chosen}
    first_title = "pôle" if reference.base else "hôpital"

    server = start_server(catalog, "benchmark_dashboard", access=ROOT / "access.yaml" if account else None)
    figures: dict[str, Any] = {"patients_catalog": str(catalog), "period": f"{reference.start}/{reference.end}",
                               "user": account or "(sans connexion)"}
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            timings: dict[str, Any] = {}
            for label in ("first_render_cold_s", "first_render_warm_s"):
                context = browser.new_context(viewport={"width": 1500, "height": 1100})
                page = context.new_page()
                if account:  # the login form first (outside the timing): the page is measured from the login
                    page.goto(server.url + "/pilotage", timeout=300_000)
                began = time.perf_counter()
                if account:
                    reference.login(page)
                else:
                    page.goto(server.url + f"/pilotage?debut={reference.start}&fin={reference.end}", timeout=300_000)
                settled(page, first_view, first_title)
                timings[label] = round(time.perf_counter() - began, 3)
                if label == "first_render_cold_s":
                    context.close()
                    timings["server_warm_up_s"] = warm_up_seconds(server)
            cold = [choose(page, reference, code, name, per_member[code]) for code, name in chosen]
            warm = [choose(page, reference, code, name, per_member[code]) for code, name in chosen]
            timings["filter_change_cold_median_s"] = round(statistics.median(cold), 3)
            timings["filter_change_warm_median_s"] = round(statistics.median(warm), 3)
            timings["filter_change_cold_p95_s"] = percentile(cold, 95)
            timings["filter_change_p95_s"] = percentile(cold + warm, 95)
            timings["filter_changes"] = len(cold)
            if not account:
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
    parser.add_argument("--hospitals", type=int, default=4, help="hôpitaux (ou pôles) choisis tour à tour")
    parser.add_argument("--as", dest="account", choices=sorted(ACCOUNTS), default=None,
                        help="se connecter avec ce compte de démonstration (contrôle d'accès actif)")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit("Chromium Debian absent (/usr/bin/chromium) : apt-get install chromium")
    catalog = ensure_data(data_folder(args.patients, args.data), args.patients)
    figures = run(catalog, args.hospitals, args.account)
    figures["patients"] = args.patients
    print(json.dumps(figures, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
