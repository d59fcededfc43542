"""The hand-written resources (tests/fixtures/fhir-handwritten/) and the rows they must give, written out by hand.

The exporter and the importer share a hand (the code-system constants), so the
round trip alone could hide a shared mistake: these expectations come from
reading the resources, not from either side.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from fhir_fixtures import HANDWRITTEN, workbench


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("handwritten") / "warehouse"
    run = workbench("ingest", "fhir", str(HANDWRITTEN), "--into", str(folder), "--format", "json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert (report["received"], report["inserted"], report["ignored"], report["quarantined"]) == (15, 14, 1, 0)
    assert report["ignored_by_type"] == {"Observation (hors biologie et constantes)": 1}
    return folder


def rows(folder: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(folder / "eds.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_structures_patient_and_stay(loaded: Path) -> None:
    assert rows(loaded, "SELECT care_site_id, care_site_source_value, care_site_name, care_site_type_source_value FROM care_site "
                        "ORDER BY 1") == [(1, "014", "Hôpital test", "Hôpital"), (2, "1234", "UF cardiologie", "UF")]
    assert rows(loaded, "SELECT fact_id_1, fact_id_2, relationship_concept_id FROM fact_relationship") == [(2, 1, 46233688)]
    assert rows(loaded, "SELECT person_id, gender_source_value, birth_datetime FROM person") == [(1, "f", datetime(1950, 6, 15))]
    assert rows(loaded, "SELECT family_name, given_name, birth_date, sex FROM person_identity") == [("Martin", "Claire", date(1950, 6, 15), "F")]
    assert rows(loaded, "SELECT visit_occurrence_id, person_id, care_site_id, visit_start_datetime, visit_end_datetime, "
                        "visit_source_value, stay_source_value, visit_occurrence_source_value FROM visit_occurrence") == [
        (1, 1, 1, datetime(2025, 3, 2, 8), datetime(2025, 3, 5, 12), "hospitalisés", "MCO", "NDA0001")]
    assert rows(loaded, "SELECT visit_occurrence_id, care_site_id, visit_detail_type_source_value FROM visit_detail") == [(1, 2, "PASS UF")]


def test_french_codes_fill_the_columns_the_views_read(loaded: Path) -> None:
    assert rows(loaded, "SELECT person_id, visit_occurrence_id, condition_start_datetime, condition_source_value, "
                        "condition_status_source_value, source_code_system FROM condition_occurrence") == [
        (1, 1, datetime(2025, 3, 5), "I500", "DP", None)]
    assert rows(loaded, "SELECT procedure_source_value, procedure_datetime, source_code FROM procedure_occurrence") == [
        ("DZQM006", datetime(2025, 3, 3, 14), None)]


def test_observations_become_biology_with_loinc_and_ucum(loaded: Path) -> None:
    assert rows(loaded, "SELECT m.measurement_id, m.visit_occurrence_id, c.concept_code, c.vocabulary_id, m.measurement_datetime, "
                        "m.value_as_number, m.unit_source_value, m.range_low, m.range_high, m.row_status_source_value "
                        "FROM measurement m JOIN concept c ON c.concept_id = m.measurement_source_concept_id ORDER BY 1") == [
        (1, 1, "2823-3", "ITM - LOINC", datetime(2025, 3, 2, 9, 30), 4.2, "mmol/L", 3.5, 5.0, "Validé"),
        (2, None, "29463-7", "ITM - LOINC", datetime(2025, 3, 2, 8, 15), 61.5, "kg", None, None, "Initial")]
    from workbench import open as open_warehouse

    warehouse = open_warehouse(loaded / "catalog.yaml")
    biology = warehouse.execute(warehouse.view("biology")).sort_values("measurement_id")
    assert list(biology.loinc) == ["2823-3", "29463-7"]
    assert list(biology.label) == ["Potassium [Moles/volume] in Serum or Plasma", "Body weight"]


def test_medication_administrations(loaded: Path) -> None:
    assert rows(loaded, "SELECT drug_exposure_id, visit_occurrence_id, drug_source_value, drug_ucd_source_value, "
                        "drug_class_source_value, source_code_system, source_code, route_source_value, quantity, "
                        "dose_unit_source_value, drug_exposure_start_datetime, drug_exposure_end_datetime "
                        "FROM drug_exposure_administration ORDER BY 1") == [
        (1, 1, "FUROSEMIDE 40MG CPR", "9000001", "C03CA01", None, None, "orale", 1.0, "comprimé",
         datetime(2025, 3, 3, 8), datetime(2025, 3, 3, 8, 5)),
        (2, None, "furosemide 20 MG Oral Tablet", None, None, "http://www.nlm.nih.gov/research/umls/rxnorm", "310429",
         None, 2.0, "comprimé", datetime(2025, 3, 4, 20), None)]


def test_diagnostic_reports_become_notes(loaded: Path) -> None:
    assert rows(loaded, "SELECT note_id, visit_occurrence_id, note_datetime, note_class_source_value, note_text FROM note ORDER BY 1") == [
        (1, 1, datetime(2025, 3, 3, 14), "CR-IMAGERIE", "Compte rendu : echographie cardiaque normale."),
        (2, None, datetime(2025, 3, 4, 10), "Bilan biologique", "Kaliémie normale.")]


def test_questionnaire_responses_become_formulaire_rows(loaded: Path) -> None:
    sortie = "https://eds-workbench.aphp.fr/fhir/Questionnaire/fiche-sortie"
    suivi = "https://eds-workbench.aphp.fr/fhir/Questionnaire/suivi"
    assert rows(loaded, "SELECT formulaire_id, visit_occurrence_id, questionnaire, authored_datetime, item_link_id, answer_type, "
                        "value_string, value_number, value_datetime, value_code, form_status FROM formulaire ORDER BY 1") == [
        (1, 1, sortie, datetime(2025, 3, 5, 11), "autonomie", "boolean", "true", None, None, None, "completed"),
        (2, 1, sortie, datetime(2025, 3, 5, 11), "douleur", "integer", None, 3.0, None, None, "completed"),
        (3, 1, sortie, datetime(2025, 3, 5, 11), "destination", "coding", "Domicile", None, None, "DOM", "completed"),
        (4, None, suivi, datetime(2025, 3, 20, 9), "rdv", "date", None, None, datetime(2025, 4, 2), None, "in-progress"),
        (5, None, suivi, datetime(2025, 3, 20, 9), "remarque", "string", "RAS", None, None, None, "in-progress")]
    from workbench.catalog import load_catalog

    entry = load_catalog(loaded / "catalog.yaml").tables["formulaire"]
    assert "Formulaires saisis dans le dossier patient" in entry.description


def test_the_same_resources_in_a_bundle_give_the_same_rows(loaded: Path, tmp_path: Path) -> None:
    """A Bundle JSON instead of the folder; the Patient has no id, only its fullUrl (a transaction's new resource)."""
    entries = []
    for path in sorted(HANDWRITTEN.glob("*.ndjson")):
        for line in path.read_text(encoding="utf-8").splitlines():
            resource = json.loads(line)
            entry = {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}
            if resource["resourceType"] == "Patient":
                del resource["id"]
            entries.append(entry)
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}), encoding="utf-8")
    run = workbench("ingest", "fhir", str(bundle), "--into", str(tmp_path / "warehouse"), "--format", "json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert (report["received"], report["inserted"], report["ignored"], report["quarantined"]) == (15, 14, 1, 0)
    for table in ("visit_occurrence", "measurement", "formulaire", "note", "drug_exposure_administration"):
        sql = f"SELECT count(*), count(DISTINCT person_id) FROM {table}"
        assert rows(tmp_path / "warehouse", sql) == rows(loaded, sql), table
