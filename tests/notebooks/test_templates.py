"""Every template executed by papermill on the demo warehouse, its figures checked by independent SQL.

Each template runs once (module-scoped fixtures, one kernel at a time) through
the real ``workbench notebook run``. The figures are read back from the
executed notebook (the outputs ``analysis.record`` displays, copied into the
notebook's metadata) and compared with SQL written by hand on the raw tables
of the DuckDB file, following the rules of docs/architecture.md (soft-deleted
rows out, stay categories, discharge month), never with the library's output.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any, Callable

import nbformat
import pytest

from workbench import paths
from workbench.notebooks import load_template
from workbench.records import read_records

from .helpers import TEMPLATES, WIKI, workbench

SQL = Callable[..., list[tuple]]

CURRENT = "coalesce(trim(row_status_source_value), '') <> 'supprimé'"
GHM = "(SELECT visit_occurrence_id AS vid, max(drg_source_value) AS ghm FROM cost GROUP BY 1)"
HOSPITAL_OF_VISIT = "(SELECT care_site_id AS sid, care_site_source_value AS hospital FROM care_site)"
RSS = (
    "(v.visit_source_value IN ('hospitalisés', 'hospitalisation incomplète') OR coalesce(substr(g.ghm, 1, 2), '') = '28')"
)
"""Stays that make a PMSI summary: full hospitalisation, ambulatory or séance (CMD 28)."""


def run_template(tmp: Path, catalog: Path, name: str, *params: str, html: bool = False) -> nbformat.NotebookNode:
    out = tmp / f"{name}.ipynb"
    args = ["notebook", "run", name, "--out", str(out), "--wiki", str(WIKI)]
    for param in params:
        args += ["--param", param]
    if html:
        args.append("--html")
    done = workbench(*args, catalog=catalog)
    assert done.returncode == 0, done.stderr[-3000:]
    return nbformat.read(out, as_version=4)


def results(notebook: nbformat.NotebookNode) -> dict[str, Any]:
    recorded = read_records(notebook)
    assert notebook.metadata.workbench.results == recorded
    return recorded


@pytest.fixture(scope="module")
def extraction(sql: SQL) -> dt.date:
    """The warehouse's 'now', read from `_metadata` by SQL."""
    value = sql("SELECT max(extraction_date) FROM _metadata")[0][0]
    return value.date() if isinstance(value, dt.datetime) else value


@pytest.fixture(scope="module")
def year(extraction: dt.date) -> int:
    return extraction.year - 1


def month_shift(day: dt.date, months: int) -> str:
    index = day.year * 12 + day.month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def check_no_error(notebook: nbformat.NotebookNode) -> None:
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors


# --------------------------------------------------------------------------- pmsi_casemix


@pytest.fixture(scope="module")
def casemix(tmp_path_factory, demo_catalog: Path, year: int) -> nbformat.NotebookNode:
    return run_template(tmp_path_factory.mktemp("casemix"), demo_catalog, "pmsi_casemix", f"year={year}", html=True)


def _casemix_sql(year: int, select: str, group: str = "") -> str:
    return (
        f"SELECT {select} FROM visit_occurrence v JOIN {GHM} g ON g.vid = v.visit_occurrence_id "
        f"WHERE {CURRENT.replace('row_status', 'v.row_status')} AND v.stay_source_value = 'MCO' "
        f"AND v.visit_end_datetime IS NOT NULL AND year(v.visit_end_datetime) = {year} "
        f"AND g.ghm IS NOT NULL AND {RSS} {group}"
    )


def test_casemix_total_and_cmd_match_sql(casemix, sql: SQL, year: int):
    found = results(casemix)
    total = sql(_casemix_sql(year, "count(*)"))[0][0]
    assert total > 100
    assert found["total_sejours"] == total
    by_cmd = dict(sql(_casemix_sql(year, "substr(g.ghm, 1, 2), count(*)", "GROUP BY 1")))
    assert found["sejours_par_cmd"] == by_cmd
    assert sum(row["sejours"] for row in found["case_mix"]) == total
    # the dictionary's case_mix indicator, computed by the engine in the notebook, gives the same numbers
    engine = {row["cmd"]: (row["numerator"], row["denominator"]) for row in found["case_mix_indicateur"]}
    assert engine == {cmd: (n, total) for cmd, n in by_cmd.items()}


