"""Structure of the warehouse: schema contract, codes from the nomenclatures, movements within their stays."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import yaml

from .sql import scalar

SCHEMA = Path(__file__).resolve().parents[2] / "workbench" / "schema" / "aphp_tables.yaml"
DUCKDB_TYPE = {"int64": "BIGINT", "string": "VARCHAR", "timestamp": "TIMESTAMP", "date": "DATE", "float64": "DOUBLE"}


def test_every_table_and_column_of_the_contract_with_its_type(con, demo_dir):
    contract = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    tables = {row[0] for row in con.execute("SHOW TABLES").fetchall()}
    assert tables == set(contract)
    for table, spec in contract.items():
        columns = [(row[0], row[1]) for row in con.execute(f'DESCRIBE "{table}"').fetchall()]
        assert columns == [(name, DUCKDB_TYPE[column["type"]]) for name, column in spec["columns"].items()], table
        assert (demo_dir / "parquet" / f"{table}.parquet").is_file()
        parquet_rows = scalar(con, f"SELECT count(*) FROM read_parquet('{demo_dir / 'parquet' / table}.parquet')")
        assert parquet_rows == scalar(con, f'SELECT count(*) FROM "{table}"') > 0, table


def test_primary_keys_are_unique(con):
    contract = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    for table, spec in contract.items():
        key = spec.get("primary_key")
        if not key:
            continue
        columns = ", ".join(key) if isinstance(key, list) else key
        duplicates = scalar(con, f'SELECT count(*) FROM (SELECT {columns} FROM "{table}" GROUP BY ALL HAVING count(*) > 1)')
        assert duplicates == 0, table


def test_metadata_row(con):
    extraction, generator, seed, n_patients, snapshot, created = con.execute("SELECT * FROM _metadata").fetchone()
    assert str(extraction) == "2026-10-31" and generator.startswith("eds-workbench-demo ")
    assert (seed, n_patients) == (42, 2000) and len(snapshot) == 16 and created is not None
    assert scalar(con, "SELECT count(*) FROM person") == 2000


def test_care_site_tree(con):
    levels = dict(con.execute("SELECT care_site_type_source_value, count(*) FROM care_site GROUP BY 1").fetchall())
    assert levels["AP-HP"] == 1 and levels["Hôpital"] >= 4 and levels["UF"] > levels["Service/Département"] > levels["Pôle/DMU"]
    codes = [row[0] for row in con.execute("SELECT care_site_source_value FROM care_site WHERE care_site_type_source_value = 'Hôpital'").fetchall()]
    assert all(len(code) == 3 and code.isdigit() for code in codes)
    assert scalar(con, "SELECT count(*) FROM fact_relationship WHERE domain_concept_id_1 <> 57 OR domain_concept_id_2 <> 57 OR relationship_concept_id <> 46233688") == 0
    # Every care site but the root has exactly one parent, one level up.
    order = "['AP-HP', 'Hôpital', 'Pôle/DMU', 'Service/Département', 'UF', 'UH', 'UC']"
    wrong = scalar(con, f"""
        SELECT count(*) FROM care_site c LEFT JOIN fact_relationship f ON f.fact_id_1 = c.care_site_id
        LEFT JOIN care_site p ON p.care_site_id = f.fact_id_2
        WHERE c.care_site_type_source_value <> 'AP-HP'
          AND (p.care_site_id IS NULL OR list_position({order}, p.care_site_type_source_value) <>
               least(list_position({order}, c.care_site_type_source_value) - 1, 5))""")
    assert wrong == 0
    places = {row[0] for row in con.execute("SELECT DISTINCT place_of_service_source_value FROM care_site WHERE care_site_type_source_value = 'UF'").fetchall()}
    assert {"REA AD HORS BRULES", "USIC", "SC AD HORS BRULES", "UHCD AD", "HEMODIALYSE AD", "CHIMIOTH AMBU"} <= places


def test_bed_capacities_for_units_that_hold_beds(con):
    units = scalar(con, "SELECT count(DISTINCT care_site_id) FROM care_site_capacity")
    assert units > 100
    assert scalar(con, "SELECT min(beds_installed) FROM care_site_capacity") >= 2
    non_uf = scalar(con, "SELECT count(*) FROM care_site_capacity JOIN care_site USING (care_site_id) WHERE care_site_type_source_value <> 'UF'")
    assert non_uf == 0


def test_codes_exist_in_the_nomenclatures_except_the_unknown_flaws(con, vocab_sets, flawed):
    checks = [
        ("condition_occurrence", "condition_occurrence_id", "condition_source_value", "cim10", "unknown_cim10"),
        ("procedure_occurrence", "procedure_occurrence_id", "procedure_source_value", "ccam", "unknown_ccam"),
        ("drug_exposure_prescription", "drug_exposure_id", "drug_ucd_source_value", "ucd", "unknown_ucd"),
        ("drug_exposure_administration", "drug_exposure_id", "drug_ucd_source_value", "ucd", None),
    ]
    for table, key, column, vocabulary, flaw in checks:
        unknown = {row_id for row_id, code in con.execute(f"SELECT {key}, {column} FROM {table}").fetchall() if code not in vocab_sets[vocabulary]}
        assert unknown == (flawed[flaw] if flaw else set()), table


def test_diagnoses_are_codable_and_fit_sex_and_age(con, vocab_dir):
    with gzip.open(vocab_dir / "cim10_fr.csv.gz", "rt", encoding="utf-8") as handle:
        headers = {line.split(",")[0] for line in handle if line.split(",")[1] == "3"}
    used = {row[0] for row in con.execute("SELECT DISTINCT condition_source_value FROM condition_occurrence").fetchall()}
    assert not used & headers
    obstetric_misfits = scalar(con, """
        SELECT count(*) FROM condition_occurrence c JOIN person_identity i USING (person_id)
        WHERE c.condition_source_value LIKE 'O%'
          AND (i.sex <> 'F' OR date_diff('year', i.birth_date, c.condition_start_datetime::DATE) NOT BETWEEN 15 AND 49)""")
    assert obstetric_misfits == 0
    assert scalar(con, "SELECT count(*) FROM condition_occurrence WHERE condition_source_value LIKE 'O%'") > 10
    statuses = {row[0] for row in con.execute("SELECT DISTINCT condition_status_source_value FROM condition_occurrence").fetchall()}
    assert statuses == {"DP", "DR", "DAS"}
    assert scalar(con, "SELECT count(*) - count(DISTINCT visit_occurrence_id) FROM condition_occurrence WHERE condition_status_source_value = 'DP' AND cdm_source = 'ORBIS'") == 0


def test_acts_respect_sex_compatibility(con, vocab_dir):
    with gzip.open(vocab_dir / "ccam_actes.json.gz", "rt", encoding="utf-8") as handle:
        sex_of = {row["code"]: row["compatibilite_sexe"] for row in json.load(handle)}
    rows = con.execute("SELECT p.procedure_source_value, i.sex FROM procedure_occurrence p JOIN person_identity i USING (person_id)").fetchall()
    misfits = [(code, sex) for code, sex in rows if (sex_of.get(code) == "1" and sex != "M") or (sex_of.get(code) == "2" and sex != "F")]
    assert misfits == []


def test_drug_atc_matches_the_ucd_referential(con, vocab_dir):
    with gzip.open(vocab_dir / "ucd_drugs.json.gz", "rt", encoding="utf-8") as handle:
        atc_of = {str(row["code_ucd"]): row.get("code_atc") for row in json.load(handle)}
    rows = con.execute("SELECT drug_ucd_source_value, drug_class_source_value FROM drug_exposure_administration").fetchall()
    assert rows and all(atc_of[ucd] == atc for ucd, atc in rows)
    administered_without_prescription = scalar(con, """
        SELECT count(*) FROM drug_exposure_administration a WHERE NOT EXISTS (
            SELECT 1 FROM drug_exposure_prescription p WHERE p.visit_occurrence_id = a.visit_occurrence_id
              AND a.drug_exposure_start_datetime BETWEEN p.drug_exposure_start_datetime AND p.drug_exposure_end_datetime)""")
    assert administered_without_prescription == 0


def test_arem_repeats_orbis_only_for_stays_discharged_long_enough_before_extraction(con, flawed):
    early = {row[0] for row in con.execute("""
        SELECT DISTINCT c.visit_occurrence_id FROM condition_occurrence c JOIN visit_occurrence v USING (visit_occurrence_id)
        WHERE c.cdm_source = 'AREM' AND (v.visit_end_datetime IS NULL OR v.visit_end_datetime > DATE '2026-10-31' - INTERVAL 30 DAY)""").fetchall()}
    # Old stays whose end the stay_end_missing_old flaw erased were coded long ago.
    assert early <= flawed["stay_end_missing_old"]
    coverage = scalar(con, """
        SELECT avg(CASE WHEN EXISTS (SELECT 1 FROM condition_occurrence a WHERE a.visit_occurrence_id = o.visit_occurrence_id AND a.cdm_source = 'AREM') THEN 1.0 ELSE 0 END)
        FROM condition_occurrence o JOIN visit_occurrence v USING (visit_occurrence_id)
        WHERE o.cdm_source = 'ORBIS' AND o.condition_status_source_value = 'DP' AND v.visit_source_value <> 'urgence'
          AND v.visit_end_datetime < DATE '2026-10-31' - INTERVAL 76 DAY AND v.visit_end_datetime >= v.visit_start_datetime""")
    assert coverage == 1.0


MOVEMENT_STAY = """
    FROM visit_detail d JOIN visit_occurrence v USING (visit_occurrence_id)
    WHERE v.visit_end_datetime IS NOT NULL AND v.visit_end_datetime >= v.visit_start_datetime
