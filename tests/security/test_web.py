"""Attacks on the served app (issue 12, findings 5, 6, 8 and the quality page of 9), each shown to fail.

One real `workbench serve --access …` for the module, on a copy of the demo
warehouse (so that the file can be replaced while serving), a copy of the
accounts (edited while serving) and a copy of the wiki whose ``nb_sejours``
page holds HTML with script in its name, definition, version note and body.
The server trusts one proxy address, 127.0.9.1; every other loopback address
(127.0.0.0/8) is a plain client, each test using its own. Expected figures
come from hand-written SQL on the DuckDB file (tests/dashboards).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any, Iterator

import duckdb
import pytest
import yaml
from playwright.sync_api import expect

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboards"))  # the served-app helpers

from dashboard_support import (  # noqa: E402
    BOKEH_IDLE, PROJECT, Server, cookie_value, http, log_in, post_login, start_server, stop_server,
)
from test_pilotage_page import kpi, sql_stays  # noqa: E402

pytestmark = pytest.mark.browser
expect.set_options(timeout=180_000)

PROXY = "127.0.9.1"
CLINICIAN = ("clinicien.014", "clinicien-014-test")
XSS = {
    "name": "<img src=x1 onerror=\"window.__xss='name'\">",
    "definition": "<img src=x2 onerror=\"window.__xss='definition'\">",
    "change": "<img src=x3 onerror=\"window.__xss='version'\">",
    "body": "<img src=x4 onerror=\"window.__xss='body'\"><script>window.__xss='script'</script>",
}


# --------------------------------------------------------------------------- the served app


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, demo_dir: Path) -> dict[str, Path]:
    """Copies the server may be given and the test may change: warehouse, accounts, wiki; and a state folder."""
    from workbench.access import hash_password

    root = tmp_path_factory.mktemp("web")
    warehouse = root / "warehouse"
    warehouse.mkdir()
    for name in ("catalog.yaml", "eds.duckdb"):
        shutil.copy2(Path(demo_dir) / name, warehouse / name)
    document = yaml.safe_load((PROJECT / "access.yaml").read_text(encoding="utf-8"))
    document["users"][CLINICIAN[0]] = {"role": "clinicien", "perimeter": ["014"], "nominative": True,
                                       "password_hash": hash_password(CLINICIAN[1])}
    access = root / "access.yaml"
    access.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    wiki = root / "wiki"
    shutil.copytree(PROJECT / "wiki", wiki)
    page = wiki / "Indicateurs" / "nb_sejours.md"
    text = page.read_text(encoding="utf-8")
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    meta["name"] += " " + XSS["name"]
    meta["definition"] += " " + XSS["definition"]
    meta["versions"][0]["change"] += " " + XSS["change"]
    page.write_text("---\n" + yaml.safe_dump(meta, allow_unicode=True, sort_keys=False) + "---\n" + body
                    + "\n" + XSS["body"] + "\n", encoding="utf-8")
    return {"catalog": warehouse / "catalog.yaml", "database": warehouse / "eds.duckdb", "access": access,
            "wiki": wiki, "state": root / "state"}


@pytest.fixture(scope="module")
def server(served: dict[str, Path]) -> Iterator[Server]:
    env = {"WORKBENCH_STATE": str(served["state"]), "WORKBENCH_WIKI": str(served["wiki"]),
           "WORKBENCH_TRUSTED_PROXIES": PROXY}
    running = start_server(served["catalog"], "test_web", env=env, access=served["access"])
    yield running
    stop_server(running)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    tab = context.new_page()
    tab.set_default_timeout(180_000)
    yield tab
    context.close()


def sign_in(page: Any, server: Server, path: str, name: str, password: str) -> Any:
    """Log in through the form and wait until the page asked for is rendered."""
    page.goto(server.url + path)
    log_in(page, name, password)
    page.wait_for_url(lambda url: path.split("?")[0] in url and "/login" not in url)
    page.wait_for_function(BOKEH_IDLE)
    return page


def session_of(page: Any) -> str:
    (value,) = [cookie["value"] for cookie in page.context.cookies() if cookie["name"] == "wb_session"]
    return value


def events(state: Path, kind: str) -> list[dict]:
    lines = (state / "audit.jsonl").read_text(encoding="utf-8").splitlines()
    return [event for event in map(json.loads, lines) if event.get("event") == kind]


def sent_to_login(reply: Any) -> bool:
    """Whether the server answered with its login page (Bokeh redirects to ``./login?next=…``)."""
    return reply.status == 302 and reply.location.split("?")[0].lstrip(".") == "/login"


def last_months(database: Path) -> list[str]:
    """The pilotage page's default period: the twelve months up to the one before the extraction date."""
    with duckdb.connect(str(database), read_only=True) as con:
        day = con.execute("SELECT max(extraction_date) FROM _metadata").fetchone()[0]
    index = day.year * 12 + day.month - 2
    return [f"{(index - k) // 12:04d}-{(index - k) % 12 + 1:02d}" for k in range(12)]


