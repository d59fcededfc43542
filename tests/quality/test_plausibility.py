"""Plausibility checks on hand-made warehouses: temporal order, stays, life, sex, identities, biology."""

from __future__ import annotations

from conftest import ts

from workbench.quality import run_checks, violating_ids

PERSONS = [
    {"person_id": 1, "gender_source_value": "m", "birth_datetime": ts("1950-01-01"), "death_datetime": ts("2024-03-01 10:00")},
    {"person_id": 2, "gender_source_value": "f", "birth_datetime": ts("1990-05-01")},
    {"person_id": 3, "gender_source_value": "f", "birth_datetime": ts("1890-01-01")},  # before 1900
    {"person_id": 4, "gender_source_value": "m", "birth_datetime": ts("2024-02-01")},  # born after his first stay
    {"person_id": 5, "gender_source_value": "m", "birth_datetime": ts("2020-01-01")},  # a child
]


def _visit(visit_id, person_id, start, end, **extra):
    row = {"visit_occurrence_id": visit_id, "person_id": person_id, "care_site_id": 100,
           "visit_start_datetime": ts(start), "visit_end_datetime": ts(end) if end else None,
           "visit_source_value": "hospitalisés", "stay_source_value": "MCO"}
    row.update(extra)
    return row


VISITS = [
    _visit(10, 1, "2024-01-10", "2024-01-15"),
    _visit(11, 1, "2024-03-01 08:00", "2024-03-01 10:00"),  # died the same day: fine
    _visit(12, 1, "2024-03-20", "2024-03-20"),  # a visit after death
    _visit(20, 2, "2024-02-10", "2024-02-05"),  # ends before it starts
    _visit(21, 2, "2023-12-20", "2023-12-31 23:59:59"),  # year-end split, first half...
    _visit(22, 2, "2024-01-01 00:00", "2024-01-04"),  # ...and second half
    _visit(30, 3, "2024-01-02", "2024-01-03"),
    _visit(40, 4, "2024-01-05", "2024-01-06"),
    _visit(50, 5, "2024-01-01", "2024-01-03"),
]


def test_stays_dates_life_and_splits(make_warehouse):
    warehouse = make_warehouse({"person": PERSONS, "visit_occurrence": VISITS})
    assert violating_ids(warehouse, "visit_occurrence_start_before_end") == [20]
    assert violating_ids(warehouse, "visit_occurrence_before_death") == [12]
    assert violating_ids(warehouse, "person_birth_datetime_plausible") == [3, 4]
    assert violating_ids(warehouse, "visit_occurrence_year_end_split") == [21, 22]
    (result,) = run_checks(warehouse, ["visit_occurrence_before_death"]).results
    assert (result.num_violated_rows, result.num_denominator_rows) == (1, 9)


def test_events_within_their_stay(make_warehouse):
    warehouse = make_warehouse({
        "person": PERSONS,
        "visit_occurrence": VISITS + [_visit(60, 2, "2024-06-01", None)],  # open stay
        "visit_detail": [
            {"visit_detail_id": 1, "visit_occurrence_id": 10, "visit_detail_start_datetime": ts("2024-01-10"),
             "visit_detail_end_datetime": ts("2024-01-15")},
            {"visit_detail_id": 2, "visit_occurrence_id": 10, "visit_detail_start_datetime": ts("2024-01-09"),
             "visit_detail_end_datetime": ts("2024-01-11")},  # starts before the stay
            {"visit_detail_id": 3, "visit_occurrence_id": 10, "visit_detail_start_datetime": ts("2024-01-14"),
             "visit_detail_end_datetime": ts("2024-01-16")},  # ends after the stay
        ],
        "measurement": [
            {"measurement_id": 1, "person_id": 1, "visit_occurrence_id": 10, "measurement_datetime": ts("2024-01-12")},
            {"measurement_id": 2, "person_id": 1, "visit_occurrence_id": 10, "measurement_datetime": ts("2024-02-12")},
            {"measurement_id": 3, "person_id": 2, "visit_occurrence_id": 60, "measurement_datetime": ts("2024-06-20")},
            {"measurement_id": 4, "person_id": 2, "visit_occurrence_id": None, "measurement_datetime": ts("2020-01-01")},
            {"measurement_id": 5, "person_id": 1, "visit_occurrence_id": 11, "measurement_datetime": ts("2024-03-05")},
            # stay 20 ends before it starts: it has no inside, so its results are not judged here
            {"measurement_id": 6, "person_id": 2, "visit_occurrence_id": 20, "measurement_datetime": ts("2024-02-07")},
        ],
    })
    assert violating_ids(warehouse, "visit_detail_within_stay") == [2, 3]
    # 2: a month after discharge; 5: after the stay (and after death); 3: open stay, no upper bound;
    # 4: outpatient result, attached to no stay, and 6 (stay with inverted dates): outside the denominator.
    assert violating_ids(warehouse, "measurement_within_stay") == [2, 5]
    (result,) = run_checks(warehouse, ["measurement_within_stay"]).results
    assert result.num_denominator_rows == 4
    assert violating_ids(warehouse, "measurement_before_death") == [5]


