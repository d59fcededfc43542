"""The static dictionary, and « one definition, one number »: the site, `indicators show`
and `indicators compute` agree with each other and with a hand-written SQL query."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pytest

from workbench.indicators.dictionary import load_dictionary
from workbench.paths import PROJECT_ROOT
from workbench.wiki.site import build_site, page_file, resolve_links

WIKI = PROJECT_ROOT / "wiki"


def cli(*args: str, catalog: Path, cwd: Path = PROJECT_ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WORKBENCH_CATALOG": str(catalog), "WORKBENCH_WIKI": str(WIKI), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def catalog(demo_dir: Path) -> Path:
    return demo_dir / "catalog.yaml"


@pytest.fixture(scope="module")
def site(catalog: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site built by the real command with exact values (`--sans-politique`): on the 2,000-patient demo the
    référent's policy masks almost every hospital-month cell (tested in tests/access/test_surfaces.py)."""
    out = tmp_path_factory.mktemp("site") / "site"
    done = cli("wiki", "build", "--out", str(out), "--sans-politique", catalog=catalog)
    assert done.returncode == 0, done.stderr
    return out


class Cells(HTMLParser):
    """The cells of the live values table: (hospital, month) → (text shown, data-value)."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], tuple[str, str | None]] = {}
        self._open: tuple[str, str, str | None] | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "td" and "data-hospital" in found:
            self._open = (found["data-hospital"] or "", found["data-month"] or "", found.get("data-value"))
            self._text = ""

    def handle_data(self, data: str) -> None:
        if self._open:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._open:
            hospital, month, value = self._open
            self.cells[(hospital, month)] = (self._text.strip(), value)
            self._open = None


def french_number(text: str) -> float:
    """'1 234' / '5,43' / '12,5 %' → float (thousands separated by spaces, decimal comma)."""
    match = re.search(r"-?\d[\d\s\u202f\u00a0]*(?:,\d+)?", text)
    assert match, f"no number in {text!r}"
    return float(re.sub(r"[\s\u202f\u00a0]", "", match.group()).replace(",", "."))


def site_cells(site: Path, indicator: str) -> dict[tuple[str, str], tuple[str, str | None]]:
    parser = Cells()
    parser.feed((site / page_file(f"Indicateurs/{indicator}")).read_text(encoding="utf-8"))
    return parser.cells


def warehouse_file(demo_dir: Path) -> Path:
    files = sorted(demo_dir.glob("*.duckdb"))
    assert len(files) == 1, files
    return files[0]


def sql_nb_sejours(database: Path, hospital: str, month: str) -> int:
    """nb_sejours by hand: current RSS (full, ambulatory or séance) of the hospital ending in the month."""
    query = """
        SELECT count(*) FROM visit_occurrence v
        JOIN care_site h ON h.care_site_id = v.care_site_id
        LEFT JOIN (SELECT visit_occurrence_id, max(drg_source_value) AS ghm FROM cost GROUP BY 1) c
               ON c.visit_occurrence_id = v.visit_occurrence_id
        WHERE coalesce(trim(v.row_status_source_value), '') <> 'supprimé'
          AND h.care_site_source_value = ?
          AND strftime(v.visit_end_datetime, '%Y-%m') = ?
          AND (v.visit_source_value IN ('hospitalisés', 'hospitalisation incomplète') OR substr(c.ghm, 1, 2) = '28')
    """
    with duckdb.connect(str(database), read_only=True) as con:
        return int(con.execute(query, [hospital, month]).fetchone()[0])


# --------------------------------------------------------------------------- one definition, one number


def test_site_show_compute_and_sql_give_the_same_nb_sejours(site: Path, catalog: Path, demo_dir: Path) -> None:
    cells = site_cells(site, "nb_sejours")
    assert len(cells) >= 12, "the live table covers hospitals × 12 months"
    months = sorted({month for _, month in cells})
    assert len(months) == 12
    (hospital, month), (shown, exact) = max(
        ((key, cell) for key, cell in cells.items() if key[1] == months[-2] and cell[1] is not None),
        key=lambda item: float(item[1][1]),
    )
    on_site = french_number(shown)
    assert on_site == float(exact) > 0

    computed = cli("indicators", "compute", "nb_sejours", "--by", "hospital,month", "--from", month, "--to", month,
                   "--filter", f"hospital={hospital}", "--format", "json", catalog=catalog)
    assert computed.returncode == 0, computed.stderr
    (row,) = json.loads(computed.stdout)["rows"]
    assert (row["hospital"], row["month"]) == (hospital, month)

    shown_cli = cli("indicators", "show", "nb_sejours", "--from", month, "--to", month,
                    "--filter", f"hospital={hospital}", catalog=catalog)
    assert shown_cli.returncode == 0, shown_cli.stderr
    value_line = re.search(r"Valeur \(période [^)]*\) : (.+)", shown_cli.stdout)
    assert value_line, shown_cli.stdout

    by_hand = sql_nb_sejours(warehouse_file(demo_dir), hospital, month)
    assert on_site == row["value"] == french_number(value_line.group(1)) == by_hand


def test_site_and_compute_agree_on_a_ratio(site: Path, catalog: Path) -> None:
    cells = site_cells(site, "dms")
    (hospital, month), (shown, exact) = next((k, c) for k, c in sorted(cells.items()) if c[1] is not None)
    computed = cli("indicators", "compute", "dms", "--by", "hospital,month", "--from", month, "--to", month,
                   "--filter", f"hospital={hospital}", "--format", "json", catalog=catalog)
    (row,) = json.loads(computed.stdout)["rows"]
    assert float(exact) == pytest.approx(row["value"], rel=1e-12)
    assert french_number(shown) == pytest.approx(row["value"], abs=0.005)


# --------------------------------------------------------------------------- the site itself


def test_every_page_is_written_with_the_sidebar_and_links_resolved(site: Path) -> None:
    dictionary = load_dictionary(WIKI)
    for name in dictionary.all_pages():
        if name == "_Sidebar":
            continue
        html = (site / page_file(name)).read_text(encoding="utf-8")
        assert "[[" not in html, f"{name}: unresolved link"
        assert "page absente" not in html, name
        assert 'href="Indicateurs-ip_dms.html"' in html, f"{name}: sidebar missing"
        for target in re.findall(r'href="([^"#:]+\.html)"', html):
            assert (site / target).exists(), f"{name} → {target}"
        assert 'href="http' not in html and 'src="http' not in html, "no CDN, no network"


def test_indicator_page_shows_definition_versions_lineage_and_referent(site: Path) -> None:
    html = (site / "Indicateurs-dms.html").read_text(encoding="utf-8")
    for expected in ("Durée moyenne de séjour (DMS)", "Dénominateur", "2015-01-01 → 2023-12-31", "2024-01-01 → 2026-12-31", "2027-01-01 → …",
                     "dms_open_stays", "Lignage", "visit_occurrence", "Valeurs des 12 derniers mois",
                     'href="Referents.html">Référent Pilote DIM</a>', "Pièges connus"):
        assert expected in html, expected


def test_index_has_a_client_side_search_over_every_indicator(site: Path) -> None:
    index = (site / "index.html").read_text(encoding="utf-8")
    assert 'id="recherche"' in index and 'src="search.js"' in index and 'src="search-index.js"' in index
    text = (site / "search-index.js").read_text(encoding="utf-8")
    entries = json.loads(text.removeprefix("window.WIKI_INDEX = ").rstrip().removesuffix(";"))
    indicators = {e["id"]: e for e in entries if e["kind"] == "indicateur"}
    assert len(indicators) == 16
    assert indicators["dms"]["url"] == "Indicateurs-dms.html"
    assert "journées" in indicators["dms"]["summary"]
    assert {"guide", "compte rendu"} <= {e["kind"] for e in entries}


def test_referents_page_lists_the_indicators_of_each_referent(site: Path) -> None:
    html = (site / "Referents.html").read_text(encoding="utf-8")
    row = re.search(r"<tr><td>Référent Urgences</td>.*?</tr>", html).group()
    assert row.count('href="Indicateurs-') == 3


def test_site_without_warehouse_still_documents_everything(tmp_path: Path) -> None:
    written = build_site(load_dictionary(WIKI), tmp_path / "site")
    assert len(written) == 26  # 16 indicators + Home + Referents + 5 guide pages + 3 minutes
    assert "Entrepôt non disponible" in (tmp_path / "site" / "Indicateurs-rh7.html").read_text(encoding="utf-8")


def test_links_use_the_label_and_mark_missing_pages() -> None:
    dictionary = load_dictionary(WIKI)
    text = resolve_links("[[Durée|dms]] et [[Page inconnue]]", dictionary)
    assert text == "[Durée](Indicateurs-dms.html) et *Page inconnue (page absente)*"


@pytest.mark.browser
def test_search_box_finds_indicators_from_a_file_url_without_server(site: Path, browser) -> None:
    page = browser.new_page()
    try:
        page.goto((site / "index.html").as_uri())
        page.fill("#recherche", "duree sejour")  # accents folded: « durée », « séjour »
        titles = page.locator("#resultats li a").all_inner_texts()
        assert titles[:1] == ["Durée moyenne de séjour (DMS)"]
        page.fill("#recherche", "urgences")
        titles = page.locator("#resultats li a").all_inner_texts()
        assert {"Passages aux urgences", "Taux d'hospitalisation après passage aux urgences",
                "Part des entrées par les urgences"} <= set(titles)
        page.locator("#resultats li a", has_text="Passages aux urgences").first.click()
        assert page.url.endswith("/Indicateurs-passages_urgences.html")
        assert page.locator("h1").inner_text() == "Passages aux urgences"
    finally:
        page.close()


def test_dms_quality_badge_is_the_same_on_the_site_and_in_show(site: Path, catalog: Path, demo_dir: Path) -> None:
    """The badge covers the figure's own period: the 12 months ending at the extraction month.

    The period is derived here from `_metadata` by hand, and the expected badge comes
    from `quality_status` on exactly those dates; both surfaces must show it.
    """
    import datetime as dt

    import workbench
    from workbench.quality.status import BADGE_LABELS, quality_status

    with duckdb.connect(str(demo_dir / "eds.duckdb"), read_only=True) as con:
        extraction = con.execute("SELECT extraction_date FROM _metadata").fetchone()[0]
    first_index = extraction.year * 12 + extraction.month - 1 - 11
    start = dt.date(first_index // 12, first_index % 12 + 1, 1)
    next_month = (extraction.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    end = next_month - dt.timedelta(days=1)
    definition = load_dictionary(WIKI).get("dms").definition
    expected = quality_status(workbench.open(catalog), definition, start, end)

    page = (site / page_file("Indicateurs/dms")).read_text(encoding="utf-8")
    badge = re.search(r'class="qualite" data-quality="(\w+)"', page)
    assert badge and badge.group(1) == expected.status
    shown = cli("indicators", "show", "dms", catalog=catalog)
    assert shown.returncode == 0, shown.stderr
    assert f"Qualité des données d'entrée : {BADGE_LABELS[expected.status]}" in shown.stdout
    for failing in expected.failing:
        assert failing.id in shown.stdout and failing.id in page