def test_casemix_by_hospital_matches_sql(casemix, sql: SQL, year: int):
    query = _casemix_sql(year, "h.hospital, count(*)", "GROUP BY 1").replace(
        "JOIN " + GHM + " g ON g.vid = v.visit_occurrence_id",
        f"JOIN {GHM} g ON g.vid = v.visit_occurrence_id JOIN {HOSPITAL_OF_VISIT} h ON h.sid = v.care_site_id",
    )
    assert results(casemix)["sejours_par_hopital"] == dict(sql(query))


def test_casemix_top_principal_diagnoses_match_sql(casemix, sql: SQL, year: int):
    stays = _casemix_sql(year, "v.visit_occurrence_id")
    top = sql(
        f"SELECT condition_source_value, count(DISTINCT visit_occurrence_id) AS n FROM condition_occurrence "
        f"WHERE {CURRENT} AND condition_status_source_value = 'DP' AND cdm_source = 'AREM' "
        f"AND visit_occurrence_id IN ({stays}) GROUP BY 1 ORDER BY n DESC, 1 LIMIT 15"
    )
    found = results(casemix)["top_dp"]
    assert [(r["code"], r["sejours"]) for r in found] == top
    labels = sql(
        "SELECT code, long FROM read_csv(?, all_varchar = true)", str(paths.vocab_path() / "cim10_fr.csv.gz")
    )
    assert {r["code"]: r["libelle"] for r in found} == {code: label for code, label in labels if code in dict(top)}


def test_casemix_length_of_stay_classes_match_sql(casemix, sql: SQL, year: int):
    nights = "date_diff('day', v.visit_start_datetime::date, v.visit_end_datetime::date)"
    rows = dict(sql(_casemix_sql(year, f"{nights} AS n, count(*)", f"AND {nights} >= 0 GROUP BY 1")))
    expected = {
        "0 nuit": rows.get(0, 0),
        "1 nuit": rows.get(1, 0),
        "2-3 nuits": sum(c for n, c in rows.items() if 2 <= n <= 3),
        "4-7 nuits": sum(c for n, c in rows.items() if 4 <= n <= 7),
        "8-14 nuits": sum(c for n, c in rows.items() if 8 <= n <= 14),
        "15-30 nuits": sum(c for n, c in rows.items() if 15 <= n <= 30),
        "> 30 nuits": sum(c for n, c in rows.items() if n > 30),
    }
    assert {r["classe"]: r["sejours"] for r in results(casemix)["durees"]} == expected


def test_run_metadata_and_html_report(casemix, demo_catalog: Path, sql: SQL, year: int):
    stamp = casemix.metadata.workbench
    assert stamp.template == "pmsi_casemix"
    assert stamp.template_sha256 == load_template(TEMPLATES / "pmsi_casemix.py").sha256
    assert stamp.catalog == str(demo_catalog.resolve())
    assert stamp.parameters["year"] == year
    assert stamp.snapshot_id == sql("SELECT max(snapshot_id) FROM _metadata")[0][0]
    assert casemix.metadata.papermill.parameters["year"] == year
    assert casemix.metadata.kernelspec.name == "eds-workbench"
    check_no_error(casemix)
    html = Path(casemix.metadata.papermill.output_path).with_suffix(".html").read_text(encoding="utf-8")
    assert "Activité PMSI MCO et case-mix" in html and "Durées de séjour" in html
    assert "Séjours par CMD" in html  # the hvplot figure's title, embedded as Bokeh JSON
    assert "cdn.bokeh.org" not in html  # BokehJS travels inside the report: it opens offline


# --------------------------------------------------------------------------- coding_lag


@pytest.fixture(scope="module")
def coding(tmp_path_factory, demo_catalog: Path, extraction: dt.date) -> nbformat.NotebookNode:
    return run_template(
        tmp_path_factory.mktemp("coding"), demo_catalog, "coding_lag",
        f"start={month_shift(extraction, -11)}", f"end={month_shift(extraction, 0)}",
    )


