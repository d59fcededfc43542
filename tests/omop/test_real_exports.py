"""Real-looking OMOP exports (tests/omop/fixtures.py): a zip, typed by the CDM, standard visit semantics."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

import workbench
from workbench.catalog import cast_failure_report, load_catalog, write_catalog
from workbench.errors import UserError
from workbench.indicators.dictionary import load_dictionary
from workbench.indicators.engine import compute
from workbench.quality.engine import run_checks
from workbench.semantic.omop import unmapped_visit_concepts

from .fixtures import write_export_zip

WIKI = Path(__file__).resolve().parents[2] / "wiki"
STAYS = ["stay_id", "visit_type", "from_emergency", "died", "nights", "stay_category", "hospital"]


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list]:
    folder = tmp_path_factory.mktemp("export")
    failures = write_catalog(write_export_zip(folder / "data" / "export.zip"), "omop", folder / "catalog.yaml")
    return folder / "catalog.yaml", failures


@pytest.fixture(scope="module")
def wh(export):
    with workbench.open(export[0]) as opened:
        yield opened


def rows(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    frame = frame.sort_values(columns[0])[columns].astype(object).where(frame.notna(), None)
    return [tuple(row) for row in frame.itertuples(index=False)]


def test_zip_catalogue_types_every_cdm_column_by_the_cdm(export) -> None:
    path, _ = export
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert document["metadata"]["cdm_version"] == "5.4"  # no cdm_source: 5.4 columns (admitted_from_…)
    assert document["data"]["person_csv"]["kwargs"]["url"] == "zip://PERSON.csv::{CATALOG_DIR}/data/export.zip"
    entries = document["entries"]
    assert "__macosx" not in " ".join(entries).lower()
    columns = {name: {c: spec["type"] for c, spec in entry["metadata"]["columns"].items()}
               for name, entry in entries.items()}
    # header-only tables and all-null columns get their CDM types, not "string"
    assert columns["care_site"]["care_site_id"] == "int64"
    assert columns["note"]["note_date"] == "date" and columns["note"]["note_datetime"] == "timestamp"
    assert columns["death"]["person_id"] == "int64"
    assert columns["person"]["birth_datetime"] == "timestamp" and columns["person"]["location_id"] == "int64"
    assert columns["person"]["year_of_birth"] == "int64"  # although one value is "19x0"
    assert columns["local_audit"] == {"run": "date", "rows": "int64"}  # outside the CDM: sniffed
    catalog = load_catalog(path)
    assert catalog.source_kind == "csv" and len(catalog.tables) == 9


def test_a_value_that_cannot_be_cast_is_null_and_reported(export, wh) -> None:
    _, failures = export
    assert [(f.table, f.column, f.type, f.count, f.examples) for f in failures] == [
        ("person", "year_of_birth", "int64", 1, ["19x0"]),
    ]
    assert failures[0].message() == ("person.year_of_birth : 1 valeur(s) illisible(s) comme int64, lue(s) comme "
                                     "vides (ex. « 19x0 »)")
    person = wh.execute(wh.table("person"))
    assert person.set_index("person_id")["year_of_birth"].isna().to_dict() == {1: False, 2: False, 3: False, 4: True}
    assert cast_failure_report(wh.catalog, ["person"], wh.con) == failures
    result = {r.id: r for r in run_checks(wh, ["cdm_values_castable"]).results}["cdm_values_castable"]
    assert (result.status.value, result.num_violated_rows) == ("failed", 1)
    assert result.sample_ids == [failures[0].message()]


def test_stays_follow_the_visit_concept_hierarchy(wh) -> None:
    assert rows(wh.execute(wh.view("stays")), STAYS) == [
        (1, "hospitalisés", True, False, 4, "hospitalisation_complete", "inconnu"),  # 262: one hospitalisation
        (2, "urgence", False, False, 0, "urgence", "inconnu"),
        (3, "hospitalisés", True, False, 3, "hospitalisation_complete", "inconnu"),  # admitted from 9203
        (4, "hospitalisés", False, True, 2, "hospitalisation_complete", "inconnu"),  # discharged 4216643
        (5, "urgence", False, False, 0, "urgence", "inconnu"),  # child of 9203 in CONCEPT_ANCESTOR
        (6, "autre", False, False, 0, "autre", "inconnu"),
        (7, "consultation externe", False, False, 0, "consultation", "70"),  # the visit_detail's care site
    ]
    assert unmapped_visit_concepts(wh) == {99999: 1}
    result = run_checks(wh, ["visit_concepts_mapped"]).results[0]
    assert (result.status.value, result.num_violated_rows, result.num_denominator_rows) == ("failed", 1, 7)
    assert result.sample_ids == ["concept 99999 (visite 6)"]
    patients = rows(wh.execute(wh.view("patients")), ["person_id", "death_date"])
    assert patients == [(1, None), (2, None), (3, pd.Timestamp("2024-04-03")), (4, None)]


def test_without_concept_ancestor_the_built_in_map_applies(tmp_path: Path) -> None:
    zipped = write_export_zip(tmp_path / "export.zip", without=("CONCEPT_ANCESTOR.csv",))
    write_catalog(zipped, "omop", tmp_path / "catalog.yaml")
    with workbench.open(tmp_path / "catalog.yaml") as opened:
        types = dict(rows(opened.execute(opened.view("stays")), ["stay_id", "visit_type"]))
        assert (types[1], types[5]) == ("hospitalisés", "autre")  # 262 built in; the local child unknown
        assert unmapped_visit_concepts(opened) == {99999: 1, 2000000001: 1}


def test_passages_urgences_version_2_counts_merged_passages_once(wh) -> None:
    page = load_dictionary(WIKI).get("passages_urgences").definition
    by_version = {}
    for version in ("1", "2"):
        result = compute(page, wh, by=["month"], start="2024-03", end="2024-05", version=version)
        by_version[version] = {r["month"]: r["numerator"] for r in result.frame.to_dict(orient="records")}
    assert by_version["1"] == {"2024-03": 2}  # visits 2 and 5
    assert by_version["2"] == {"2024-03": 3}  # + visit 1 (262); visit 3 follows visit 2: not twice
    assert page.version_at(pd.Timestamp("2026-12-31").date()).version == "1"
    assert page.version_at(pd.Timestamp("2027-01-31").date()).version == "2"


def test_a_zip_without_person_is_refused_and_nothing_written(tmp_path: Path) -> None:
    zipped = write_export_zip(tmp_path / "partial.zip", without=("PERSON.csv",))
    with pytest.raises(UserError, match=r"partial\.zip : pas de table « person » \(fichier PERSON\.csv"):
        write_catalog(zipped, "omop", tmp_path / "catalog.yaml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["partial.zip"]


def test_a_zip_without_csv_is_refused(tmp_path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as archive:
        archive.writestr("__MACOSX/._PERSON.csv", b"x")
    with pytest.raises(UserError, match=r"empty\.zip : aucun fichier \.csv dans cette archive"):
        write_catalog(tmp_path / "empty.zip", "omop", tmp_path / "catalog.yaml")


def test_missing_optional_tables_make_views_unavailable_not_a_crash(tmp_path: Path) -> None:
    zipped = write_export_zip(tmp_path / "export.zip", without=("VISIT_DETAIL.csv", "DEATH.csv", "CARE_SITE.csv",
                                                                "NOTE.csv", "CONCEPT_ANCESTOR.csv"))
    write_catalog(zipped, "omop", tmp_path / "catalog.yaml")
    with workbench.open(tmp_path / "catalog.yaml") as opened:
        assert sorted(opened.views) == ["patients", "stays"]
        assert int(opened.execute(opened.view("stays").count())) == 7
        page = load_dictionary(WIKI).get("passages_urgences").definition
        assert compute(page, opened, start="2024-03", end="2024-03", version="2").frame["numerator"].tolist() == [2]


def test_a_duckdb_source_in_upper_case_is_typed_by_the_cdm(tmp_path: Path) -> None:
    import duckdb

    with duckdb.connect(str(tmp_path / "cdm.duckdb")) as con:
        con.execute("CREATE TABLE PERSON (PERSON_ID INTEGER, GENDER_CONCEPT_ID VARCHAR, YEAR_OF_BIRTH VARCHAR)")
        con.execute("INSERT INTO PERSON VALUES (-7, '8507', '1970'), (8, 'F', NULL)")
        con.execute("CREATE TABLE CDM_SOURCE (CDM_VERSION VARCHAR)")
        con.execute("INSERT INTO CDM_SOURCE VALUES ('v5.3.1')")
    failures = write_catalog(tmp_path / "cdm.duckdb", "omop", tmp_path / "catalog.yaml")
    document = yaml.safe_load((tmp_path / "catalog.yaml").read_text(encoding="utf-8"))
    assert document["metadata"]["cdm_version"] == "5.3"
    assert document["entries"]["person"]["kwargs"]["table"] == "PERSON"
    assert {c: s["type"] for c, s in document["entries"]["person"]["metadata"]["columns"].items()} == {
        "person_id": "int64", "gender_concept_id": "int64", "year_of_birth": "int64"}
    assert [(f.table, f.column, f.count, f.examples) for f in failures] == [("person", "gender_concept_id", 1, ["F"])]
    with workbench.open(tmp_path / "catalog.yaml") as opened:
        patients = rows(opened.execute(opened.view("patients")), ["person_id", "sex"])
        assert patients == [(-7, "M"), (8, "inconnu")]
