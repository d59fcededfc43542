"""The default warehouse's realism bands (data-model.md §3), checked on the 2,000-patient session warehouse.

The bands of the brief hold for the default 20,000-patient build; on 2,000
patients sampling noise is about three times larger, so each test states the
wider tolerance it uses. Every figure is computed here with plain SQL.
"""

from __future__ import annotations

from .sql import scalar

# Stays that carry a stay-level flaw are left out of the realism figures.
CLEAN = """visit_end_datetime IS NOT NULL AND visit_end_datetime >= visit_start_datetime
           AND row_status_source_value = 'courant'"""
FULL_MCO = f"stay_source_value = 'MCO' AND visit_source_value = 'hospitalisés' AND {CLEAN}"
NIGHTS = "date_diff('day', visit_start_datetime::DATE, visit_end_datetime::DATE)"


def test_zero_night_share_of_mco_stays_excluding_seances(con):
    # Brief: 35-55 %; tolerance on 2,000 patients: 32-58 %.
    share = scalar(con, f"""
        SELECT avg(CASE WHEN {NIGHTS} = 0 THEN 1.0 ELSE 0 END)
        FROM visit_occurrence v LEFT JOIN cost c USING (visit_occurrence_id)
        WHERE v.stay_source_value = 'MCO' AND v.visit_source_value IN ('hospitalisés', 'hospitalisation incomplète')
          AND {CLEAN} AND coalesce(c.drg_source_value, '') NOT LIKE '28%'""")
    assert 0.32 <= share <= 0.58


def test_full_hospitalisation_length_has_the_right_mean_and_a_long_tail(con):
    # Brief: mean 4.5-6.5 days; tolerance on 2,000 patients: 4.2-6.8. Long tail: p95 at least twice the mean, max >= 30.
    mean, p95, longest = con.execute(f"SELECT avg({NIGHTS}), quantile_cont({NIGHTS}, 0.95), max({NIGHTS}) FROM visit_occurrence WHERE {FULL_MCO}").fetchone()
    assert 4.2 <= mean <= 6.8
    assert p95 >= 2 * mean
    assert longest >= 30


def test_seances_are_zero_night_cmd28_and_repeated(con):
    nights = con.execute(f"""
        SELECT max({NIGHTS}), count(*) FROM visit_occurrence JOIN cost USING (visit_occurrence_id)
        WHERE drg_source_value LIKE '28Z%'""").fetchone()
    assert nights[0] == 0 and nights[1] > 100
    assert all(ghm.endswith("Z") for (ghm,) in con.execute("SELECT DISTINCT drg_source_value FROM cost WHERE drg_source_value LIKE '28%'").fetchall())
    repeated = scalar(con, """
        SELECT count(*) FROM (SELECT v.person_id FROM visit_occurrence v JOIN cost USING (visit_occurrence_id)
                              WHERE drg_source_value LIKE '28%' GROUP BY v.person_id HAVING count(*) >= 4)""")
    assert repeated >= 10


def test_emergency_visits_followed_by_an_admission(con):
    # Brief: 15-25 % of emergency visits lead to an admission (provenance 5, within 24 h); tolerance 13-27 %.
    share = scalar(con, """
        SELECT avg(CASE WHEN EXISTS (
            SELECT 1 FROM visit_occurrence a
            WHERE a.person_id = u.person_id AND a.provenance_source_value = '5'
              AND a.visit_start_datetime >= u.visit_start_datetime
              AND a.visit_start_datetime < u.visit_start_datetime + INTERVAL 24 HOUR) THEN 1.0 ELSE 0 END)
        FROM visit_occurrence u WHERE u.visit_source_value = 'urgence'""")
    assert 0.13 <= share <= 0.27
    orphans = scalar(con, """
        SELECT count(*) FROM visit_occurrence a WHERE a.provenance_source_value = '5' AND NOT EXISTS (
            SELECT 1 FROM visit_occurrence u WHERE u.person_id = a.person_id AND u.visit_source_value = 'urgence'
              AND a.visit_start_datetime BETWEEN u.visit_start_datetime AND u.visit_start_datetime + INTERVAL 24 HOUR)""")
    assert orphans == 0