def test_coding_lag_at_m1_m2_m3_matches_sql(coding, sql: SQL, extraction: dt.date):
    horizons = {row["horizon"]: row for row in results(coding)["horizons"]}
    assert set(horizons) == {"M+1", "M+2", "M+3"}
    for n in (1, 2, 3):
        month = month_shift(extraction, -n)
        assert horizons[f"M+{n}"]["mois"] == month
        stays = (
            f"SELECT v.visit_occurrence_id FROM visit_occurrence v LEFT JOIN {GHM} g ON g.vid = v.visit_occurrence_id "
            f"WHERE {CURRENT.replace('row_status', 'v.row_status')} AND v.stay_source_value = 'MCO' AND {RSS} "
            f"AND v.visit_end_datetime IS NOT NULL AND strftime(v.visit_end_datetime, '%Y-%m') = '{month}'"
        )
        total = sql(f"SELECT count(*) FROM ({stays})")[0][0]
        assert total > 0
        for source in ("ORBIS", "AREM"):
            coded = sql(
                f"SELECT count(*) FROM ({stays}) s WHERE s.visit_occurrence_id IN (SELECT visit_occurrence_id "
                f"FROM condition_occurrence WHERE {CURRENT} AND condition_status_source_value = 'DP' "
                f"AND cdm_source = '{source}')"
            )[0][0]
            assert horizons[f"M+{n}"][source] == pytest.approx(round(coded / total * 100, 1), abs=0.051)
    # the AREM lag the demo injects: the last month read at M+1 is less coded in AREM than in ORBIS
    assert horizons["M+1"]["AREM"] < horizons["M+1"]["ORBIS"]
    check_no_error(coding)


# --------------------------------------------------------------------------- patient_pathways


@pytest.fixture(scope="module")
def pathways(tmp_path_factory, demo_catalog: Path, year: int) -> nbformat.NotebookNode:
    return run_template(
        tmp_path_factory.mktemp("pathways"), demo_catalog, "patient_pathways",
        f"start={year}-01", f"end={year}-12", "level=service",
    )


FULL_STAYS = (
    "SELECT v.visit_occurrence_id FROM visit_occurrence v LEFT JOIN {ghm} g ON g.vid = v.visit_occurrence_id "
    "WHERE {current} AND v.visit_source_value IN ('hospitalisés', 'hospitalisation incomplète') "
    "AND coalesce(substr(g.ghm, 1, 2), '') <> '28' AND v.visit_end_datetime IS NOT NULL "
    "AND date_diff('day', v.visit_start_datetime::date, v.visit_end_datetime::date) >= 1 "
    "AND year(v.visit_end_datetime) = {year}"
)


def test_pathways_transfers_match_sql(pathways, sql: SQL, year: int):
    stays = FULL_STAYS.format(ghm=GHM, current=CURRENT.replace("row_status", "v.row_status"), year=year)
    service_of = (
        "SELECT f.fact_id_1 AS uf_id, p.care_site_source_value AS service FROM fact_relationship f "
        "JOIN care_site p ON p.care_site_id = f.fact_id_2 "
        "WHERE f.relationship_concept_id = 46233688 AND p.care_site_type_source_value = 'Service/Département'"
    )
    steps = sql(
        f"WITH m AS (SELECT d.visit_occurrence_id AS vid, d.visit_detail_id AS did, d.visit_detail_start_datetime AS t, "
        f"coalesce(s.service, 'inconnu') AS unit FROM visit_detail d LEFT JOIN ({service_of}) s ON s.uf_id = d.care_site_id "
        f"WHERE {CURRENT.replace('row_status', 'd.row_status')} AND d.visit_detail_type_source_value = 'PASS UF' "
        f"AND d.visit_occurrence_id IN ({stays})), "
        f"k AS (SELECT vid, unit, lag(unit) OVER (PARTITION BY vid ORDER BY t, did) AS prev FROM m) "
        f"SELECT n - 1 AS transfers, count(*) FROM (SELECT vid, count(*) AS n FROM k "
        f"WHERE prev IS NULL OR prev <> unit GROUP BY vid) GROUP BY 1"
    )
    found = results(pathways)
    assert {r["transferts"]: r["sejours"] for r in found["transferts"]} == dict(steps)
    assert found["sejours_avec_mouvements"] == sum(n for _, n in steps) > 0
    top = found["parcours_frequents"]
    assert top == sorted(top, key=lambda r: (-r["sejours"], r["parcours"]))
    assert all(r["etapes"] == len(r["parcours"].split(" → ")) for r in top)


def test_pathways_emergency_visits_match_sql(pathways, sql: SQL, year: int):
    expected = dict(sql(
        f"SELECT strftime(visit_start_datetime, '%Y-%m'), count(*) FROM visit_occurrence WHERE {CURRENT} "
        f"AND visit_source_value = 'urgence' AND year(visit_start_datetime) = {year} GROUP BY 1"
    ))
    found = {r["mois"]: r["passages_urgences"] for r in results(pathways)["urgences"] if r["passages_urgences"]}
    assert found == expected
    check_no_error(pathways)


# --------------------------------------------------------------------------- cohort_profile


