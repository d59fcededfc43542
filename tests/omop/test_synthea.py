"""The public Synthea27Nj export (tests/fixtures/omop-synthea27nj/), as a new user would point the workbench at it.

Expected values come from SQL that DuckDB runs directly on the CSV files of the zip, never from the workbench.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import workbench
from workbench.catalog import write_catalog
from workbench.indicators.dictionary import load_dictionary
from workbench.indicators.engine import compute
from workbench.indicators.result import OK, UNAVAILABLE

from .fixtures import SYNTHEA_ZIP

WIKI = Path(__file__).resolve().parents[2] / "wiki"
START, END = "1955-01", "2022-12"  # the whole export (visits from 1955-03-07 to 2022-10-10)


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory):
    """A DuckDB connection reading the zip's CSV files as text, for the independent SQL."""
    folder = tmp_path_factory.mktemp("synthea-raw")
    with zipfile.ZipFile(SYNTHEA_ZIP) as archive:
        archive.extractall(folder)
    con = duckdb.connect()

    def sql(query: str) -> list[tuple]:
        for name in ("PERSON", "VISIT_OCCURRENCE", "VISIT_DETAIL", "DEATH", "CONDITION_OCCURRENCE", "MEASUREMENT",
                     "PROCEDURE_OCCURRENCE", "DRUG_EXPOSURE"):
            query = query.replace(f"{{{name}}}", f"read_csv('{folder / (name + '.csv')}', all_varchar=true)")
        return con.execute(query).fetchall()

    yield sql
    con.close()


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    folder = tmp_path_factory.mktemp("synthea")
    failures = write_catalog(SYNTHEA_ZIP, "omop", folder / "catalog.yaml")
    return folder / "catalog.yaml", failures


@pytest.fixture(scope="module")
def wh(catalog):
    with workbench.open(catalog[0]) as opened:
        yield opened


def test_every_view_holds_the_rows_of_its_table(catalog, wh, raw) -> None:
    assert catalog[1] == []  # every value of the export reads as its CDM type
    assert wh.catalog.metadata["cdm_version"] == "5.4"
    expected = {
        "patients": raw("SELECT count(*) FROM {PERSON}")[0][0],
        "stays": raw("SELECT count(*) FROM {VISIT_OCCURRENCE}")[0][0],
        "unit_stays": raw("SELECT count(*) FROM {VISIT_DETAIL}")[0][0],
        "diagnoses": raw("SELECT count(*) FROM {CONDITION_OCCURRENCE}")[0][0],
        "procedures": raw("SELECT count(*) FROM {PROCEDURE_OCCURRENCE}")[0][0],
        "biology": raw("SELECT count(*) FROM {MEASUREMENT}")[0][0],
        "drugs": raw("SELECT count(*) FROM {DRUG_EXPOSURE}")[0][0],
        "care_sites": 0, "notes": 0,  # CARE_SITE.csv and NOTE.csv hold a header only
    }
    counted = {name: int(wh.execute(wh.view(name).count())) for name in wh.views}
    assert counted == expected
    types = wh.execute(wh.view("stays").group_by("visit_type").aggregate(n=wh.view("stays").count()))
    assert dict(zip(types.visit_type, types.n)) == dict(raw(
        "SELECT CASE visit_concept_id WHEN '9201' THEN 'hospitalisés' WHEN '9203' THEN 'urgence' "
        "WHEN '9202' THEN 'consultation externe' END, count(*) FROM {VISIT_OCCURRENCE} GROUP BY 1"))
    deaths = wh.execute(wh.view("patients").filter(wh.view("patients").death_date.notnull()).person_id)
    assert sorted(deaths) == sorted(int(r[0]) for r in raw("SELECT person_id FROM {DEATH}"))


def _numerator(wh, indicator: str) -> tuple[int, int | None]:
    page = load_dictionary(WIKI).get(indicator).definition
    result = compute(page, wh, start=START, end=END)
    assert result.status == OK, result.missing
    row = result.frame.iloc[0]
    denominator = None if pd.isna(row["denominator"]) else int(row["denominator"])
    return int(row["numerator"]), denominator