"""


def test_movements_lie_within_their_stays_except_the_flaw(con, flawed):
    # Stays whose own dates carry a flaw (end before start, end erased) are left out: their movements keep the true dates.
    outside = {row[0] for row in con.execute(f"""
        SELECT d.visit_detail_id {MOVEMENT_STAY}
          AND (d.visit_detail_start_datetime < v.visit_start_datetime OR d.visit_detail_end_datetime > v.visit_end_datetime
               OR d.visit_detail_end_datetime IS NULL)""").fetchall()}
    assert outside == flawed["movement_outside_stay"]


def test_unit_passages_tile_each_stay(con, flawed):
    excluded = ",".join(str(i) for i in flawed["movement_outside_stay"]) or "-1"
    gaps = scalar(con, f"""
        WITH passages AS (
            SELECT d.visit_occurrence_id, d.visit_detail_start_datetime AS s, d.visit_detail_end_datetime AS e,
                   lag(d.visit_detail_end_datetime) OVER (PARTITION BY d.visit_occurrence_id ORDER BY d.visit_detail_start_datetime) AS previous_end
            {MOVEMENT_STAY} AND d.visit_detail_type_source_value = 'PASS UF'
              AND d.visit_occurrence_id NOT IN (SELECT visit_occurrence_id FROM visit_detail WHERE visit_detail_id IN ({excluded})))
        SELECT count(*) FROM passages WHERE previous_end IS NOT NULL AND previous_end <> s""")
    assert gaps == 0
    bounds = scalar(con, f"""
        SELECT count(*) FROM (
            SELECT v.visit_occurrence_id, min(d.visit_detail_start_datetime) AS s, max(d.visit_detail_end_datetime) AS e, any_value(v.visit_start_datetime) AS vs, any_value(v.visit_end_datetime) AS ve
            {MOVEMENT_STAY} AND d.visit_detail_type_source_value = 'PASS UF'
              AND d.visit_occurrence_id NOT IN (SELECT visit_occurrence_id FROM visit_detail WHERE visit_detail_id IN ({excluded}))
            GROUP BY v.visit_occurrence_id) WHERE s <> vs OR e <> ve""")
    assert bounds == 0


def test_movements_are_in_units_of_the_stays_hospital(con):
    wrong = scalar(con, """
        WITH RECURSIVE up(care_site_id, ancestor) AS (
            SELECT care_site_id, care_site_id FROM care_site
            UNION ALL
            SELECT up.care_site_id, f.fact_id_2 FROM up JOIN fact_relationship f ON f.fact_id_1 = up.ancestor
        )
        SELECT count(*) FROM visit_detail d JOIN visit_occurrence v USING (visit_occurrence_id)
        WHERE NOT EXISTS (SELECT 1 FROM up WHERE up.care_site_id = d.care_site_id AND up.ancestor = v.care_site_id)""")
    assert wrong == 0
    types = {row[0] for row in con.execute("SELECT DISTINCT visit_detail_type_source_value FROM visit_detail").fetchall()}
    assert types == {"PASS UF", "PASS UH", "PASS UC", "RUM"}


def test_measurements_lie_within_their_stays_except_the_flaw(con, flawed):
    outside = {row[0] for row in con.execute("""
        SELECT m.measurement_id FROM measurement m JOIN visit_occurrence v USING (visit_occurrence_id)
        WHERE v.visit_end_datetime IS NOT NULL AND v.visit_end_datetime >= v.visit_start_datetime
          AND (m.measurement_datetime < v.visit_start_datetime OR m.measurement_datetime > v.visit_end_datetime)""").fetchall()}
    assert outside == flawed["measurement_outside_stay"]