@pytest.fixture(scope="module")
def hospital(sql: SQL) -> str:
    """The hospital with the most stays, so the cohort below is not empty."""
    return sql(
        "SELECT c.care_site_source_value FROM visit_occurrence v JOIN care_site c ON c.care_site_id = v.care_site_id "
        "WHERE c.care_site_type_source_value = 'Hôpital' GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
    )[0][0]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory, demo_catalog: Path, year: int, hospital: str) -> nbformat.NotebookNode:
    return run_template(
        tmp_path_factory.mktemp("cohort"), demo_catalog, "cohort_profile",
        f"start={year - 1}-01", f"end={year}-12", "cim10=E11,I10", f"care_site={hospital}",
    )


def _cohort_stays(year: int, hospital: str) -> str:
    """Stays starting in the two years, at the hospital, with a diagnosis coded E11* or I10*."""
    return (
        f"SELECT v.* FROM visit_occurrence v JOIN {HOSPITAL_OF_VISIT} h ON h.sid = v.care_site_id "
        f"WHERE {CURRENT.replace('row_status', 'v.row_status')} AND h.hospital = '{hospital}' "
        f"AND v.visit_start_datetime >= DATE '{year - 1}-01-01' AND v.visit_start_datetime < DATE '{year + 1}-01-01' "
        f"AND v.visit_occurrence_id IN (SELECT visit_occurrence_id FROM condition_occurrence WHERE {CURRENT} "
        f"AND (condition_source_value LIKE 'E11%' OR condition_source_value LIKE 'I10%'))"
    )


def test_cohort_counts_match_sql(cohort, sql: SQL, year: int, hospital: str):
    stays = _cohort_stays(year, hospital)
    patients, count = sql(f"SELECT count(DISTINCT person_id), count(*) FROM ({stays})")[0]
    found = results(cohort)
    assert patients > 10
    assert (found["patients"], found["sejours"]) == (patients, count)
    assert found["types_de_visite"] == dict(sql(f"SELECT visit_source_value, count(*) FROM ({stays}) GROUP BY 1"))
    check_no_error(cohort)


def test_cohort_age_pyramid_matches_sql(cohort, sql: SQL, year: int, hospital: str):
    """Age in whole years at the first selected stay, ten-year classes, known sex only."""
    rows = sql(
        f"WITH s AS (SELECT person_id, visit_start_datetime::date AS d, row_number() OVER "
        f"(PARTITION BY person_id ORDER BY visit_start_datetime) AS k FROM ({_cohort_stays(year, hospital)})), "
        f"p AS (SELECT s.person_id, CASE WHEN lower(trim(g.gender_source_value)) IN ('m', 'male', 'h', 'homme') THEN 'M' "
        f"WHEN lower(trim(g.gender_source_value)) IN ('f', 'female', 'femme') THEN 'F' END AS sex, "
        f"year(s.d) - year(g.birth_datetime) - CASE WHEN month(s.d) * 100 + day(s.d) < "
        f"month(g.birth_datetime) * 100 + day(g.birth_datetime) THEN 1 ELSE 0 END AS age "
        f"FROM s JOIN person g ON g.person_id = s.person_id WHERE s.k = 1) "
        f"SELECT CASE WHEN age >= 90 THEN '90+' ELSE (age // 10 * 10)::VARCHAR || '-' || (age // 10 * 10 + 9)::VARCHAR END, "
        f"sex, count(*) FROM p WHERE sex IS NOT NULL AND age >= 0 GROUP BY 1, 2"
    )
    expected = {(band, sex): n for band, sex, n in rows}
    pyramid = results(cohort)["pyramide"]
    assert {(r["classe"], r["sexe"]): r["patients"] for r in pyramid if r["patients"]} == expected
    assert all(r["effectif"] == (-r["patients"] if r["sexe"] == "M" else r["patients"]) for r in pyramid)


def test_cohort_biology_matches_sql(cohort, sql: SQL, year: int, hospital: str):
    ranked = sql(
        f"SELECT l.concept_code, m.unit_source_value, count(*) AS n, quantile_cont(m.value_as_number, 0.5) "
        f"FROM measurement m LEFT JOIN concept_relationship r ON r.concept_id_1 = m.measurement_source_concept_id "
        f"AND r.relationship_id = 'Maps to' LEFT JOIN concept l ON l.concept_id = r.concept_id_2 "
        f"WHERE {CURRENT.replace('row_status', 'm.row_status')} AND m.value_as_number IS NOT NULL "
        f"AND m.visit_occurrence_id IN (SELECT visit_occurrence_id FROM ({_cohort_stays(year, hospital)})) "
        f"GROUP BY 1, 2 ORDER BY n DESC, 1"
    )
    biology = results(cohort)["biologie"]
    assert ranked and biology
    top = biology[0]
    assert (top["loinc"], top["unit"], top["mesures"]) == ranked[0][:3]
    assert top["mediane"] == pytest.approx(ranked[0][3])
    assert [r["mesures"] for r in biology] == [n for _, _, n, _ in ranked[: len(biology)]]


