"""Conformance checks on hand-made warehouses: keys, required fields, value sets, formats, codes.

Each test shows its rows; the expected violating ids are read off them by eye.
"""

from __future__ import annotations

from conftest import ts

from workbench.quality import run_checks, violating_ids

PERSONS = [
    {"person_id": 1, "gender_source_value": "m", "birth_datetime": ts("1950-01-01")},
    {"person_id": 2, "gender_source_value": "f", "birth_datetime": ts("1960-01-01")},
    {"person_id": 3, "gender_source_value": "male", "birth_datetime": ts("1970-01-01")},  # noisy sex
    {"person_id": 4, "gender_source_value": "F", "birth_datetime": None},  # noisy sex, no birth date
    {"person_id": 5, "gender_source_value": None, "birth_datetime": ts("1980-01-01")},  # blank sex
]


def _visit(visit_id: int, person_id: int, **extra):
    row = {"visit_occurrence_id": visit_id, "person_id": person_id, "care_site_id": 100,
           "visit_start_datetime": ts("2024-01-10"), "visit_end_datetime": ts("2024-01-12"),
           "visit_source_value": "hospitalisés", "stay_source_value": "MCO", "row_status_source_value": "courant",
           "visit_occurrence_source_value": f"{visit_id:09d}"}
    row.update(extra)
    return row


def _result(warehouse, check_id):
    (result,) = run_checks(warehouse, [check_id]).results
    return result


def test_sex_values_and_required_birth_date(make_warehouse):
    warehouse = make_warehouse({"person": PERSONS})
    sex = _result(warehouse, "person_gender_source_value_values")
    assert (sex.status.value, sex.num_violated_rows, sex.num_denominator_rows) == ("failed", 3, 5)
    assert sex.sample_ids == [3, 4, 5]
    assert sex.pct_violated_rows == 60.0
    birth = _result(warehouse, "person_birth_datetime_required")
    assert (birth.num_violated_rows, birth.sample_ids) == (1, [4])


def test_primary_and_foreign_keys(make_warehouse):
    warehouse = make_warehouse({
        "person": PERSONS[:2],
        "care_site": [{"care_site_id": 100, "care_site_type_source_value": "Hôpital"}],
        "visit_occurrence": [
            _visit(10, 1), _visit(10, 2),  # duplicated key: both rows violate
            _visit(11, 99),  # orphan: person 99 is not in person
            _visit(12, 2, care_site_id=555),  # unknown care site
        ],
    })
    key = _result(warehouse, "visit_occurrence_primary_key")
    assert (key.num_violated_rows, key.num_denominator_rows, key.sample_ids) == (2, 4, [10])
    orphan = _result(warehouse, "visit_occurrence_person_id_foreign_key")
    assert (orphan.num_violated_rows, orphan.sample_ids) == (1, [11])
    site = _result(warehouse, "visit_occurrence_care_site_id_foreign_key")
    assert site.sample_ids == [12]
    person_key = _result(warehouse, "person_primary_key")
    assert person_key.status.value == "passed"


def test_codes_must_exist_in_the_nomenclatures(make_warehouse):
    warehouse = make_warehouse({
        "condition_occurrence": [
            {"condition_occurrence_id": 1, "condition_source_value": "E1120"},  # codable (type 0)
            {"condition_occurrence_id": 2, "condition_source_value": "E112"},  # header (type 3 in CIM-10 FR): not codable
            {"condition_occurrence_id": 3, "condition_source_value": "Q999X"},  # does not exist
            {"condition_occurrence_id": 4, "condition_source_value": None},  # missing: not this check's business
        ],
        "procedure_occurrence": [
            {"procedure_occurrence_id": 1, "procedure_source_value": "AAFA001"},
            {"procedure_occurrence_id": 2, "procedure_source_value": "ZZZZ999"},
        ],
        "drug_exposure_prescription": [
            {"drug_exposure_id": 1, "drug_ucd_source_value": "9009994"},
            {"drug_exposure_id": 2, "drug_ucd_source_value": "0000000"},
        ],
    })
    assert violating_ids(warehouse, "condition_occurrence_condition_source_value_in_cim10") == [2, 3]
    assert violating_ids(warehouse, "procedure_occurrence_procedure_source_value_in_ccam") == [2]
    assert violating_ids(warehouse, "drug_exposure_prescription_drug_ucd_source_value_in_ucd") == [2]
    fmt = _result(warehouse, "procedure_occurrence_procedure_source_value_format")
    assert fmt.status.value == "passed"


def test_formats_value_sets_soft_deletion_and_legacy_ids(make_warehouse):
    warehouse = make_warehouse({
        "person": PERSONS[:2],
        "visit_occurrence": [
            _visit(1, 1), _visit(2, 1), _visit(3, 2),
            _visit(4, 2, row_status_source_value="supprimé"),
            _visit(5, 2, visit_occurrence_source_value="GLD123456789"),  # legacy numbering
            _visit(6, 2, visit_source_value="hospitalisé"),  # not in the list
        ],
        "cost": [
            {"cost_id": 1, "visit_occurrence_id": 1, "drg_source_value": "05C021"},
            {"cost_id": 2, "visit_occurrence_id": 2, "drg_source_value": "28Z17Z"},
            {"cost_id": 3, "visit_occurrence_id": 3, "drg_source_value": "5C021"},  # CMD on one digit
        ],
    })
    assert violating_ids(warehouse, "visit_occurrence_soft_deleted") == [4]
    assert violating_ids(warehouse, "visit_occurrence_nda_format") == [5]
    assert violating_ids(warehouse, "visit_occurrence_visit_source_value_values") == [6]
    assert violating_ids(warehouse, "cost_drg_source_value_format") == [3]
    deleted = _result(warehouse, "visit_occurrence_soft_deleted")
    assert deleted.severity == "info" and deleted.status.value == "failed"


def test_schema_fields_and_types(make_warehouse):
    complete = make_warehouse({"person": PERSONS[:1]})
    assert _result(complete, "cdm_fields_present").status.value == "passed"
    assert _result(complete, "cdm_field_types").status.value == "passed"
    lacking = make_warehouse({"person": PERSONS[:1]}, drop={"person": ["location_id"], "note": ["note_text"]})
    assert violating_ids(lacking, "cdm_fields_present") == ["note.note_text", "person.location_id"]
