"""The flaw manifest: every listed row exists and carries its flaw, checked with independent SQL per flaw.

Where the flaw is a property a query can recognise, the test also checks the
converse: every row with that property is listed (so recall of quality checks
can be measured against the manifest).
"""

from __future__ import annotations

import pytest

from .sql import ids_where, scalar

ROW_FLAWS = {
    "duplicate_identity", "sex_noise", "birth_date_missing", "birth_date_implausible", "stay_end_before_start",
    "stay_end_missing_old", "movement_outside_stay", "measurement_outside_stay", "event_after_death", "unknown_cim10",
    "unknown_ccam", "unknown_ucd", "biology_wrong_unit", "weight_implausible", "height_implausible", "year_end_split",
    "legacy_visit_id", "soft_deleted",
}
FEED_FLAWS = {"feed_late_start", "feed_stopped", "hospital_no_deaths", "arem_lag"}
KEYS = {
    "person": "person_id", "person_identity": "person_id", "visit_occurrence": "visit_occurrence_id", "visit_detail": "visit_detail_id",
    "measurement": "measurement_id", "condition_occurrence": "condition_occurrence_id", "procedure_occurrence": "procedure_occurrence_id",
    "drug_exposure_prescription": "drug_exposure_id",
}

# Per flaw: the query returning the ids of every row that carries it (the same property the manifest claims).
CARRIERS = {
    "sex_noise": "SELECT person_id FROM person WHERE gender_source_value NOT IN ('m', 'f') OR gender_source_value IS NULL",
    "birth_date_missing": "SELECT person_id FROM person WHERE birth_datetime IS NULL",
    "birth_date_implausible": """
        SELECT p.person_id FROM person p WHERE p.birth_datetime < TIMESTAMP '1900-01-01'
           OR p.birth_datetime > (SELECT min(visit_start_datetime) FROM visit_occurrence v WHERE v.person_id = p.person_id)""",
    "stay_end_before_start": "SELECT visit_occurrence_id FROM visit_occurrence WHERE visit_end_datetime < visit_start_datetime",
    "stay_end_missing_old": """
        SELECT v.visit_occurrence_id FROM visit_occurrence v, _metadata m
        WHERE v.visit_end_datetime IS NULL AND v.visit_start_datetime < m.extraction_date - INTERVAL 90 DAY
          AND EXISTS (SELECT 1 FROM visit_occurrence w WHERE w.person_id = v.person_id AND w.visit_start_datetime > v.visit_start_datetime)""",
    "movement_outside_stay": """
        SELECT d.visit_detail_id FROM visit_detail d JOIN visit_occurrence v USING (visit_occurrence_id)
        WHERE v.visit_end_datetime >= v.visit_start_datetime
          AND (d.visit_detail_start_datetime < v.visit_start_datetime OR d.visit_detail_end_datetime > v.visit_end_datetime)""",
    "measurement_outside_stay": """
        SELECT m.measurement_id FROM measurement m JOIN visit_occurrence v USING (visit_occurrence_id)
        WHERE v.visit_end_datetime >= v.visit_start_datetime
          AND (m.measurement_datetime < v.visit_start_datetime OR m.measurement_datetime > v.visit_end_datetime)""",
    "event_after_death": """
        SELECT v.visit_occurrence_id FROM visit_occurrence v JOIN person p USING (person_id) WHERE v.visit_start_datetime > p.death_datetime""",
    "biology_wrong_unit": """
        SELECT m.measurement_id FROM measurement m JOIN concept_relationship r ON r.concept_id_1 = m.measurement_source_concept_id
        JOIN concept l ON l.concept_id = r.concept_id_2
        WHERE r.relationship_id = 'Maps to' AND l.concept_code = '14682-9' AND m.unit_source_value = 'mg/dL' AND m.value_as_number < 30""",
    "weight_implausible": """
        SELECT m.measurement_id FROM measurement m JOIN concept_relationship r ON r.concept_id_1 = m.measurement_source_concept_id
        JOIN concept l ON l.concept_id = r.concept_id_2
        WHERE r.relationship_id = 'Maps to' AND l.concept_code = '29463-7' AND m.value_as_number > 300""",
    "height_implausible": """
        SELECT m.measurement_id FROM measurement m JOIN concept_relationship r ON r.concept_id_1 = m.measurement_source_concept_id
        JOIN concept l ON l.concept_id = r.concept_id_2 JOIN person_identity i USING (person_id)
        WHERE r.relationship_id = 'Maps to' AND l.concept_code = '8302-2' AND m.value_as_number <= 40
          AND i.birth_date <= m.measurement_datetime - INTERVAL 18 YEAR""",
    "year_end_split": """
        SELECT a.visit_occurrence_id FROM visit_occurrence a JOIN visit_occurrence b
          ON b.person_id = a.person_id AND b.preceding_visit_occurrence_id = a.visit_occurrence_id
         AND a.visit_end_datetime = b.visit_start_datetime - INTERVAL 1 SECOND
         AND strftime(b.visit_start_datetime, '%m-%d %H:%M:%S') = '01-01 00:00:00'
        UNION
        SELECT b.visit_occurrence_id FROM visit_occurrence a JOIN visit_occurrence b
          ON b.person_id = a.person_id AND b.preceding_visit_occurrence_id = a.visit_occurrence_id
         AND a.visit_end_datetime = b.visit_start_datetime - INTERVAL 1 SECOND
         AND strftime(b.visit_start_datetime, '%m-%d %H:%M:%S') = '01-01 00:00:00'""",
    "legacy_visit_id": "SELECT visit_occurrence_id FROM visit_occurrence WHERE NOT regexp_full_match(visit_occurrence_source_value, '[0-9]{13}')",
    "soft_deleted": "SELECT visit_occurrence_id FROM visit_occurrence WHERE row_status_source_value = 'supprimé' AND delete_datetime IS NOT NULL",
}


