"""The quality page in a real browser, against `workbench quality run` and the demo's flaw manifest.

The server gets its own, empty state folder, so the page runs the checks
itself and stores the run; the CLI runs them in another process with another
state folder. The failed count shown must equal the CLI's, and the flaws the
generator injected (a stopped feed, stays ending before they start) must be
listed, with the manifest's ids in the drill-down.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import expect

from dashboard_support import BOKEH_IDLE, PROJECT, Server, start_server, stop_server
from dashboard_support import log_in as send_login

pytestmark = pytest.mark.browser
expect.set_options(timeout=180_000)


@pytest.fixture(scope="module")
def server_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("quality-server-state")


@pytest.fixture(scope="module")
def server(demo_catalog: Path, server_state: Path) -> Iterator[Server]:
    running = start_server(demo_catalog, "test_quality_page", env={"WORKBENCH_STATE": str(server_state)})
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def cli_run(demo_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`workbench quality run --format json` on the same warehouse, in its own state folder."""
    state = tmp_path_factory.mktemp("quality-cli-state")
    done = subprocess.run(
        [sys.executable, "-m", "workbench.cli", "--catalog", str(demo_catalog), "quality", "run", "--format", "json"],
        cwd=PROJECT, env={**os.environ, "WORKBENCH_STATE": str(state)}, capture_output=True, text=True, check=True,
    )
    return json.loads(done.stdout)


def flaw_rows(demo_catalog: Path, flaw: str) -> list[int]:
    manifest = json.loads((demo_catalog.parent / "flaws.json").read_text(encoding="utf-8"))
    return next(entry["row_ids"] for entry in manifest["flaws"] if entry["id"] == flaw)


def test_failed_count_matches_the_cli_and_failing_checks_come_first(open_page, cli_run: dict) -> None:
    failed = [check["id"] for check in cli_run["checks"] if check["status"] == "failed"]
    assert "visit_occurrence_feed_stop" in failed  # the demo's stopped feed
    page = open_page("/qualite")
    expect(page.locator(".wb-failed-count")).to_have_attribute("data-count", str(len(failed)))
    # the summary by category adds up to the CLI's statuses
    for category in ("conformance", "completeness", "plausibility"):
        expected = sum(c["category"] == category and c["status"] == "failed" for c in cli_run["checks"])
        cell = page.locator(f'.wb-quality-summary tr[data-category="{category}"] td[data-status="failed"]')
        assert int(cell.inner_text()) == expected
    # failing checks first in the table: the first len(failed) rows are exactly the failed checks
    page.locator(".wb-checks .tabulator-row").first.wait_for()
    shown = page.locator('.wb-checks .tabulator-cell[tabulator-field="contrôle"]').all_inner_texts()
    assert set(shown[: len(failed)]) == set(failed)
    assert "visit_occurrence_feed_stop" in shown[: len(failed)]


def test_drill_down_shows_definition_sql_and_the_injected_ids(open_page, demo_catalog: Path, cli_run: dict) -> None:
    page = open_page("/qualite?controle=visit_occurrence_start_before_end")
    detail = page.locator(".wb-check-detail")
    expect(detail).to_contain_text("visit_occurrence_start_before_end")
    expect(detail).to_contain_text("échoué")
    expect(page.locator(".wb-check-sql")).to_contain_text("SELECT")
    injected = flaw_rows(demo_catalog, "stay_end_before_start")
    shown = [int(text) for text in page.locator(".wb-sample-id").all_inner_texts()]
    assert shown and shown == sorted(injected)[: len(shown)]


def test_clicking_a_row_drills_down_and_volumes_are_plotted(open_page) -> None:
    page = open_page("/qualite")
    page.locator('.wb-checks .tabulator-cell[tabulator-field="contrôle"]', has_text="visit_occurrence_feed_stop").first.click()
    expect(page.locator(".wb-check-detail")).to_contain_text("visit_occurrence_feed_stop")
    page.wait_for_function("() => window.location.search.includes('controle=visit_occurrence_feed_stop')")
    expect(page.locator(".wb-check-detail .wb-sample-id").first).to_be_visible()
    # the monthly volumes per hospital (the plot of the catalogue page)
    page.wait_for_function(VOLUMES_JS)


VOLUMES_JS = """() => window.Bokeh !== undefined && Bokeh.documents.some(doc => [...doc.all_models].some(
  m => m.constructor.__name__ === 'ColumnDataSource' && m.data && m.data['completude'] && m.data['completude'].length > 0))"""