def hospitals(database: Path) -> list[str]:
    with duckdb.connect(str(database), read_only=True) as con:
        return [row[0] for row in con.execute(
            "SELECT DISTINCT h.care_site_source_value FROM visit_occurrence v "
            "JOIN care_site h ON h.care_site_id = v.care_site_id ORDER BY 1").fetchall()]


def stays(database: Path, months: list[str], codes: list[str]) -> int:
    return sum(sql_stays(database, code, month) for code in codes for month in months)


def pilotage_path(months: list[str]) -> str:
    return f"/pilotage?debut={months[-1]}&fin={months[0]}&cartes=nb_sejours"


# --------------------------------------------------------------------------- rendering (finding 5)


def test_the_sanitiser_keeps_content_and_removes_every_script_vector() -> None:
    from workbench.html import markdown_html, plain, sanitize

    cleaned = sanitize('<p class="x" data-value="3" style="color:red;background:url(http://e/)">ok</p>'
                       '<img src=x onerror=alert(1)><a href="javascript:alert(1)">a</a><script>alert(2)</script>'
                       '<iframe src="/"></iframe><svg onload=alert(3)></svg><form action="/logout"></form>')
    assert cleaned == '<p class="x" data-value="3" style="color:red">ok</p><img src="x"><a rel="noopener noreferrer">a</a>'
    assert markdown_html("**gras** <img src=x onerror=alert(1)>") == '<p><strong>gras</strong> <img src="x"></p>\n'
    assert plain("Nom <b onmouseover=alert(1)>gras</b> &lt;img src=x onerror=alert(1)&gt;") == \
        "Nom gras img src=x onerror=alert(1)"


def test_html_in_a_wiki_page_does_not_run_in_the_dictionary_nor_in_pilotage(page: Any, server: Server) -> None:
    sign_in(page, server, "/dictionnaire?indicateur=nb_sejours", "admin", "admin-demo")
    expect(page.locator(".wb-indicator")).to_contain_text("Nombre de séjours")
    expect(page.locator(".wb-wiki-body")).to_contain_text("Nombre de séjours")
    for where in (".wb-indicator", ".wb-wiki-body"):
        images = page.locator(f"{where} img")
        assert images.count() >= 1  # the markup is shown as harmless images: nothing was lost but the handlers
        assert all(images.nth(k).get_attribute("onerror") is None for k in range(images.count()))
    assert page.locator(".wb-wiki-body script").count() == 0
    cell = page.locator(".tabulator-cell", has_text="Création de l'indicateur").first
    cell.wait_for()
    assert "onerror" in cell.inner_text() and cell.locator("img").count() == 0  # a table cell shows markup as text
    page.goto(server.url + "/pilotage?cartes=nb_sejours&indicateur=nb_sejours")
    page.wait_for_function(BOKEH_IDLE)
    expect(kpi(page, "nb_sejours")).to_contain_text("Nombre de séjours")
    expect(page.locator(".wb-definition")).to_contain_text("Nombre de séjours")
    page.wait_for_timeout(0)  # let queued handlers fire, if any had survived
    assert page.evaluate("() => window.__xss === undefined")


def test_the_static_site_renders_the_same_page_without_script(served: dict[str, Path], tmp_path: Path) -> None:
    from workbench.indicators.dictionary import load_dictionary
    from workbench.wiki.site import markdown_to_html

    dictionary = load_dictionary(wiki=served["wiki"])
    rendered = markdown_to_html(dictionary.get("nb_sejours").body, dictionary)
    assert "Nombre de séjours" in rendered
    assert re.search(r"<[^>]*\bon\w+=", rendered) is None and "<script" not in rendered  # shown as text at most