def test_indicators_equal_sql_on_the_raw_files(wh, raw) -> None:
    in_period = f"BETWEEN DATE '{START}-01' AND DATE '2022-12-31'"
    emergency = raw(f"SELECT count(*) FROM {{VISIT_OCCURRENCE}} WHERE visit_concept_id = '9203' "
                    f"AND visit_start_date::DATE {in_period}")[0][0]
    assert _numerator(wh, "passages_urgences") == (emergency, None)
    inpatient = raw(f"SELECT count(*) FROM {{VISIT_OCCURRENCE}} WHERE visit_concept_id = '9201' "
                    f"AND visit_end_date::DATE {in_period}")[0][0]
    assert _numerator(wh, "nb_sejours") == (inpatient, None)
    died = raw(f"SELECT count(*) FROM {{VISIT_OCCURRENCE}} v JOIN {{DEATH}} d USING (person_id) "
               f"WHERE v.visit_concept_id = '9201' AND v.visit_end_date::DATE {in_period} "
               f"AND d.death_date::DATE BETWEEN v.visit_start_date::DATE AND v.visit_end_date::DATE")[0][0]
    assert _numerator(wh, "mortalite_hospitaliere") == (died, inpatient)
    persons = raw(f"SELECT count(DISTINCT person_id) FROM {{VISIT_OCCURRENCE}} WHERE visit_concept_id = '9201' "
                  f"AND visit_start_date::DATE {in_period}")[0][0]
    assert _numerator(wh, "file_active") == (persons, None)  # version 1 (period before 2023): hospital stays


def test_every_indicator_gives_a_value_or_is_unavailable(wh) -> None:
    dictionary = load_dictionary(WIKI)
    statuses = {}
    for indicator in sorted(dictionary.indicators):
        statuses[indicator] = compute(dictionary.get(indicator).definition, wh, start=START, end=END).status
    assert set(statuses.values()) <= {OK, UNAVAILABLE}
    # the PMSI facts (GHM, ORBIS/AREM source) and AP-HP reference tables standard OMOP does not carry
    assert {i for i, s in statuses.items() if s == UNAVAILABLE} == {
        "case_mix", "exhaustivite_codage", "ip_dms", "rh30", "rh7", "taux_ambulatoire", "taux_occupation",
    }


def cli(folder: Path, *args: str) -> str:
    """`workbench ARGS` in a real process; it must exit 0."""
    done = subprocess.run([sys.executable, "-m", "workbench.cli", "--catalog", str(folder / "catalog.yaml"), *args],
                          cwd=folder, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, (args, done.stderr[-2000:])
    return done.stdout


def test_the_commands_a_new_user_tries(tmp_path: Path) -> None:
    init = cli(tmp_path, "catalog", "init", "--source", str(SYNTHEA_ZIP), "--flavour", "omop",
               "--out", str(tmp_path / "catalog.yaml"))
    assert init.strip() == f"{tmp_path / 'catalog.yaml'} : 39 tables (csv, omop, CDM 5.4)"
    listed = {row["name"]: row for row in json.loads(cli(tmp_path, "catalog", "list", "--format", "json"))}
    assert listed["person"]["rows"] == 28 and listed["care_site"]["rows"] == 0 and listed["stays"]["rows"] == 1791
    shown = json.loads(cli(tmp_path, "catalog", "show", "care_site", "--format", "json"))
    assert {c["name"]: c["type"] for c in shown["columns"]}["care_site_id"] == "int64" and shown["cast_failures"] == []
    assert "visit_occurrence" in cli(tmp_path, "catalog", "search", "visite")
    assert {i["id"] for i in json.loads(cli(tmp_path, "indicators", "list", "--format", "json"))} >= {"dms", "rh7"}
    cli(tmp_path, "indicators", "show", "passages_urgences")
    assert "Dictionnaire valide." in cli(tmp_path, "indicators", "check")
    assert "non disponible pour cette source" in cli(tmp_path, "indicators", "compute", "rh7", "--format", "csv")
    run = json.loads(cli(tmp_path, "quality", "run", "--format", "json"))
    statuses = {check["status"] for check in run["checks"]}
    assert "error" not in statuses and "passed" in statuses
    cli(tmp_path, "quality", "report", "--html", str(tmp_path / "quality.html"))
    assert (tmp_path / "quality.html").stat().st_size > 0
    cli(tmp_path, "wiki", "build", "--out", str(tmp_path / "site"))
    assert (tmp_path / "site" / "index.html").is_file()


def test_a_notebook_template_runs_on_the_export(catalog, tmp_path: Path) -> None:
    """`notebook run` of the indicator deep dive on the export: the template runs end to end (exit 0)."""
    folder = catalog[0].parent
    cli(folder, "notebook", "run", "indicator_deep_dive", "--param", "indicator=passages_urgences",
        "--out", str(tmp_path / "deep_dive.ipynb"))
    notebook = json.loads((tmp_path / "deep_dive.ipynb").read_text(encoding="utf-8"))
    errors = [o for cell in notebook["cells"] for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