def test_in_hospital_mortality_of_full_stays(con):
    # Brief: 1.5-3.5 %; tolerance on 2,000 patients (about 1,500 stays): 1.0-4.0 %.
    rate = scalar(con, f"SELECT avg(CASE WHEN discharge_to_source_value = '9' THEN 1.0 ELSE 0 END) FROM visit_occurrence WHERE {FULL_MCO}")
    assert 0.010 <= rate <= 0.040


def test_deaths_are_consistent_with_discharge_mode_9(con, flawed):
    mismatched = con.execute("""
        SELECT v.visit_occurrence_id FROM visit_occurrence v JOIN person p USING (person_id)
        WHERE v.discharge_to_source_value = '9' AND (p.death_datetime IS NULL OR p.death_datetime <> v.visit_end_datetime)""").fetchall()
    assert mismatched == []
    after_death = {row[0] for row in con.execute("""
        SELECT v.visit_occurrence_id FROM visit_occurrence v JOIN person p USING (person_id)
        WHERE v.visit_start_datetime > p.death_datetime""").fetchall()}
    assert after_death == flawed["event_after_death"]


def test_winter_admissions_exceed_summer_and_weekends_are_quiet(con):
    winter, summer = con.execute("""
        SELECT count(*) FILTER (WHERE month(visit_start_datetime) IN (12, 1, 2)),
               count(*) FILTER (WHERE month(visit_start_datetime) IN (6, 7, 8))
        FROM visit_occurrence WHERE visit_source_value = 'hospitalisés'""").fetchone()
    assert winter > 1.1 * summer
    monday, sunday = con.execute("""
        SELECT count(*) FILTER (WHERE dayofweek(visit_start_datetime) = 1), count(*) FILTER (WHERE dayofweek(visit_start_datetime) = 0)
        FROM visit_occurrence WHERE visit_source_value = 'hospitalisation incomplète'""").fetchone()
    assert sunday < 0.5 * monday


def test_stay_fields_modes_transfers_mutations_and_readmissions(con):
    fields = dict(con.execute("SELECT stay_source_value, count(*) FROM visit_occurrence GROUP BY 1").fetchall())
    assert fields["MCO"] > 0.8 * sum(fields.values()) and fields["SSR"] > 0 and fields["Psychiatrie"] > 0
    visits = {row[0] for row in con.execute("SELECT DISTINCT visit_source_value FROM visit_occurrence").fetchall()}
    assert visits == {"hospitalisés", "hospitalisation incomplète", "urgence", "consultation externe"}
    transfers = scalar(con, "SELECT count(*) FROM visit_occurrence WHERE discharge_to_source_value = '7'")
    mutations = scalar(con, "SELECT count(*) FROM visit_occurrence WHERE discharge_to_source_value = '6' AND visit_source_value = 'hospitalisés'")
    received = scalar(con, "SELECT count(*) FROM visit_occurrence WHERE admitted_from_source_value = '7'")
    assert transfers > 10 and mutations > 10 and received > 10
    readmissions = scalar(con, """
        SELECT count(*) FROM visit_occurrence a JOIN visit_occurrence b
          ON b.person_id = a.person_id AND b.visit_start_datetime > a.visit_end_datetime
         AND b.visit_start_datetime <= a.visit_end_datetime + INTERVAL 30 DAY
        WHERE a.visit_source_value = 'hospitalisés' AND b.visit_source_value = 'hospitalisés' AND a.discharge_to_source_value = '8'""")
    assert readmissions > 30


def test_open_stays_are_recent_except_the_flaw(con, flawed):
    # Stays last at most 180 nights, so a stay still open started less than 181 days before the extraction.
    extraction = scalar(con, "SELECT extraction_date::TIMESTAMP FROM _metadata")
    old_open = {row[0] for row in con.execute(
        "SELECT visit_occurrence_id FROM visit_occurrence WHERE visit_end_datetime IS NULL AND visit_start_datetime < ?::DATE - INTERVAL 181 DAY",
        [extraction]).fetchall()}
    assert old_open <= flawed["stay_end_missing_old"]
    assert scalar(con, "SELECT count(*) FROM visit_occurrence WHERE visit_end_datetime IS NULL") > len(old_open)
    assert scalar(con, "SELECT max(visit_start_datetime) FROM visit_occurrence") < extraction