def test_every_response_carries_the_csp_and_x_frame_options(page: Any, server: Server) -> None:
    sign_in(page, server, "/catalogue", "admin", "admin-demo")
    cookies = {"wb_session": session_of(page)}
    replies = {
        "login": http(server.url, "GET", "/login", client="127.0.4.1"),
        "redirect": http(server.url, "GET", "/pilotage", client="127.0.4.1"),
        "page": http(server.url, "GET", "/pilotage", client="127.0.4.1", cookies=cookies),
        "missing": http(server.url, "GET", "/absente", client="127.0.4.1", cookies=cookies),
        "static": http(server.url, "GET", "/static/js/bokeh.min.js", client="127.0.4.1"),
    }
    assert [replies[k].status for k in ("login", "redirect", "page", "missing", "static")] == [200, 302, 200, 404, 200]
    for name, reply in replies.items():
        headers = reply.headers
        policy = headers["Content-Security-Policy"]
        assert headers["X-Frame-Options"] == "DENY", name
        assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy, name
        script = next(part for part in policy.split("; ") if part.startswith("script-src"))
        assert "'unsafe-inline'" not in script, name
    nonce = re.search(r"'nonce-([^']+)'", replies["page"].headers["Content-Security-Policy"]).group(1)
    scripts = re.findall(r"<script[^>]*>", replies["page"].body)
    assert scripts and all(f'nonce="{nonce}"' in tag for tag in scripts)


def test_the_session_id_never_reaches_the_pages_scripts(page: Any, server: Server) -> None:
    """Bokeh copies cookies into each page's session token, which the page's scripts can read: the HttpOnly
    session id is kept out of it; only the page key is there, which no HTTP request or websocket accepts."""
    from bokeh.util.token import get_token_payload

    sign_in(page, server, "/catalogue", "pilotage", "pilotage-demo")
    cookies = {cookie["name"]: cookie["value"] for cookie in page.context.cookies()}
    assert {"wb_session", "wb_page"} <= set(cookies)
    body = http(server.url, "GET", "/catalogue", client="127.0.4.2", cookies=cookies).body
    (token,) = set(re.findall(r'"token":\s*"([^"]+)"', body))
    carried = get_token_payload(token)["cookies"]
    assert carried.get("wb_page") == cookies["wb_page"] and "wb_session" not in carried
    assert cookies["wb_session"] not in body
    with_page_key_only = http(server.url, "GET", "/catalogue", client="127.0.4.2", cookies={"wb_page": cookies["wb_page"]})
    assert sent_to_login(with_page_key_only)


# --------------------------------------------------------------------------- sessions (finding 8)


def test_login_without_its_csrf_token_is_refused(server: Server) -> None:
    assert post_login(server.url, "127.0.5.1", "admin", "admin-demo", csrf=False) == ("/login?error=formulaire", None)
    form = http(server.url, "GET", "/login", client="127.0.5.1")
    forged = http(server.url, "POST", "/login", client="127.0.5.1",
                  body={"username": "admin", "password": "admin-demo", "csrf": "x" * 43},
                  cookies={"wb_login_csrf": cookie_value(form.cookies["wb_login_csrf"])})
    assert (forged.status, forged.location, "wb_session" in forged.cookies) == (302, "/login?error=formulaire", False)
    assert post_login(server.url, "127.0.5.1", "admin", "admin-demo")[1]  # the real form logs in


def test_session_cookie_flags_over_http_and_through_a_trusted_tls_proxy(server: Server) -> None:
    plain_reply = login_reply(server, "127.0.5.2")
    flags = plain_reply.cookies["wb_session"].lower()
    assert "httponly" in flags and "samesite=lax" in flags and "secure" not in flags and "expires" not in flags
    form_cookie = http(server.url, "GET", "/login", client="127.0.5.2").cookies["wb_login_csrf"].lower()
    assert "httponly" in form_cookie and "samesite=strict" in form_cookie
    proxied = login_reply(server, PROXY, {"X-Forwarded-For": "10.9.0.1", "X-Forwarded-Proto": "https"})
    assert "; secure" in proxied.cookies["wb_session"].lower()
    assert proxied.headers["Strict-Transport-Security"].startswith("max-age=")
    spoofed = login_reply(server, "127.0.5.3", {"X-Forwarded-Proto": "https"})  # not a trusted proxy: ignored
    assert "secure" not in spoofed.cookies["wb_session"].lower()


