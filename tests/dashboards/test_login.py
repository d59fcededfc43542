"""Login on the served app (`workbench serve --access access.yaml`), in a real browser.

The demo accounts of the project's access.yaml (public passwords, see
docs/security.md) are used on the test warehouse. A clinician of hospital
014 sees the pilotage KPI of his hospital only: the figure equals a
hand-written SQL count restricted to 014, not the whole warehouse's. A wrong
password is refused and both attempts are in the audit log. Repeated failures
are throttled per (account, client address) pair and per account: plain HTTP
POSTs of the login form to /login, each from its own loopback address
(127.0.0.0/8), so the limits of one test do not reach another.
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pytest
from playwright.sync_api import expect

from dashboard_support import BOKEH_IDLE, PROJECT, Server, log_in, start_server, stop_server
from dashboard_support import post_login as send_form
from test_pilotage_page import kpi, sql_stays

pytestmark = pytest.mark.browser
expect.set_options(timeout=180_000)


CLINICIAN_PASSWORD = "clinicien-014-test"


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("login-state")


@pytest.fixture(scope="module")
def access_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo accounts plus a clinician of hospital 014 with the nominative right, whose figures
    are exact counts (no small-count masking), so the perimeter alone is tested."""
    import yaml

    from workbench.access import hash_password

    document = yaml.safe_load((PROJECT / "access.yaml").read_text(encoding="utf-8"))
    document["users"]["clinicien.014"] = {"role": "clinicien", "perimeter": ["014"], "nominative": True,
                                          "password_hash": hash_password(CLINICIAN_PASSWORD)}
    target = tmp_path_factory.mktemp("access") / "access.yaml"
    target.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def server(demo_catalog: Path, state: Path, access_file: Path) -> Iterator[Server]:
    running = start_server(demo_catalog, "test_login", env={"WORKBENCH_STATE": str(state)}, access=access_file)
    yield running
    stop_server(running)


def twelve_months(last: str) -> list[str]:
    year, number = (int(part) for part in last.split("-"))
    index = year * 12 + number - 1
    return [f"{(index - k) // 12:04d}-{(index - k) % 12 + 1:02d}" for k in range(12)]


def stays(database: Path, months: list[str], hospitals: list[str] | None = None) -> int:
    """`sql_stays` (hand-written SQL) summed over months and hospitals (every hospital by default)."""
    if hospitals is None:
        with duckdb.connect(str(database), read_only=True) as con:
            hospitals = [row[0] for row in con.execute(
                "SELECT DISTINCT h.care_site_source_value FROM visit_occurrence v "
                "JOIN care_site h ON h.care_site_id = v.care_site_id").fetchall()]
    return sum(sql_stays(database, code, month) for code in hospitals for month in months)


def login(page: Any, server: Server, path: str, name: str, password: str) -> None:
    page.goto(server.url + path)
    log_in(page, name, password)


def logins(state: Path) -> list[tuple[str, bool]]:
    lines = (state / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    return [(e["user"], e["ok"]) for e in map(json.loads, lines) if e["event"] == "login"]


def test_pages_require_a_login_and_a_wrong_password_is_refused(page, server: Server, state: Path) -> None:
    page.goto(server.url + "/pilotage")
    expect(page.locator("form.wb-login")).to_be_visible()  # redirected to the login form
    login(page, server, "/pilotage", "dim.014", "mauvais-mot-de-passe")
    expect(page.locator(".wb-login-error")).to_contain_text("incorrect")
    expect(page.locator("form.wb-login")).to_be_visible()
    assert ("dim.014", False) in logins(state)
    assert all(c["name"] != "wb_session" for c in page.context.cookies())


def test_a_clinician_sees_the_pilotage_kpi_of_his_perimeter(page, server: Server, state: Path, demo_database: Path,
                                                             month: str) -> None:
    months = twelve_months(month)
    login(page, server, f"/pilotage?debut={months[-1]}&fin={month}&cartes=nb_sejours", "clinicien.014", CLINICIAN_PASSWORD)
    page.wait_for_url(lambda url: "/pilotage" in url)
    page.wait_for_function(BOKEH_IDLE)
    expect(page.locator(".wb-user")).to_have_text("clinicien.014")
    mine, everything = stays(demo_database, months, ["014"]), stays(demo_database, months)
    assert 0 < mine < everything
    # the hospital list holds the perimeter's hospital only, chosen by default
    assert page.locator(".wb-hopital select option").all_inner_texts() == ["Hôpital Ambroise-Paré (014)"]
    card = kpi(page, "nb_sejours")
    expect(card).to_have_attribute("data-value", repr(float(mine)))
    assert ("clinicien.014", True) in logins(state)


def test_admin_page_lists_accounts_and_perimeters_and_is_refused_to_others(page, browser, server: Server,
                                                                          access_file: Path) -> None:
    import yaml

    login(page, server, "/admin", "admin", "admin-demo")
    page.wait_for_url(lambda url: "/admin" in url)
    accounts = yaml.safe_load(access_file.read_text(encoding="utf-8"))["users"]
    for name, entry in accounts.items():
        row = page.locator(f'.wb-accounts tr.wb-account[data-user="{name}"]')
        expect(row).to_contain_text(entry["role"])
        for code in entry["perimeter"]:
            expect(row.locator(".wb-perimeter")).to_contain_text(code)

    other = browser.new_context().new_page()
    try:
        login(other, server, "/admin", "pilotage", "pilotage-demo")
        other.wait_for_url(lambda url: "/admin" in url)
        expect(other.locator(".wb-refused")).to_contain_text("réservée au rôle admin")
        assert other.locator(".wb-accounts").count() == 0
    finally:
        other.context.close()


def test_serve_login_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, access_file: Path) -> None:
    """--access names a missing or malformed file: a clear error; no file and no option: no login; --no-auth wins."""
    from workbench.commands.serve import configure_login
    from workbench.errors import UserError

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("WORKBENCH_ACCESS", raising=False)
    monkeypatch.setenv("WORKBENCH_AUTH", "")
    with pytest.raises(UserError, match="introuvable"):
        configure_login(tmp_path / "absent.yaml", no_auth=False)
    broken = tmp_path / "broken.yaml"
    broken.write_text("users:\n  x:\n    role: inconnu\n    password_hash: y\n", encoding="utf-8")
    with pytest.raises(UserError, match="x"):
        configure_login(broken, no_auth=False)
    assert configure_login(None, no_auth=False) is None  # no ./access.yaml here
    assert configure_login(access_file, no_auth=True) is None
    assert configure_login(access_file, no_auth=False) == access_file
    import os

    assert os.environ["WORKBENCH_AUTH"] == "1" and os.environ["WORKBENCH_ACCESS"] == str(access_file.resolve())