def test_age_sex_pyramid(con):
    women, old, children, total = con.execute("""
        SELECT count(*) FILTER (WHERE sex = 'F'), count(*) FILTER (WHERE birth_date < DATE '2026-10-31' - INTERVAL 65 YEAR),
               count(*) FILTER (WHERE birth_date > DATE '2026-10-31' - INTERVAL 15 YEAR), count(*)
        FROM person_identity""").fetchone()
    assert 0.48 <= women / total <= 0.58
    assert 0.20 <= old / total <= 0.45
    assert 0.05 <= children / total <= 0.20


def test_ghm_consistent_with_length_death_and_reference(con):
    rows = con.execute(f"""
        SELECT c.drg_source_value, {NIGHTS} AS nights, v.discharge_to_source_value
        FROM cost c JOIN visit_occurrence v USING (visit_occurrence_id) WHERE {CLEAN}""").fetchall()
    for ghm, nights, discharge in rows:
        assert len(ghm) == 6 and ghm[:2].isdigit() and ghm[2] in "CKMZ"
        if ghm.startswith("28"):
            assert ghm[-1] == "Z"
        elif nights == 0:
            assert ghm[-1] in ("JT" if ghm[2] in "CKM" else "Z"), (ghm, nights)
            assert ghm[-1] != "J" or ghm[2] in "CK"
        else:
            assert ghm[-1] in "1234E", (ghm, nights)
        assert ghm[-1] != "E" or discharge == "9"
    assert any(ghm[-1] == "E" for ghm, _, _ in rows)
    assert any(ghm[2] == "C" for ghm, _, _ in rows)
    missing = con.execute("SELECT DISTINCT drg_source_value FROM cost WHERE drg_source_value NOT IN (SELECT ghm FROM ghm_reference_dms)").fetchall()
    assert missing == []
    assert {row[0] for row in con.execute("SELECT DISTINCT source FROM ghm_reference_dms").fetchall()} == {"synthétique, cohérent avec le générateur"}


def test_cost_only_for_closed_mco_hospitalisations(con):
    wrong = scalar(con, """
        SELECT count(*) FROM cost JOIN visit_occurrence USING (visit_occurrence_id)
        WHERE stay_source_value <> 'MCO' OR visit_source_value NOT IN ('hospitalisés', 'hospitalisation incomplète')""")
    assert wrong == 0
    assert scalar(con, "SELECT count(*) - count(DISTINCT visit_occurrence_id) FROM cost") == 0


def test_biology_is_mapped_to_loinc_and_mostly_validated(con):
    unmapped = scalar(con, """
        SELECT count(*) FROM measurement m WHERE NOT EXISTS (
            SELECT 1 FROM concept_relationship r JOIN concept l ON l.concept_id = r.concept_id_2
            WHERE r.concept_id_1 = m.measurement_source_concept_id AND r.relationship_id = 'Maps to' AND l.vocabulary_id = 'ITM - LOINC')""")
    assert unmapped == 0
    local = {row[0] for row in con.execute("SELECT DISTINCT vocabulary_id FROM concept c JOIN measurement m ON m.measurement_source_concept_id = c.concept_id").fetchall()}
    assert local == {"ITM - ANABIO"}
    validated = scalar(con, "SELECT avg(CASE WHEN row_status_source_value = 'Validé' THEN 1.0 ELSE 0 END) FROM measurement")
    assert 0.85 <= validated < 1.0
    creatinine = con.execute("""
        SELECT min(value_as_number), median(value_as_number), max(value_as_number) FROM measurement m
        JOIN concept_relationship r ON r.concept_id_1 = m.measurement_source_concept_id AND r.relationship_id = 'Maps to'
        JOIN concept l ON l.concept_id = r.concept_id_2 WHERE l.concept_code = '14682-9' AND m.unit_source_value = 'µmol/L'""").fetchone()
    assert 40 <= creatinine[1] <= 130 and creatinine[0] >= 0