def login_reply(server: Server, client: str, headers: dict[str, str] | None = None,
                certificate: Path | None = None) -> Any:
    form = http(server.url, "GET", "/login", client=client, headers=headers, certificate=certificate)
    token = re.search(r'name="csrf" value="([^"]+)"', form.body).group(1)
    return http(server.url, "POST", "/login", client=client, headers=headers, certificate=certificate,
                body={"username": "pilotage", "password": "pilotage-demo", "csrf": token},
                cookies={"wb_login_csrf": cookie_value(form.cookies["wb_login_csrf"])})


def test_serve_refuses_a_bad_proxy_address_or_half_a_tls_pair(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.commands.serve import configure_transport
    from workbench.errors import UserError

    # configure_transport writes the variable for the served process: set it through monkeypatch first so
    # that teardown restores the session's value (a leaked bad address broke the next server start)
    monkeypatch.setenv("WORKBENCH_TRUSTED_PROXIES", "")
    monkeypatch.delenv("WORKBENCH_TRUSTED_PROXIES")
    with pytest.raises(UserError, match="« pas-une-adresse »"):
        configure_transport(None, None, ["10.0.0.0/8", "pas-une-adresse"])
    monkeypatch.setenv("WORKBENCH_TRUSTED_PROXIES", "10.0.0.5")
    with pytest.raises(UserError, match="--tls-key"):
        configure_transport(tmp_path / "cert.pem", None, None)
    with pytest.raises(UserError, match="introuvable"):
        configure_transport(tmp_path / "cert.pem", tmp_path / "key.pem", None)
    assert configure_transport(None, None, None) is None


def test_served_over_tls_every_cookie_is_secure(served: dict[str, Path], tmp_path: Path) -> None:
    """`workbench serve --tls-cert --tls-key`: HTTPS, Secure cookies and HSTS, the CSP unchanged."""
    import subprocess

    certificate, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(certificate)],
                   check=True, capture_output=True)
    env = {"WORKBENCH_STATE": str(tmp_path / "state"), "WORKBENCH_WIKI": str(served["wiki"])}
    running = start_server(served["catalog"], "test_web_tls", env=env, access=served["access"],
                           args=("--tls-cert", str(certificate), "--tls-key", str(key)), scheme="https")
    try:
        reply = login_reply(running, "127.0.5.5", certificate=certificate)
        assert reply.status == 302
        for header in reply.cookies.values():
            assert "; secure" in header.lower() and "httponly" in header.lower()
        page = http(running.url, "GET", "/pilotage", client="127.0.5.5", certificate=certificate,
                    cookies={"wb_session": cookie_value(reply.cookies["wb_session"])})
        assert page.status == 200 and page.headers["Strict-Transport-Security"].startswith("max-age=")
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    finally:
        stop_server(running)


def test_logout_is_a_post_with_the_sessions_token_and_revokes_the_session(page: Any, server: Server) -> None:
    sign_in(page, server, "/catalogue", "pilotage", "pilotage-demo")
    stolen = {"wb_session": session_of(page)}
    assert http(server.url, "GET", "/catalogue", client="127.0.5.4", cookies=stolen).status == 200
    assert http(server.url, "GET", "/logout", client="127.0.5.4", cookies=stolen).status == 405  # GET refused
    assert http(server.url, "POST", "/logout", client="127.0.5.4", cookies=stolen, body={}).status == 403  # no token
    assert http(server.url, "GET", "/catalogue", client="127.0.5.4", cookies=stolen).status == 200  # still live
    page.locator(".wb-logout-button").click()  # the page's own form carries the token
    page.wait_for_url(lambda url: "/login?error=deconnecte" in url)
    expect(page.locator(".wb-login-error")).to_contain_text("déconnecté")
    replayed = http(server.url, "GET", "/catalogue", client="127.0.5.4", cookies=stolen)
    assert sent_to_login(replayed)  # revoked on the server
    page.goto(server.url + "/catalogue")
    expect(page.locator("form.wb-login")).to_be_visible()