def test_manifest_lists_every_flaw_once_with_its_seed(manifest):
    assert manifest["seed"] == 42
    ids = [flaw["id"] for flaw in manifest["flaws"]]
    assert sorted(ids) == sorted(ROW_FLAWS | FEED_FLAWS)
    for flaw in manifest["flaws"]:
        assert flaw["description"] and flaw["table"]
        if flaw["id"] in ROW_FLAWS:
            assert 0 < flaw["rate"] <= 1 and flaw["row_ids"], flaw["id"]
        else:
            assert set(flaw["scope"]) == {"care_site_id", "months"} and flaw["scope"]["months"], flaw["id"]


@pytest.mark.parametrize("flaw_id", sorted(CARRIERS))
def test_listed_rows_exist_and_carry_the_flaw(con, manifest, flawed, flaw_id):
    table = next(flaw["table"] for flaw in manifest["flaws"] if flaw["id"] == flaw_id)
    listed = flawed[flaw_id]
    existing = ids_where(con, f'SELECT {KEYS[table]} FROM "{table}"')
    assert listed <= existing
    carriers = ids_where(con, CARRIERS[flaw_id])
    if flaw_id in ("movement_outside_stay", "measurement_outside_stay"):
        # Stays whose own end is flawed make their children look outside too; those children are not listed.
        assert listed <= carriers
    else:
        assert listed == carriers


def test_duplicate_identities_have_a_twin_and_every_twin_pair_is_listed(con, flawed):
    pairs = con.execute("""
        SELECT i.person_id, o.person_id FROM person_identity i JOIN person_identity o
          ON o.family_name = i.family_name AND o.given_name = i.given_name AND o.birth_date = i.birth_date AND o.person_id < i.person_id""").fetchall()
    listed = flawed["duplicate_identity"]
    twins = {person for pair in pairs for person in pair}
    assert listed and listed <= twins
    assert all(a in listed or b in listed for a, b in pairs)
    same_person = scalar(con, f"""
        SELECT count(*) FROM person_identity i JOIN person_identity o
          ON o.family_name = i.family_name AND o.given_name = i.given_name AND o.birth_date = i.birth_date AND o.person_id <> i.person_id
        WHERE i.person_id IN ({",".join(map(str, listed))}) AND i.sex <> o.sex""")
    assert same_person == 0