def _loinc_rows(con, code: str) -> str:
    return f"""measurement m JOIN concept_relationship r ON r.concept_id_1 = m.measurement_source_concept_id AND r.relationship_id = 'Maps to'
               JOIN concept l ON l.concept_id = r.concept_id_2 AND l.concept_code = '{code}'"""


def test_weight_and_height_for_most_full_stays(con):
    full = scalar(con, "SELECT count(*) FROM visit_occurrence WHERE visit_source_value = 'hospitalisés' AND stay_source_value = 'MCO'")
    weighed = scalar(con, f"SELECT count(DISTINCT m.visit_occurrence_id) FROM {_loinc_rows(con, '29463-7')}")
    measured = scalar(con, f"SELECT count(DISTINCT m.visit_occurrence_id) FROM {_loinc_rows(con, '8302-2')}")
    assert weighed > 0.7 * full and measured > 0.7 * full
    units = {row[0] for row in con.execute(f"SELECT DISTINCT unit_source_value FROM {_loinc_rows(con, '29463-7')}").fetchall()}
    assert units == {"kg"}
    median_adult = scalar(con, f"""SELECT median(value_as_number) FROM {_loinc_rows(con, '8302-2')}
        JOIN person_identity i USING (person_id) WHERE i.birth_date < m.measurement_datetime - INTERVAL 18 YEAR""")
    assert 160 <= median_adult <= 180


def test_notes_name_the_diagnosis_and_stage_cancers(con, vocab_sets):
    # Codes rewritten by the unknown_cim10 flaw (after the report was written) are left out.
    coded = con.execute("""
        SELECT n.note_text, c.condition_source_value FROM note n
        JOIN condition_occurrence c ON c.visit_occurrence_id = n.visit_occurrence_id AND c.condition_status_source_value = 'DP' AND c.cdm_source = 'ORBIS'
        WHERE n.note_class_source_value = 'CRH'""").fetchall()
    rows = [(text, code) for text, code in coded if code in vocab_sets["cim10"]]
    assert len(rows) > 100
    assert all(code in text for text, code in rows)
    cancers = [text for text, code in rows if "C00" <= code[:3] <= "D48"]
    assert cancers and all("TNM" in text for text in cancers)
    # Séances of chemotherapy have DP Z511 and a cancer DR; other non-tumour DPs carry no stage.
    assert not any("TNM" in text for text, code in rows if code[0] not in "CDZ")


def test_nothing_is_dated_after_the_extraction(con):
    columns = {
        "visit_occurrence": ["visit_start_datetime", "visit_end_datetime"], "visit_detail": ["visit_detail_start_datetime"],
        "condition_occurrence": ["condition_start_datetime"], "procedure_occurrence": ["procedure_datetime"],
        "measurement": ["measurement_datetime"], "note": ["note_datetime"],
        "drug_exposure_prescription": ["drug_exposure_start_datetime", "drug_exposure_end_datetime"],
        "drug_exposure_administration": ["drug_exposure_start_datetime", "drug_exposure_end_datetime"],
        "person": ["birth_datetime", "death_datetime"],
    }
    for table, names in columns.items():
        for name in names:
            assert scalar(con, f'SELECT count(*) FROM "{table}", _metadata WHERE "{name}" >= extraction_date') == 0, (table, name)


def test_some_admissions_pass_through_the_emergency_short_stay_unit(con):
    passages = scalar(con, """
        SELECT count(DISTINCT d.visit_occurrence_id) FROM visit_detail d JOIN care_site c USING (care_site_id)
        JOIN visit_occurrence v USING (visit_occurrence_id)
        WHERE c.place_of_service_source_value = 'UHCD AD' AND d.visit_detail_type_source_value = 'PASS UF' AND v.provenance_source_value = '5'""")
    assert passages > 10