def test_the_stored_run_is_reused_for_the_same_snapshot(open_page, server_state: Path) -> None:
    from workbench.quality import ResultStore

    page = open_page("/qualite")
    runs = ResultStore(server_state).runs()
    assert len(runs) == 1  # every session of this module loaded the one run the first session stored
    expect(page.locator(".wb-run")).to_contain_text(runs[0]["run_id"])


# --------------------------------------------------------------------------- the équipe entrepôt (login on)

@pytest.fixture(scope="module")
def login_server(demo_catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    """The app with the project's demo accounts (access.yaml), and its own state folder (audit log, runs)."""
    state = tmp_path_factory.mktemp("quality-login-state")
    running = start_server(demo_catalog, "test_quality_page_login", env={"WORKBENCH_STATE": str(state)},
                           access=PROJECT / "access.yaml")
    yield running, state
    stop_server(running)


def log_in(page, server: Server, path: str, name: str, password: str):
    page.goto(server.url + path)
    send_login(page, name, password)
    page.wait_for_url(lambda url: "/qualite" in url)
    page.wait_for_function(BOKEH_IDLE)
    return page


def audit_events(state: Path, kind: str) -> list[dict]:
    lines = (state / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    return [event for event in map(json.loads, lines) if event["event"] == kind]


def test_the_equipe_entrepot_reads_the_whole_run_masked(page, login_server: tuple[Server, Path],
                                                        demo_catalog: Path, cli_run: dict) -> None:
    """Statuses as the exact run's, no failing id anywhere, a check with 1 to 9 violating rows reads « < 10 »."""
    login_server, login_state = login_server
    small = next(c for c in cli_run["checks"] if c["num_violated_rows"] and c["num_violated_rows"] < 10)
    log_in(page, login_server, f"/qualite?controle={small['id']}", "entrepot", "entrepot-demo")
    expect(page.locator(".wb-user")).to_have_text("entrepot")
    failed = [check["id"] for check in cli_run["checks"] if check["status"] == "failed"]
    expect(page.locator(".wb-failed-count")).to_have_attribute("data-count", str(len(failed)))
    page.locator(".wb-checks .tabulator-row").first.wait_for()
    statuses = page.locator('.wb-checks .tabulator-cell[tabulator-field="statut"]').all_inner_texts()
    assert statuses[: len(failed)] == ["échoué"] * len(failed)  # not « erreur »: the run is the warehouse's
    for field in ("violations", "contrôlées"):  # every count shown is 0, 10 or more, or « < 10 »
        for text in page.locator(f'.wb-checks .tabulator-cell[tabulator-field="{field}"]').all_inner_texts():
            assert text in ("< 10", "0", "") or int(text.replace("\u202f", "")) >= 10, (field, text)
    detail = page.locator(".wb-check-detail")
    expect(detail).to_contain_text(small["id"])
    expect(detail).to_contain_text("< 10 /")
    expect(detail).to_contain_text("non affichés")
    expect(page.locator(".wb-check-sql")).to_contain_text("SELECT")
    assert page.locator(".wb-sample-id").count() == 0
    injected = flaw_rows(demo_catalog, "stay_end_before_start")
    page.goto(login_server.url + "/qualite?controle=visit_occurrence_start_before_end")
    page.wait_for_function(BOKEH_IDLE)
    expect(page.locator(".wb-check-detail")).to_contain_text("non affichés")
    words = set(page.locator(".wb-check-detail").inner_text().replace(",", " ").split())
    assert not words & {str(row) for row in injected}
    assert page.locator(".wb-sample-id").count() == 0
    reads = [e for e in audit_events(login_state, "quality") if e["user"] == "entrepot"]
    assert reads and all(e["policy"] is True and e["masked"] >= 1 and e["surface"] == "qualite" for e in reads)
    assert reads[0]["checks"] == len(cli_run["checks"])


def test_the_referent_pilotage_is_refused_the_quality_page(page, login_server: tuple[Server, Path]) -> None:
    login_server, login_state = login_server
    log_in(page, login_server, "/qualite", "pilotage", "pilotage-demo")
    expect(page.locator(".wb-refused")).to_contain_text("n'a pas accès aux rapports de qualité")
    assert page.locator(".wb-checks").count() == 0
    refused = [e for e in audit_events(login_state, "refused") if e["user"] == "pilotage"]
    assert [e.get("surface") for e in refused] == ["qualite"]
