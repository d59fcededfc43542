"""`workbench indicators list|show|compute|check` run as a user runs them: in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.paths import PROJECT_ROOT

WIKI = PROJECT_ROOT / "wiki"


def run(*args: str, catalog: Path | None = None, wiki: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("WORKBENCH_CATALOG", "WORKBENCH_WIKI")}
    if catalog is not None:
        env["WORKBENCH_CATALOG"] = str(catalog)
    if wiki is not None:
        env["WORKBENCH_WIKI"] = str(wiki)
    env["COLUMNS"] = "200"
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def catalog(demo_dir: Path) -> Path:
    return demo_dir / "catalog.yaml"


def test_list_json_has_one_row_per_indicator_with_the_documented_keys() -> None:
    done = run("indicators", "list", "--format", "json", wiki=WIKI)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert len(rows) == 16
    assert all(set(row) == {"id", "name", "unit", "status", "referent", "version", "dimensions"} for row in rows)
    dms = next(row for row in rows if row["id"] == "dms")
    assert (dms["version"], dms["unit"], dms["referent"]) == ("3", "jours", "Référent Pilote DIM")  # the latest
    assert "hospital" in dms["dimensions"]


def test_list_reads_the_wiki_given_by_option_and_warns_about_broken_pages(tmp_path: Path) -> None:
    wiki = Path(shutil.copytree(WIKI, tmp_path / "wiki"))
    (wiki / "Indicateurs" / "rh7.md").write_text("---\nid: [rh7\n---\n", encoding="utf-8")
    done = run("indicators", "--wiki", str(wiki), "list", "--format", "json")
    assert done.returncode == 0
    assert len(json.loads(done.stdout)) == 15
    assert "Indicateurs/rh7, ligne" in done.stderr


def test_show_unknown_indicator_exits_1_with_close_matches() -> None:
    done = run("indicators", "show", "dsm", wiki=WIKI)
    assert done.returncode == 1
    assert "dsm" in done.stderr and "dms" in done.stderr
    assert "Traceback" not in done.stderr


def test_show_renders_definition_versions_lineage_and_value(catalog: Path) -> None:
    done = run("indicators", "show", "dms", catalog=catalog, wiki=WIKI)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for expected in ("Durée moyenne de séjour", "Numérateur", "Dénominateur", "Versions", "2015-01-01 → 2023-12-31",
                     "Python : dms", "Pièges", "Lignage", "visit_occurrence", "Valeur (période"):
        assert expected in out, expected


def test_compute_json_is_stamped_and_has_the_tidy_columns(catalog: Path) -> None:
    done = run("indicators", "compute", "nb_sejours", "--by", "hospital,month", "--from", "2024-01", "--to", "2024-03",
               "--format", "json", catalog=catalog, wiki=WIKI)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert {"catalogue", "version", "snapshot_id", "indicateur"} <= set(payload["metadata"])
    assert payload["metadata"]["indicateur"] == "nb_sejours"
    rows = payload["rows"]
    assert rows and {"hospital", "month", "value", "numerator", "denominator", "n_patients",
                     "indicator_version", "snapshot_id"} <= set(rows[0])
    assert {row["month"] for row in rows} <= {"2024-01", "2024-02", "2024-03"}


def test_compute_filter_keeps_only_the_requested_hospital(catalog: Path) -> None:
    first = run("indicators", "compute", "nb_sejours", "--by", "hospital", "--format", "json", catalog=catalog, wiki=WIKI)
    hospitals = [row["hospital"] for row in json.loads(first.stdout)["rows"]]
    assert len(hospitals) >= 2
    done = run("indicators", "compute", "nb_sejours", "--by", "hospital", "--filter", f"hospital={hospitals[0]}",
               "--format", "json", catalog=catalog, wiki=WIKI)
    assert [row["hospital"] for row in json.loads(done.stdout)["rows"]] == [hospitals[0]]


def test_compute_an_older_version_on_request(catalog: Path) -> None:
    done = run("indicators", "compute", "file_active", "--from", "2024-01", "--to", "2024-01", "--version", "1",
               "--format", "json", catalog=catalog, wiki=WIKI)
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert payload["metadata"]["version"] == "1"
    assert payload["rows"][0]["indicator_version"] == "1"


def test_compute_csv_starts_with_the_stamp(catalog: Path) -> None:
    done = run("indicators", "compute", "journees", "--by", "month", "--format", "csv", catalog=catalog, wiki=WIKI)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("# snapshot_id: ") for line in lines)
    header = next(line for line in lines if not line.startswith("#"))
    assert header.split(",")[:2] == ["month", "value"]


def test_compute_xlsx_has_the_metadata_sheet(catalog: Path, tmp_path: Path) -> None:
    import openpyxl

    out = tmp_path / "dms.xlsx"
    done = run("indicators", "compute", "dms", "--by", "hospital", "--format", "xlsx", "--out", str(out),
               catalog=catalog, wiki=WIKI)
    assert done.returncode == 0, done.stderr
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["Données", "Métadonnées"]
    stamp = {row[0]: row[1] for row in book["Métadonnées"].iter_rows(min_row=2, values_only=True)}
    assert stamp["indicateur"] == "dms" and stamp["version"] == "2" and stamp["snapshot_id"]


def test_compute_bad_dimension_exits_1(catalog: Path) -> None:
    done = run("indicators", "compute", "taux_occupation", "--by", "sex", catalog=catalog, wiki=WIKI)
    assert done.returncode == 1
    assert "sex" in done.stderr and "Traceback" not in done.stderr


def test_compute_malformed_filter_exits_1(catalog: Path) -> None:
    done = run("indicators", "compute", "nb_sejours", "--filter", "hospital", catalog=catalog, wiki=WIKI)
    assert done.returncode == 1
    assert "--filter" in done.stderr


def test_check_passes_on_the_shipped_wiki(catalog: Path) -> None:
    done = run("indicators", "check", catalog=catalog, wiki=WIKI)
    assert done.returncode == 0, done.stdout + done.stderr
    for title in ("a. Syntaxe", "b. Vues, colonnes", "c. Exécution"):
        assert title in done.stdout
    assert "Dictionnaire valide." in done.stdout


def test_check_exits_1_and_names_page_field_and_line_on_a_broken_wiki(catalog: Path, tmp_path: Path) -> None:
    wiki = Path(shutil.copytree(WIKI, tmp_path / "wiki"))
    page = wiki / "Indicateurs" / "journees.md"
    page.write_text(page.read_text(encoding="utf-8").replace("column: nights}", "column: nuits}"), encoding="utf-8")
    done = run("indicators", "check", "--wiki", str(wiki), "--format", "json", catalog=catalog)
    assert done.returncode == 1
    payload = json.loads(done.stdout)
    failed = [o for o in payload["outcomes"] if not o["ok"]]
    assert [(o["stage"], o["page"]) for o in failed] == [("noms", "Indicateurs/journees")]
    (error,) = failed[0]["errors"]
    assert error["field"] == "versions[0].computation.numerator.column"
    assert error["line"] == next(n for n, line in enumerate(page.read_text(encoding="utf-8").splitlines(), 1)
                                 if "column: nuits}" in line)


def test_show_without_a_warehouse_still_renders_the_page(tmp_path: Path) -> None:
    done = run("indicators", "show", "rh30", catalog=tmp_path / "absent.yaml", wiki=WIKI)
    assert done.returncode == 0, done.stderr
    assert "Réhospitalisations à 30 jours" in done.stdout
    assert "Valeur : indisponible (catalogue introuvable" in done.stdout


def test_list_table_for_humans() -> None:
    done = run("indicators", "list", wiki=WIKI)
    assert done.returncode == 0, done.stderr
    assert "Indicateurs du dictionnaire" in done.stdout and "taux_hospit_urgences" in done.stdout