def test_sessions_expire_after_inactivity_and_after_their_lifetime() -> None:
    from dashboards.auth import SessionStore

    now = [0.0]
    store = SessionStore(idle=lambda: 1800.0, lifetime=lambda: 43200.0, clock=lambda: now[0])
    first, _ = store.open("a")
    now[0] = 1799.0
    assert store.get(first).user == "a"  # used: renewed until 3599
    now[0] = 3598.0
    assert store.get(first) is not None
    now[0] = 5399.0
    assert store.get(first) is None  # 30 minutes without use
    second, page = store.open("b")
    assert store.by_page(page).user == "b"
    alive = []
    for _ in range(30):  # used every 25 minutes, it still ends 12 hours after login (43,200 s: between 28 and 29)
        now[0] += 1500.0
        alive.append(store.get(second) is not None)
    assert alive == [True] * 28 + [False] * 2
    third, page = store.open("c")
    assert store.revoke(third).user == "c" and store.get(third) is None and store.by_page(page) is None
    assert store.keep_users({"b"}) == [] and store.users() == set()


# --------------------------------------------------------------------------- throttling (finding 8)


def test_throttling_is_per_account_and_address_and_per_account(server: Server, served: dict[str, Path]) -> None:
    for attempt in range(5):
        assert post_login(server.url, "127.0.6.1", "dim.014", f"faux-{attempt}") == ("/login?error=identifiants", None)
    assert post_login(server.url, "127.0.6.1", "dim.014", "dim-demo") == ("/login?error=tentatives", None)
    assert post_login(server.url, "127.0.6.1", "entrepot", "entrepot-demo")[1]  # the address is not locked
    assert post_login(server.url, "127.0.6.2", "dim.014", "dim-demo")[1]  # nor the account elsewhere
    for attempt in range(20):  # a guesser spread over twenty addresses locks the account itself
        post_login(server.url, f"127.0.7.{attempt + 1}", "clinicien.cardio", "faux")
    assert post_login(server.url, "127.0.7.100", "clinicien.cardio", "cardio-demo") == ("/login?error=tentatives", None)


def test_forwarded_addresses_count_only_from_the_trusted_proxy(server: Server, served: dict[str, Path]) -> None:
    for attempt in range(5):  # a client inventing a new X-Forwarded-For each time is still one address
        post_login(server.url, "127.0.8.1", "admin", "faux", {"X-Forwarded-For": f"10.0.0.{attempt}"})
    assert post_login(server.url, "127.0.8.1", "admin", "admin-demo",
                      {"X-Forwarded-For": "10.0.0.99"}) == ("/login?error=tentatives", None)
    for attempt in range(5):  # behind the trusted proxy, the forwarded address is the client
        post_login(server.url, PROXY, "admin", "faux", {"X-Forwarded-For": "10.1.0.1"})
    assert post_login(server.url, PROXY, "admin", "admin-demo", {"X-Forwarded-For": "10.1.0.1"})[1] is None
    assert post_login(server.url, PROXY, "admin", "admin-demo", {"X-Forwarded-For": "10.1.0.2"})[1]
    assert post_login(server.url, PROXY, "admin", "admin-demo",  # a spoofed left part is the client's own words
                      {"X-Forwarded-For": "10.1.0.2, 10.1.0.1"})[1] is None
    clients = [e["client"] for e in events(served["state"], "login") if e.get("outcome") == "throttled"
               and e["user"] == "admin"]
    assert clients == ["127.0.8.1", "10.1.0.1", "10.1.0.1"]


# --------------------------------------------------------------------------- quality page (finding 9)


def test_the_first_quality_page_leaves_the_server_free_and_reruns_are_rate_limited(
        page: Any, server: Server, served: dict[str, Path]) -> None:
    from workbench.quality import ResultStore

    sign_in(page, server, "/catalogue", "entrepot", "entrepot-demo")
    page.goto(server.url + "/qualite")
    page.locator(".wb-quality-loading").wait_for()
    # while the checks run on a worker thread, the server answers others
    assert http(server.url, "GET", "/login", client="127.0.9.50").status == 200
    assert ResultStore(served["state"]).runs() == []  # ... and the run was not finished yet
    expect(page.locator(".wb-failed-count")).to_be_visible()
    assert len(ResultStore(served["state"]).runs()) == 1
    with page.expect_navigation():  # the page reloads once the rerun, on a worker thread, is stored
        page.locator(".wb-rerun button").click()
    assert len(ResultStore(served["state"]).runs()) == 2
    page.wait_for_function(BOKEH_IDLE)
    expect(page.locator(".wb-failed-count")).to_be_visible()
    page.locator(".wb-rerun button").click()
    expect(page.locator(".wb-rerun-message")).to_contain_text("relancés il y a moins de 5 minutes : réessayez dans")
    assert len(ResultStore(served["state"]).runs()) == 2