# --------------------------------------------------------------------------- indicator_deep_dive


@pytest.fixture(scope="module")
def deep_dive(tmp_path_factory, demo_catalog: Path, year: int) -> nbformat.NotebookNode:
    return run_template(
        tmp_path_factory.mktemp("deep"), demo_catalog, "indicator_deep_dive",
        "indicator=nb_sejours", "by=month,hospital", f"start={year}-01", f"end={year}-12",
    )


def test_deep_dive_value_matches_sql(deep_dive, sql: SQL, year: int):
    expected = {
        (month, hospital): n
        for month, hospital, n in sql(
            f"SELECT strftime(v.visit_end_datetime, '%Y-%m'), h.hospital, count(*) FROM visit_occurrence v "
            f"JOIN {HOSPITAL_OF_VISIT} h ON h.sid = v.care_site_id LEFT JOIN {GHM} g ON g.vid = v.visit_occurrence_id "
            f"WHERE {CURRENT.replace('row_status', 'v.row_status')} AND {RSS} AND v.visit_end_datetime IS NOT NULL "
            f"AND year(v.visit_end_datetime) = {year} GROUP BY 1, 2"
        )
    }
    value = results(deep_dive)["valeur"]
    assert {(r["month"], r["hospital"]): r["value"] for r in value} == expected
    assert {r["indicator_version"] for r in value} == {"1"}
    lineage = results(deep_dive)["lignage"]
    assert "visit_occurrence" in lineage


def test_deep_dive_shows_definition_sql_and_lineage(deep_dive):
    text = json.dumps([c.get("outputs", []) for c in deep_dive.cells], ensure_ascii=False)
    assert "Nombre de séjours" in text and "## Définition" in text
    assert "SELECT" in text and "visit_occurrence" in text
    check_no_error(deep_dive)


# --------------------------------------------------------------------------- data_quality


@pytest.fixture(scope="module")
def quality(tmp_path_factory, demo_catalog: Path) -> nbformat.NotebookNode:
    """Default period: the 24 months ending with the extraction month."""
    return run_template(tmp_path_factory.mktemp("quality"), demo_catalog, "data_quality")


def test_quality_monthly_volumes_match_sql(quality, sql: SQL, extraction: dt.date):
    first, last = month_shift(extraction, -23), month_shift(extraction, 0)
    in_period = "strftime({column}, '%Y-%m') BETWEEN '" + first + "' AND '" + last + "'"
    expected = {
        f"{hospital}|{month}": n
        for hospital, month, n in sql(
            f"SELECT h.hospital, strftime(v.visit_start_datetime, '%Y-%m'), count(*) FROM visit_occurrence v "
            f"JOIN {HOSPITAL_OF_VISIT} h ON h.sid = v.care_site_id WHERE {CURRENT.replace('row_status', 'v.row_status')} "
            f"AND {in_period.format(column='v.visit_start_datetime')} GROUP BY 1, 2"
        )
    }
    found = results(quality)
    assert found["sejours_par_hopital_mois"] == expected
    diagnoses = sql(
        f"SELECT count(*) FROM condition_occurrence WHERE {CURRENT} "
        f"AND {in_period.format(column='condition_start_datetime')}"
    )[0][0]
    assert found["lignes_par_table"]["diagnoses"] == diagnoses
    check_no_error(quality)


def test_quality_report_finds_the_stopped_feed(quality, sql: SQL, demo_dir: Path):
    """The demo's `feed_stopped` flaw: a hospital without any stay in its last months."""
    flaws = json.loads((Path(demo_dir) / "flaws.json").read_text(encoding="utf-8"))["flaws"]
    stopped = next(f for f in flaws if f["id"] == "feed_stopped")["scope"]
    hospital = sql("SELECT care_site_source_value FROM care_site WHERE care_site_id = ?", stopped["care_site_id"])[0][0]
    breaks = results(quality)["ruptures_sejours"]
    flagged = {r["mois"] for r in breaks if r["hopital"] == hospital}
    assert set(stopped["months"]) <= flagged
    assert all(r["lignes"] == 0 for r in breaks if r["hopital"] == hospital and r["mois"] in stopped["months"])
    assert all(r["lignes"] < 0.5 * r["reference"] for r in breaks)