def test_sex_specific_diagnoses_and_acts(make_warehouse):
    warehouse = make_warehouse({
        "person": PERSONS,
        "condition_occurrence": [
            {"condition_occurrence_id": 1, "person_id": 1, "condition_source_value": "O800"},  # delivery, man
            {"condition_occurrence_id": 2, "person_id": 2, "condition_source_value": "O800"},  # delivery, woman
            {"condition_occurrence_id": 3, "person_id": 2, "condition_source_value": "C61"},  # prostate, woman
            {"condition_occurrence_id": 4, "person_id": 1, "condition_source_value": "C61"},  # prostate, man
            {"condition_occurrence_id": 5, "person_id": 1, "condition_source_value": "I10"},
        ],
        "procedure_occurrence": [
            # JQGD010: delivery (CCAM, women only); JGFA015: prostatectomy (men only).
            {"procedure_occurrence_id": 1, "person_id": 1, "procedure_source_value": "JQGD010"},
            {"procedure_occurrence_id": 2, "person_id": 2, "procedure_source_value": "JQGD010"},
            {"procedure_occurrence_id": 3, "person_id": 2, "procedure_source_value": "JGFA015"},
        ],
    })
    assert violating_ids(warehouse, "condition_occurrence_gender_plausible") == [1, 3]
    assert violating_ids(warehouse, "procedure_occurrence_gender_plausible") == [1, 3]


def test_duplicate_identities_flag_every_member_of_a_group(make_warehouse):
    warehouse = make_warehouse({"person_identity": [
        {"person_id": 1, "family_name": "Martin", "given_name": "Paul", "birth_date": ts("1950-01-01").date()},
        {"person_id": 2, "family_name": "MARTIN ", "given_name": "paul", "birth_date": ts("1950-01-01").date()},
        {"person_id": 3, "family_name": "Martin", "given_name": "Paul", "birth_date": ts("1951-01-01").date()},
        {"person_id": 4, "family_name": "Durand", "given_name": "Léa", "birth_date": ts("1980-01-01").date()},
    ]})
    assert violating_ids(warehouse, "person_identity_duplicates") == [1, 2]


CONCEPTS = [
    {"concept_id": 1, "concept_code": "POIDS", "vocabulary_id": "ITM - ANABIO"},
    {"concept_id": 2, "concept_code": "TAILLE", "vocabulary_id": "ITM - ANABIO"},
    {"concept_id": 3, "concept_code": "CREAT", "vocabulary_id": "ITM - ANABIO"},
    {"concept_id": 11, "concept_code": "29463-7", "vocabulary_id": "ITM - LOINC"},
    {"concept_id": 12, "concept_code": "8302-2", "vocabulary_id": "ITM - LOINC"},
    {"concept_id": 13, "concept_code": "2160-0", "vocabulary_id": "ITM - LOINC"},
]
MAPS = [{"concept_id_1": local, "concept_id_2": local + 10, "relationship_id": "Maps to"} for local in (1, 2, 3)]


def _m(mid, person, concept, value, unit, at="2024-01-10", low=None, high=None):
    return {"measurement_id": mid, "person_id": person, "measurement_source_concept_id": concept,
            "measurement_datetime": ts(at), "value_as_number": value, "unit_source_value": unit,
            "range_low": low, "range_high": high}


def test_weight_height_units_and_values(make_warehouse):
    warehouse = make_warehouse({
        "person": PERSONS, "concept": CONCEPTS, "concept_relationship": MAPS,
        "measurement": [
            _m(1, 1, 1, 80.0, "kg"),
            _m(2, 1, 1, 800.0, "kg"),  # adult weight x10
            _m(3, 5, 1, 14.0, "kg"),  # a 4-year-old
            _m(4, 5, 1, 140.0, "kg"),  # a 4-year-old's weight x10: beyond 40 kg before 6 years
            _m(5, 1, 2, 175.0, "cm"),
            _m(6, 1, 2, 30.0, "cm"),  # adult of 30 cm
            _m(7, 5, 2, 100.0, "cm"),  # a child of 1 m: fine
            _m(8, 2, 3, 80.0, "µmol/L", low=45, high=90),
            _m(9, 2, 3, 70.0, "µmol/L", low=45, high=90),
            _m(10, 2, 3, 0.9, "mg/dL", low=45, high=90),  # converted: another unit, far below the range
            _m(11, 2, 3, -1.0, "µmol/L", low=45, high=90),  # negative
        ],
    })
    assert violating_ids(warehouse, "measurement_weight_plausible") == [2, 4]
    assert violating_ids(warehouse, "measurement_height_plausible") == [6]
    # modal units: kg for 1, cm for 2, µmol/L for 3 (3 rows against 1)
    assert violating_ids(warehouse, "measurement_unit_plausible") == [10]
    assert violating_ids(warehouse, "measurement_value_plausible") == [10, 11]
    assert violating_ids(warehouse, "measurement_value_not_negative") == [11]