def test_rerun_wait_is_per_user() -> None:
    from dashboards.quality import RERUN_SECONDS, rerun_wait

    assert rerun_wait("u1", now=1e9) == 0.0
    assert rerun_wait("u1", now=1e9 + 60) == RERUN_SECONDS - 60
    assert rerun_wait("u2", now=1e9 + 60) == 0.0
    assert rerun_wait("u1", now=1e9 + RERUN_SECONDS) == 0.0


# --------------------------------------------------------------------------- live rights and data (finding 6)


def test_an_access_yaml_edited_while_serving_applies_without_restart(page: Any, browser: Any, server: Server,
                                                                    served: dict[str, Path]) -> None:
    database, months = served["database"], last_months(served["database"])
    sign_in(page, server, pilotage_path(months), *CLINICIAN)
    expect(kpi(page, "nb_sejours")).to_have_attribute("data-value", repr(float(stays(database, months, ["014"]))))
    other = next(code for code in hospitals(database) if code != "014")
    document = yaml.safe_load(served["access"].read_text(encoding="utf-8"))
    document["users"][CLINICIAN[0]]["perimeter"] = [other]
    served["access"].write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    page.reload()
    page.wait_for_function(BOKEH_IDLE)
    assert [text[-5:] for text in page.locator(".wb-hopital select option").all_inner_texts()] == [f"({other})"]
    expect(kpi(page, "nb_sejours")).to_have_attribute("data-value", repr(float(stays(database, months, [other]))))
    cookie = {"wb_session": session_of(page)}
    del document["users"][CLINICIAN[0]]
    served["access"].write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    replayed = http(server.url, "GET", "/pilotage", client="127.0.10.1", cookies=cookie)
    assert sent_to_login(replayed)  # removed: logged out at once
    page.reload()
    expect(page.locator("form.wb-login")).to_be_visible()


def test_a_replaced_warehouse_file_is_served_to_every_user_together(browser: Any, server: Server,
                                                                   served: dict[str, Path], vocab_dir: Path,
                                                                   tmp_path: Path) -> None:
    from workbench.demo import build_demo

    database, months = served["database"], last_months(served["database"])
    users = {"admin": ("admin", "admin-demo", hospitals(database)), "dim": ("dim.014", "dim-demo", ["014"])}
    pages = {}
    for key, (name, password, _) in users.items():
        pages[key] = browser.new_context(viewport={"width": 1500, "height": 1100}).new_page()
        pages[key].set_default_timeout(180_000)
        sign_in(pages[key], server, pilotage_path(months), name, password)
    try:
        for key, (_, _, codes) in users.items():
            expect(kpi(pages[key], "nb_sejours")).to_have_attribute(
                "data-value", repr(float(stays(database, months, codes))))
        build_demo(tmp_path / "new", patients=1_500, seed=7, vocab=vocab_dir, progress=False)
        os.replace(tmp_path / "new" / "eds.duckdb", database)  # what a loader does: a complete file moved in
        for key, (_, _, codes) in users.items():
            tab = pages[key]
            expect(tab.locator(".wb-data-updated")).to_be_visible()
            expect(tab.locator(".wb-data-updated")).to_contain_text("Données mises à jour")
            tab.reload()
            tab.wait_for_function(BOKEH_IDLE)
            expected = stays(database, months, codes)
            expect(kpi(tab, "nb_sejours")).to_have_attribute("data-value", repr(float(expected)))
            assert tab.locator(".wb-error").count() == 0
            assert "Connection already closed" not in tab.content()
    finally:
        for tab in pages.values():
            tab.context.close()
    assert not any("Connection already closed" in line for line in server.output)
