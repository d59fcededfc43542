"""The « Chargements » section of the admin page, in a real browser, on a warehouse fed by two FHIR loads.

The expected figures are those of the two loads the test makes: the sample
(7,160 resources received, nothing in quarantine), then two broken lines.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import pytest
from playwright.sync_api import expect

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboards"))  # the dashboards' server helpers

from dashboard_support import BOKEH_IDLE, Server, log_in, start_server, stop_server  # noqa: E402
from fhir_fixtures import workbench  # noqa: E402
from workbench.access.model import AccessFile, Policy, UserEntry, hash_password, save_access  # noqa: E402

pytestmark = pytest.mark.browser
PASSWORD = "admin-fhir-test"


@pytest.fixture()
def served(warehouse_copy: Path, tmp_path: Path) -> Iterator[Server]:
    broken = tmp_path / "source"
    broken.mkdir()
    (broken / "Condition.000.ndjson").write_text('{"resourceType": "Condition", \n{pas du json\n', encoding="utf-8")
    run = workbench("ingest", "fhir", str(broken), "--into", str(warehouse_copy))
    assert run.returncode == 0, run.stderr
    access = tmp_path / "access.yaml"
    save_access(AccessFile(access, Policy(min_count=10), {"admin.fhir": UserEntry(role="admin", password_hash=hash_password(PASSWORD))}))
    running = start_server(warehouse_copy / "catalog.yaml", "test_fhir_admin_page", env={"WORKBENCH_STATE": str(tmp_path / "state")},
                           access=access)
    yield running
    stop_server(running)


def test_admin_page_lists_the_loads_and_their_quarantine(browser, served: Server) -> None:
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(180_000)
    try:
        page.goto(served.url + "/admin")
        log_in(page, "admin.fhir", PASSWORD)
        page.wait_for_url(lambda url: "/admin" in url)
        page.wait_for_function(BOKEH_IDLE)
        expect(page.get_by_text("Chargements (2)")).to_be_visible()
        loads = page.locator(".wb-loads")
        expect(loads).to_contain_text("7,160")  # Tabulator groups thousands
        expect(loads).to_contain_text("admin")
        expect(page.locator(".wb-quarantine")).to_contain_text("JSON illisible")
    finally:
        context.close()