def test_rows_never_carry_two_flaws(manifest):
    seen: dict[tuple[str, int], str] = {}
    for flaw in manifest["flaws"]:
        for row_id in flaw.get("row_ids", []):
            table = "person" if flaw["table"] == "person_identity" else flaw["table"]
            assert (table, row_id) not in seen, (flaw["id"], seen.get((table, row_id)))
            seen[(table, row_id)] = flaw["id"]


def _scope(manifest: dict, flaw_id: str) -> dict:
    return next(flaw["scope"] for flaw in manifest["flaws"] if flaw["id"] == flaw_id)


def test_feed_late_start_and_stopped_leave_months_empty(con, manifest):
    for flaw_id in ("feed_late_start", "feed_stopped"):
        scope = _scope(manifest, flaw_id)
        months = scope["months"]
        inside = scalar(con, "SELECT count(*) FROM visit_occurrence WHERE care_site_id = ? AND list_contains(?, strftime(visit_start_datetime, '%Y-%m'))",
                        [scope["care_site_id"], months])
        assert inside == 0, flaw_id
        assert scalar(con, "SELECT count(*) FROM visit_occurrence WHERE care_site_id = ?", [scope["care_site_id"]]) > 100
        # The other hospitals do have stays in those months.
        others = scalar(con, "SELECT count(*) FROM visit_occurrence WHERE care_site_id <> ? AND list_contains(?, strftime(visit_start_datetime, '%Y-%m'))",
                        [scope["care_site_id"], months])
        assert others > 10 * len(months)
    late = _scope(manifest, "feed_late_start")["months"]
    assert late[0] == "2018-01" and len(late) >= 6


def test_hospital_without_deaths(con, manifest):
    scope = _scope(manifest, "hospital_no_deaths")
    assert scalar(con, "SELECT count(*) FROM visit_occurrence WHERE care_site_id = ? AND discharge_to_source_value = '9'", [scope["care_site_id"]]) == 0
    assert scalar(con, "SELECT count(*) FROM visit_occurrence WHERE care_site_id <> ? AND discharge_to_source_value = '9'", [scope["care_site_id"]]) > 5


def test_arem_lag_months_are_incomplete(con, manifest):
    months = _scope(manifest, "arem_lag")["months"]
    assert months[-1] == "2026-10" and len(months) >= 2
    ratio = con.execute("""
        SELECT strftime(v.visit_end_datetime, '%Y-%m') AS month,
               count(*) FILTER (WHERE c.cdm_source = 'AREM') * 1.0 / count(*) FILTER (WHERE c.cdm_source = 'ORBIS')
        FROM condition_occurrence c JOIN visit_occurrence v USING (visit_occurrence_id)
        WHERE v.visit_source_value <> 'urgence' AND v.visit_end_datetime >= v.visit_start_datetime GROUP BY 1""").fetchall()
    by_month = dict(ratio)
    assert by_month["2026-10"] == 0
    assert all(by_month[m] < 1.0 for m in months if m in by_month)
    assert by_month["2026-01"] > 0.95


def test_implausible_birth_dates_spare_weighed_patients(con, flawed):
    # Otherwise the patient's weight and height would also look implausible for the (wrong) age: two flaws in one.
    listed = ",".join(map(str, flawed["birth_date_implausible"]))
    weighed = scalar(con, f"""
        SELECT count(*) FROM measurement m JOIN concept_relationship r ON r.concept_id_1 = m.measurement_source_concept_id
        JOIN concept l ON l.concept_id = r.concept_id_2
        WHERE r.relationship_id = 'Maps to' AND l.concept_code IN ('29463-7', '8302-2') AND m.person_id IN ({listed})""")
    assert weighed == 0