THROTTLED = "Trop de tentatives : réessayez dans quelques minutes."


def post_login(server: Server, client: str, name: str, password: str) -> tuple[str, bool]:
    """POST the login form (with its CSRF token) from the loopback address `client`: where it redirects, and
    whether it logged in."""
    location, session = send_form(server.url, client, name, password)
    return location, session is not None


def login_page(server: Server, query: str) -> str:
    import urllib.request

    with urllib.request.urlopen(f"{server.url}/login?{query}", timeout=60) as response:
        return response.read().decode("utf-8")


def throttled(state: Path, name: str) -> list[dict]:
    events = map(json.loads, (state / "audit.jsonl").read_text(encoding="utf-8").splitlines())
    return [e for e in events if e["event"] == "login" and e.get("outcome") == "throttled" and e["user"] == name]


def test_five_failures_of_one_name_from_one_address_block_that_pair_even_with_the_right_password(
        server: Server, state: Path) -> None:
    for attempt in range(5):
        location, ok = post_login(server, "127.0.1.1", "entrepot", f"faux-{attempt}")
        assert (location, ok) == ("/login?error=identifiants", False)
    location, ok = post_login(server, "127.0.1.1", "entrepot", "entrepot-demo")
    assert (location, ok) == ("/login?error=tentatives", False)
    assert THROTTLED in login_page(server, "error=tentatives")
    (event,) = throttled(state, "entrepot")
    assert (event["ok"], event["client"]) == (False, "127.0.1.1")
    assert [ok for name, ok in logins(state) if name == "entrepot"] == [False] * 6  # no success logged: not checked
    assert post_login(server, "127.0.1.2", "entrepot", "entrepot-demo")[1]  # the account itself is not locked


def test_failures_from_one_address_do_not_lock_out_the_other_accounts_behind_it(server: Server) -> None:
    """One address may be a whole hospital's proxy: its failures for some names leave the other names alone."""
    for attempt in range(6):
        assert post_login(server, "127.0.2.1", f"inconnu.{attempt}", "x") == ("/login?error=identifiants", False)
    assert post_login(server, "127.0.2.1", "clinicien.cardio", "cardio-demo")[1]


def test_a_successful_login_clears_the_pairs_failures(server: Server) -> None:
    """Four failures then a success, twice from one address: eight failures in all, never throttled (limit 5)."""
    for round in range(2):
        for attempt in range(4):
            assert post_login(server, "127.0.3.1", "dim.014", "faux") == ("/login?error=identifiants", False)
        assert post_login(server, "127.0.3.1", "dim.014", "dim-demo")[1]


def test_the_login_page_shows_only_its_own_messages(server: Server) -> None:
    """The message is chosen by a code: text or markup put in the URL is not shown."""
    page = login_page(server, "error=" + urllib.parse.quote("<script>alert(1)</script>"))
    assert "<script>alert" not in page and 'class="wb-login-error"' not in page
    assert "incorrect" in login_page(server, "error=identifiants")


def test_throttle_window_expires_and_memory_stays_small() -> None:
    from dashboards.auth import LoginThrottle

    now = [0.0]
    throttle = LoginThrottle(limit=5, window=600.0, clock=lambda: now[0])
    for _ in range(7):
        throttle.failed("name:x", "client:a")
    assert throttle.blocked("name:x") and throttle.blocked("name:y", "client:a")
    assert len(throttle._failures["name:x"]) == 5  # only the last `limit` failures are kept
    now[0] = 599.0
    assert throttle.blocked("name:x")
    now[0] = 601.0
    assert not throttle.blocked("name:x", "client:a")
    assert throttle._failures == {}  # expired keys are dropped
    throttle.failed("name:x")
    throttle.clear("name:x")
    assert not throttle.blocked("name:x")
