"""Canonical views on the hand-written AP-HP fixture (`fixtures.APHP_ROWS`).

Every expected value below is read off the fixture rows by hand (the comments
in `fixtures.py` say what each row exercises), never from the implementation.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import workbench
from semantic.fixtures import plain_rows
from workbench.semantic.views import VIEWS


@pytest.fixture(scope="module")
def wh(aphp_catalog: Path):
    with workbench.open(aphp_catalog) as warehouse:
        yield warehouse


def test_every_view_is_available_with_the_contract_columns(wh) -> None:
    assert wh.views == list(VIEWS)
    for name in wh.views:
        assert wh.view(name).columns == tuple(VIEWS[name].columns), name
        # the AP-HP extract carries source codes only: no standard concept column
        expected = {"concept_id"} if name in ("diagnoses", "procedures", "biology", "drugs") else set()
        assert wh.unavailable(name) == expected, name


def test_patients_normalise_noisy_sex_and_keep_every_person(wh) -> None:
    rows = plain_rows(wh.execute(wh.view("patients")), ["person_id", "sex", "birth_date", "death_date"], "person_id")
    assert rows == [
        (1, "M", "1950-06-15T00:00:00", None),
        (2, "F", "1990-01-01T00:00:00", "2020-03-05T00:00:00"),
        (3, "M", "2010-12-31T00:00:00", None),  # "male"
        (4, "inconnu", "1930-02-01T00:00:00", None),  # blank
        (5, "inconnu", None, None),  # null
        (6, "F", "2000-05-05T00:00:00", None),
    ]


def test_care_site_tree_levels_parents_and_ancestors(wh) -> None:
    columns = ["care_site_id", "code", "level", "parent_id", "hospital", "pole", "service", "uf", "place_of_service"]
    rows = plain_rows(wh.execute(wh.view("care_sites")), columns, "care_site_id")
    assert rows == [
        (1, "APHP", "aphp", None, None, None, None, None, None),
        (10, "014", "hopital", 1, "014", None, None, None, None),
        (11, "028", "hopital", 1, "028", None, None, None, None),
        (99, "XX", "autre", None, None, None, None, None, None),  # unknown level, no parent
        (100, "P01", "pole", 10, "014", "P01", None, None, None),
        (1000, "S01", "service", 100, "014", "P01", "S01", None, None),
        (10000, "1001", "uf", 1000, "014", "P01", "S01", "1001", "REA ADULTE"),
        (10001, "1002", "uf", 1000, "014", "P01", "S01", "1002", None),
        (20000, "2001", "uf", 11, "028", None, None, "2001", None),
        (100000, "UH1", "uh", 10000, "014", "P01", "S01", "1001", None),
    ]


STAY_COLUMNS = [
    "stay_id", "visit_type", "stay_type", "stay_category", "nights", "is_open", "from_emergency", "died",
    "ghm", "cmd", "ghm_type", "ghm_severity", "hospital", "pole", "service", "uf", "sex", "age", "age_band",
]


def test_stays_follow_the_contract_rules(wh) -> None:
    rows = plain_rows(wh.execute(wh.view("stays")), STAY_COLUMNS, "stay_id")
    assert rows == [
        (101, "hospitalisés", "MCO", "hospitalisation_complete", 5, False, True, False,
         "05C021", "05", "C", "1", "014", "P01", "S01", "1002", "M", 69, "65-74"),
        (102, "hospitalisés", "MCO", "hospitalisation_complete", 4, False, False, True,
         "04M053", "04", "M", "3", "014", None, None, None, "F", 30, "18-44"),
        (103, "hospitalisation incomplète", "MCO", "seance", 0, False, False, False,
         "28Z07Z", "28", "Z", "Z", "028", None, None, "2001", "M", 9, "0-17"),
        (104, "hospitalisation incomplète", "MCO", "ambulatoire", 0, False, False, False,
         "23M20T", "23", "M", "T", "028", None, None, None, "inconnu", 90, "85+"),
        (105, "hospitalisés", "PSY", "hospitalisation_complete", None, True, False, False,
         None, None, None, None, "014", None, None, None, "M", 69, "65-74"),
        (106, "urgence", "MCO", "urgence", 1, False, False, False,
         None, None, None, None, "014", None, None, None, "inconnu", None, None),
        (107, "consultation externe", "autre", "consultation", 0, False, False, False,
         None, None, None, None, "014", None, None, None, "F", 20, "18-44"),
        (108, "hospitalisés", "SSR", "ambulatoire", None, False, False, False,
         None, None, None, None, "014", None, None, None, "F", 20, "18-44"),
        (109, "autre", "autre", "autre", 0, False, False, False,
         None, None, None, None, "014", None, None, None, "F", 30, "18-44"),
        (111, "urgence", "MCO", "urgence", 0, False, False, False,
         None, None, None, None, "014", "P01", "S01", "1001", "M", 9, "0-17"),
    ]


def test_stays_carry_dates_identifiers_and_source(wh) -> None:
    frame = wh.execute(wh.view("stays"))
    rows = plain_rows(frame, ["stay_id", "nda", "start_date", "end_datetime", "source", "person_id"], "stay_id")
    assert rows[0] == (101, "N101", "2020-01-10T00:00:00", "2020-01-15T10:00:00", "ORBIS", 1)
    assert rows[4] == (105, "N105", "2020-06-01T00:00:00", None, "ORBIS", 1)
    assert 110 not in set(frame["stay_id"])  # soft-deleted


def test_unit_stays_map_movement_types_and_exclude_deleted(wh) -> None:
    columns = ["unit_stay_id", "stay_id", "movement_type", "hospital", "pole", "service", "uf", "place_of_service"]
    rows = plain_rows(wh.execute(wh.view("unit_stays")), columns, "unit_stay_id")
    assert rows == [
        (1, 101, "UF", "014", "P01", "S01", "1001", "REA ADULTE"),
        (2, 101, "UF", "014", "P01", "S01", "1002", None),
        (3, 101, "UH", "014", "P01", "S01", "1001", None),
        (4, 103, "RUM", "028", None, None, "2001", None),
        (5, 111, "UF", "014", "P01", "S01", "1001", "REA ADULTE"),
        (7, 104, "autre", "028", None, None, "2001", None),
    ]


def test_diagnoses_and_procedures(wh) -> None:
    diagnoses = plain_rows(wh.execute(wh.view("diagnoses")), ["diagnosis_id", "stay_id", "code", "status", "source"],
                           "diagnosis_id")
    assert diagnoses == [
        (1, 101, "E112", "DP", "ORBIS"),
        (2, 101, "I10", "DAS", "AREM"),
        (3, 102, "J189", "DR", "ORBIS"),
        (4, 103, "Z511", "autre", "autre"),
    ]
    procedures = plain_rows(wh.execute(wh.view("procedures")), ["procedure_id", "code", "source"], "procedure_id")
    assert procedures == [(1, "DZEA001", "ORBIS")]


def test_biology_maps_local_codes_to_loinc(wh) -> None:
    columns = ["measurement_id", "local_code", "loinc", "label", "value", "unit", "status"]
    rows = plain_rows(wh.execute(wh.view("biology")), columns, "measurement_id")
    assert rows == [
        (1, "A0163", "718-7", "Hémoglobine", 13.5, "g/dl", "Validé"),
        (2, "P001", "29463-7", "Poids", 70, "kg", "Validé"),
        (3, "A9999", None, "Sans correspondance", 1, None, "Validé"),
    ]


def test_drugs_union_prescriptions_and_administrations(wh) -> None:
    rows = plain_rows(wh.execute(wh.view("drugs")), ["kind", "drug_id", "ucd", "atc", "quantity"], ["kind", "drug_id"])
    assert rows == [
        ("administration", 1, "9000001", None, 2),
        ("prescription", 1, "9000001", "N02BE01", None),
        ("prescription", 2, "9000002", None, None),
    ]


def test_notes_exclude_deleted(wh) -> None:
    rows = plain_rows(wh.execute(wh.view("notes")), ["note_id", "note_class", "text"], "note_id")
    assert rows == [(1, "CRH", "Compte rendu")]


def test_unknown_visit_type_counts_as_autre_like_independent_sql(wh) -> None:
    """A category counted through the view agrees with an independent SQL query on the raw table."""
    raw = wh.con.raw_sql(
        "SELECT count(*) FROM visit_occurrence WHERE coalesce(row_status_source_value, '') <> 'supprimé' "
        "AND visit_source_value NOT IN ('hospitalisés', 'hospitalisation incomplète', 'urgence', 'consultation externe')"
    ).fetchone()[0]
    stays = wh.view("stays")
    assert wh.execute(stays.filter(stays.visit_type == "autre").count()) == raw == 1
