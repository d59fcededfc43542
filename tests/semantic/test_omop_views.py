"""Canonical views on OMOP 5.3 and 5.4 CSV exports the test writes (`fixtures._omop_rows`).

Same facts in both versions; 5.3 spells the admission/discharge columns
differently, has upper-case headers, dates only (no datetimes) and no
vocabulary table. Dates are in the 22nd century and one person id is negative.
Expected values are read off the fixture by hand.
"""

from __future__ import annotations

import pytest

import workbench
from semantic.fixtures import plain_rows
from workbench.errors import UserError


@pytest.fixture(scope="module")
def omop(omop_catalog):
    version, path = omop_catalog
    with workbench.open(path) as warehouse:
        yield version, warehouse


def test_views_available_and_facts_standard_omop_lacks_are_declared(omop) -> None:
    version, wh = omop
    assert wh.flavour == "omop"
    assert wh.views == ["patients", "care_sites", "stays", "unit_stays", "diagnoses", "procedures", "biology", "drugs"]
    assert {"ghm", "cmd", "stay_type", "source", "provenance"} <= wh.unavailable("stays")
    assert wh.unavailable("diagnoses") == {"source"}
    assert wh.unavailable("biology") == ({"status"} if version == "5.4" else {"status", "label", "loinc"})
    stays = wh.execute(wh.view("stays"))
    assert stays["ghm"].isna().all() and stays["source"].isna().all()  # null, never zeros or a guess


def test_notes_view_is_refused_by_name_without_a_note_table(omop) -> None:
    _, wh = omop
    with pytest.raises(UserError, match="notes.*note"):
        wh.view("notes")


def test_patients_from_gender_concepts_birth_parts_death_table_and_died_discharges(omop) -> None:
    _, wh = omop
    rows = plain_rows(wh.execute(wh.view("patients")), ["person_id", "sex", "birth_date", "death_date"], "person_id")
    assert rows == [
        (-1, "M", "2050-03-10T00:00:00", None),
        (2, "F", "2080-01-01T00:00:00", "2110-05-03T00:00:00"),  # month/day missing -> 1 January
        (3, "inconnu", "2100-01-01T00:00:00", "2110-07-01T00:00:00"),  # visit 104 discharged 4216643 (died)
    ]


STAY_COLUMNS = ["stay_id", "visit_type", "stay_category", "nights", "is_open", "from_emergency", "died",
                "hospital", "uf", "sex", "age", "age_band", "admission_mode", "discharge_mode"]


def test_stays_from_visit_concepts_including_an_unknown_one(omop) -> None:
    _, wh = omop
    rows = plain_rows(wh.execute(wh.view("stays")), STAY_COLUMNS, "stay_id")
    assert rows == [
        (-100, "hospitalisés", "hospitalisation_complete", 3, False, True, False, "HA", "ICU1", "M", 59, "45-64",
         "8870", "8536"),
        (101, "urgence", "urgence", 0, False, False, False, "HA", None, "F", 30, "18-44", None, None),
        (102, "hospitalisés", "hospitalisation_complete", 2, False, True, True, "HA", None, "F", 30, "18-44",
         None, None),  # 262 = emergency then inpatient; death on its last day
        (103, "consultation externe", "consultation", 0, False, False, False, "HA", None, "inconnu", 10, "0-17",
         None, None),
        (104, "hospitalisés", "ambulatoire", 0, False, False, True, "HA", None, "inconnu", 10, "0-17",
         None, "4216643"),
        (105, "hospitalisation incomplète", "hospitalisation_complete", 1, False, False, False, "HA", None,
         "inconnu", 10, "0-17", None, None),
        (106, "autre", "autre", 0, False, False, False, "HA", None, "M", 60, "45-64", None, None),
        (107, "hospitalisés", "hospitalisation_complete", None, True, False, False, "HA", None, "M", 60, "45-64",
         None, None),
    ]


def test_stay_times_use_datetimes_when_present_else_dates(omop) -> None:
    version, wh = omop
    frame = wh.execute(wh.view("stays"))
    rows = plain_rows(frame, ["stay_id", "start_datetime", "start_date"], "stay_id")
    expected_start = "2110-01-01T10:00:00" if version == "5.4" else "2110-01-01T00:00:00"
    assert rows[0] == (-100, expected_start, "2110-01-01T00:00:00")


def test_other_views(omop) -> None:
    version, wh = omop
    assert plain_rows(wh.execute(wh.view("diagnoses")), ["diagnosis_id", "code", "status"], "diagnosis_id") == [
        (1, "E11.9", "DP"), (2, "4329847", "DAS"), (3, "I10", "autre"),
    ]
    assert plain_rows(wh.execute(wh.view("unit_stays")), ["unit_stay_id", "stay_id", "hospital", "uf"],
                      "unit_stay_id") == [(1, -100, "HA", "HA"), (2, -100, "HA", "ICU1")]
    assert plain_rows(wh.execute(wh.view("drugs")), ["drug_id", "kind", "label"], "drug_id") == [
        (1, "prescription", "paracetamol"), (2, "administration", "paracetamol"), (3, "autre", "paracetamol"),
    ]
    loinc = ["718-7", "29463-7"] if version == "5.4" else [None, None]
    assert plain_rows(wh.execute(wh.view("biology")), ["measurement_id", "local_code", "loinc", "value"],
                      "measurement_id") == [(1, "HGB", loinc[0], 13.2), (2, "WT", loinc[1], 70)]
    assert plain_rows(wh.execute(wh.view("procedures")), ["procedure_id", "code"], "procedure_id") == [(1, "0DTJ4ZZ")]


def test_extraction_date_without_metadata_is_the_last_visit_date(omop) -> None:
    _, wh = omop
    assert str(wh.extraction_date) == "2110-09-01"
