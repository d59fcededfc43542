"""The standard-OMOP check set generated from DQD's specification: counts, thresholds, "not applicable", JSON.

The warehouse below is a CDM 5.4 DuckDB file written by hand (columns typed
from the packaged CDM specification); every planted violation is commented
where it is planted, and the expected counts are stated from those rows.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from workbench.quality import dqd, run_checks
from workbench.quality.context import CheckContext

D = dt.date
SQL = {"int64": "BIGINT", "float64": "DOUBLE", "date": "DATE", "timestamp": "TIMESTAMP", "string": "VARCHAR"}
RESOURCES = Path(dqd.__file__).resolve().parent.parent / "resources" / "dqd"
VOCABULARY = ("CONCEPT", "VOCABULARY", "CONCEPT_ANCESTOR", "CONCEPT_RELATIONSHIP", "CONCEPT_CLASS",
              "CONCEPT_SYNONYM", "RELATIONSHIP", "DOMAIN")

ROWS: dict[str, list[dict[str, Any]]] = {
    "cdm_source": [{"cdm_source_name": "fixture", "cdm_version": "v5.4"}],
    "person": [
        {"person_id": 1, "gender_concept_id": 8507, "year_of_birth": 1950},
        {"person_id": 2, "gender_concept_id": 8532, "year_of_birth": 1990},
        {"person_id": 3, "gender_concept_id": 8532, "year_of_birth": 1980},  # born 1980-01-01 (DQD's fallback)
        {"person_id": 4, "gender_concept_id": 8507, "year_of_birth": 2000},  # no observation period
    ],
    "death": [{"person_id": 2, "death_date": D(2020, 3, 1)}],
    "observation_period": [
        {"observation_period_id": 1, "person_id": 1, "observation_period_start_date": D(2020, 1, 1),
         "observation_period_end_date": D(2020, 6, 30)},
        {"observation_period_id": 2, "person_id": 1, "observation_period_start_date": D(2020, 7, 1),
         "observation_period_end_date": D(2020, 12, 31)},  # back to back with period 1: person 1 violates
        {"observation_period_id": 3, "person_id": 2, "observation_period_start_date": D(2019, 1, 1),
         "observation_period_end_date": D(2020, 3, 1)},
        {"observation_period_id": 4, "person_id": 3, "observation_period_start_date": D(2020, 1, 1),
         "observation_period_end_date": D(2020, 12, 31)},
        {"observation_period_id": 5, "person_id": 3, "observation_period_start_date": D(2020, 6, 1),
         "observation_period_end_date": D(2021, 3, 31)},  # overlaps period 4: person 3 violates
    ],
    "visit_occurrence": [
        {"visit_occurrence_id": 10, "person_id": 1, "visit_concept_id": 9201, "visit_start_date": D(2020, 2, 1),
         "visit_end_date": D(2020, 2, 5)},
        {"visit_occurrence_id": 11, "person_id": 2, "visit_concept_id": 9201, "visit_start_date": D(2020, 2, 10),
         "visit_end_date": D(2020, 2, 12)},
        {"visit_occurrence_id": 12, "person_id": 3, "visit_concept_id": 9202, "visit_start_date": D(2020, 5, 1),
         "visit_end_date": D(2020, 5, 1)},
    ],
    "visit_detail": [],  # header only
    "condition_occurrence": [
        # 26662 "Testicular hypofunction" is plausible for men only (DQD's Concept_Level file)
        {"condition_occurrence_id": 100, "person_id": 1, "condition_concept_id": 26662, "visit_occurrence_id": 10,
         "condition_start_date": D(2020, 2, 2), "condition_source_value": "T"},
        {"condition_occurrence_id": 101, "person_id": 3, "condition_concept_id": 26662, "visit_occurrence_id": 12,
         "condition_start_date": D(2020, 5, 1), "condition_source_value": "T"},  # a woman: plausibleGender
        {"condition_occurrence_id": 102, "person_id": 2, "condition_concept_id": 0, "visit_occurrence_id": 11,
         "condition_start_date": D(2020, 2, 11), "condition_source_value": "A"},
        # 92 days after death, 110 days after its visit's end: plausibleBeforeDeath, withinVisitDates
        {"condition_occurrence_id": 103, "person_id": 2, "condition_concept_id": 0, "visit_occurrence_id": 11,
         "condition_start_date": D(2020, 6, 1), "condition_source_value": "A"},
        # no start date: isRequired; source value null and concept 0
        {"condition_occurrence_id": 104, "person_id": 1, "condition_concept_id": 0, "visit_occurrence_id": 10,
         "condition_start_date": None, "condition_source_value": None},
        # the same id again (isPrimaryKey: both rows), a person absent from person (isForeignKey)
        {"condition_occurrence_id": 104, "person_id": 99, "condition_concept_id": 201826,
         "condition_start_date": D(1940, 1, 1), "condition_source_value": "C"},
        # before birth (plausibleAfterBirth); concept 4000 is a non-standard Measurement concept (fkDomain, standard)
        {"condition_occurrence_id": 105, "person_id": 3, "condition_concept_id": 4000,
         "condition_start_date": D(1975, 6, 1), "condition_source_value": "B"},
    ],
    "concept": [
        {"concept_id": 0, "concept_name": "No matching concept", "domain_id": "Metadata", "concept_class_id": "Undefined"},
        {"concept_id": 26662, "concept_name": "Testicular hypofunction", "domain_id": "Condition",
         "concept_class_id": "Clinical Finding", "standard_concept": "S"},
        {"concept_id": 201826, "concept_name": "Type 2 diabetes mellitus", "domain_id": "Condition",
         "concept_class_id": "Clinical Finding", "standard_concept": "S"},
        {"concept_id": 4000, "concept_name": "Some lab test", "domain_id": "Measurement",
         "concept_class_id": "Lab Test", "standard_concept": None},
        *[{"concept_id": c, "concept_name": n, "domain_id": d, "concept_class_id": d, "standard_concept": "S"}
          for c, n, d in [(8507, "MALE", "Gender"), (8532, "FEMALE", "Gender"), (9201, "Inpatient Visit", "Visit"),
                          (9202, "Outpatient Visit", "Visit")]],
    ],
}
# the export has no condition_occurrence.condition_status_concept_id column (cdmField fails)
DROPPED = {"condition_occurrence": {"condition_status_concept_id"}}


def write_cdm54(path: Path) -> None:
    """A DuckDB file holding ROWS, every table with all its CDM 5.4 columns (less DROPPED), typed by the CDM."""
    from workbench.schema.cdm import cdm_types

    with duckdb.connect(str(path)) as con:
        for table, rows in ROWS.items():
            types = {c: t for c, t in cdm_types("5.4", table).items() if c not in DROPPED.get(table, set())}
            con.execute(f'CREATE TABLE "{table}" ({", ".join(f"{c} {SQL[t]}" for c, t in types.items())})')
            for row in rows:
                assert set(row) <= set(types), f"{table}: {set(row) - set(types)}"
            if rows:
                marks = ", ".join("?" for _ in types)
                con.executemany(f'INSERT INTO "{table}" VALUES ({marks})', [[r.get(c) for c in types] for r in rows])


@pytest.fixture(scope="module")
def cdm54(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from workbench.catalog import write_catalog
    from workbench.warehouse import open as open_warehouse

    folder = tmp_path_factory.mktemp("dqd")
    write_cdm54(folder / "cdm.duckdb")
    write_catalog(folder / "cdm.duckdb", "omop", folder / "catalog.yaml")
    return open_warehouse(folder / "catalog.yaml")


@pytest.fixture(scope="module")
def dqd_run(cdm54: Any) -> Any:
    return run_checks(cdm54, ["dqd_*"])


def result(run: Any, dqd_id: str) -> Any:
    return run.by_id()[f"dqd_{dqd_id}"]


def counts(run: Any, dqd_id: str) -> tuple[str, int | None, int | None]:
    found = result(run, dqd_id)
    return found.status.value, found.num_violated_rows, found.num_denominator_rows


# ------------------------------------------------------------------ the specification

def test_every_check_type_of_the_description_files_is_generated_with_its_filter():
    for version in dqd.VERSIONS:
        names = dqd.check_types(version)
        assert len(names) == 27 and "measureObservationPeriodOverlap" in names
        assert set(names) == set(dqd.MEASURES)
        assert {spec.name for spec in dqd.spec_checks(version)} == set(names)


@pytest.mark.parametrize("version", ["5.3", "5.4"])
@pytest.mark.parametrize(("check", "level", "where"), [
    ("isRequired", "Field", "isRequired = 'Yes' AND lower(cdmFieldName) <> 'offset'"),
    ("isForeignKey", "Field", "isForeignKey = 'Yes' AND lower(cdmFieldName) <> 'offset'"),
    ("cdmDatatype", "Field", "cdmDatatype = 'integer' AND lower(cdmFieldName) <> 'offset'"),
    ("plausibleGender", "Concept", "coalesce(plausibleGender, '') <> ''"),
    ("plausibleUnitConceptIds", "Concept", "plausibleUnitConceptIdsThreshold IS NOT NULL"),
    ("measurePersonCompleteness", "Table", "measurePersonCompleteness = 'Yes'"),
])
def test_generated_counts_equal_an_independent_query_on_the_packaged_files(version, check, level, where):
    path = RESOURCES / f"dqd_OMOP_CDMv{version}_{level}_Level.csv"
    excluded = ", ".join(f"'{name}'" for name in VOCABULARY)
    with duckdb.connect() as con:
        (expected,) = con.execute(
            f"SELECT count(*) FROM read_csv('{path}', header=true, all_varchar=true) "
            f"WHERE upper(cdmTableName) NOT IN ({excluded}) AND {where}").fetchone()
    assert expected > 0
    assert sum(1 for spec in dqd.spec_checks(version) if spec.name == check) == expected


def test_check_ids_and_thresholds_are_dqds():
    spec = dqd.by_id("5.4")["dqd_field_withinvisitdates_condition_occurrence_condition_start_date"]
    assert (spec.dqd_id, spec.threshold) == ("field_withinvisitdates_condition_occurrence_condition_start_date", 5.0)
    gender = dqd.by_id("5.4")["dqd_concept_plausiblegender_condition_occurrence_condition_concept_id_26662"]
    assert (gender.concept, gender.row["plausibleGender"], gender.threshold) == ("26662", "Male", 5.0)


# ------------------------------------------------------------------ counts on the hand-written warehouse

def test_planted_violations_are_counted_as_by_hand(dqd_run):
    expected = {
        "field_isrequired_condition_occurrence_condition_start_date": ("failed", 1, 7),
        "field_isprimarykey_condition_occurrence_condition_occurrence_id": ("failed", 2, 7),
        "field_isforeignkey_condition_occurrence_person_id": ("failed", 1, 7),
        "field_isforeignkey_condition_occurrence_visit_occurrence_id": ("passed", 0, 7),
        # joined to a visit: rows 100-104; 103 is 110 days after its visit's end (1/5 = 20 % > 5 %)
        "field_withinvisitdates_condition_occurrence_condition_start_date": ("failed", 1, 5),
        # rows of the dead person 2 with a start date: 102, 103; 103 is > 60 days after death
        "field_plausiblebeforedeath_condition_occurrence_condition_start_date": ("failed", 1, 2),
        # rows with a start date: 6; row 105 before person 3's birth (row of person 99: no person, not judged)
        "field_plausibleafterbirth_condition_occurrence_condition_start_date": ("failed", 1, 6),
        "concept_plausiblegender_condition_occurrence_condition_concept_id_26662": ("failed", 1, 2),
        # distinct source values T, A, null, C, B: A and null have rows mapped to 0 (2/5 = 40 % > 10 %)
        "field_sourcevaluecompleteness_condition_occurrence_condition_source_value": ("failed", 2, 5),
        # concept 0 on rows 102, 103, 104 (3/7 = 42.9 % > 5 %)
        "field_standardconceptrecordcompleteness_condition_occurrence_condition_concept_id": ("failed", 3, 7),
        "field_fkdomain_condition_occurrence_condition_concept_id": ("failed", 1, 7),
        "field_isstandardvalidconcept_condition_occurrence_condition_concept_id": ("failed", 1, 7),
        # persons with periods: 1, 2, 3; 1 (back to back) and 3 (overlap) violate
        "table_measureobservationperiodoverlap_observation_period": ("failed", 2, 3),
        "table_measurepersoncompleteness_observation_period": ("failed", 1, 4),
        "table_cdmtable_person": ("passed", 0, 1),
        "table_cdmtable_drug_exposure": ("failed", 1, 1),
        "field_cdmfield_condition_occurrence_condition_status_concept_id": ("failed", 1, 1),
        "field_measurevaluecompleteness_condition_occurrence_condition_end_date": ("passed", 7, 7),
    }
    assert {key: counts(dqd_run, key) for key in expected} == expected


def test_dqds_not_applicable_rules(dqd_run):
    cases = {
        "field_isrequired_drug_exposure_drug_exposure_id": "Table drug_exposure absente",
        "field_cdmfield_drug_exposure_drug_exposure_id": "Table drug_exposure absente",
        "field_isforeignkey_condition_occurrence_condition_status_concept_id":
            "condition_occurrence.condition_status_concept_id absent",
        "field_isrequired_visit_detail_visit_detail_id": "Table visit_detail vide",
        "field_plausibletemporalafter_condition_occurrence_condition_end_date":
            "Champ condition_occurrence.condition_end_date jamais renseigné",
        # a concept never recorded
        "concept_plausiblegender_condition_occurrence_condition_concept_id_194997": "194997 absent",
        # condition_era is not in this export: not applicable, not an error
        "table_measureconditioneracompleteness_condition_era": "condition_era absente",
    }
    for key, reason in cases.items():
        found = result(dqd_run, key)
        assert found.status.value == "not_applicable" and reason in found.reason, (key, found.reason)
    # an empty table is present: cdmTable passes; a person-completeness on it is never "not applicable"
    # (all 4 persons lack a row; DQD tolerates 100 % for visit_detail)
    assert counts(dqd_run, "table_cdmtable_visit_detail") == ("passed", 0, 1)
    assert counts(dqd_run, "table_measurepersoncompleteness_visit_detail") == ("passed", 4, 4)
    assert result(dqd_run, "table_measurepersoncompleteness_visit_detail").threshold == 100.0


def test_the_whole_set_runs_without_error_and_only_for_the_cdm_version(dqd_run):
    assert {r.status.value for r in dqd_run.results} <= {"passed", "failed", "not_applicable"}
    assert {r.id for r in dqd_run.results} == set(dqd.by_id("5.4"))


def test_violating_rows_of_one_check_are_listed(cdm54):
    from workbench.quality import violating_ids

    assert violating_ids(cdm54, "dqd_field_isprimarykey_condition_occurrence_condition_occurrence_id") == [104]
    assert violating_ids(cdm54, "dqd_table_measureobservationperiodoverlap_observation_period") == [1, 3]


def test_coverage_per_check_type(cdm54):
    rows = {row["check"]: row for row in dqd.coverage(CheckContext(cdm54))}
    assert len(rows) == 27
    # tables present: cdm_source, person, death, observation_period, visit_occurrence, visit_detail,
    # condition_occurrence (concept is a vocabulary table, excluded as DQD does); 31 tables in the 5.4 file
    assert (rows["cdmTable"]["spec_all_tables"], rows["cdmTable"]["spec_tables_present"]) == (31, 7)
    assert rows["measureObservationPeriodOverlap"]["spec_tables_present"] == 1
    assert all(row["ours"] == row["spec_tables_present"] and row["gap_pct"] == 0 for row in rows.values())


def test_aphp_flavour_runs_no_dqd_check(make_warehouse):
    warehouse = make_warehouse({"person": []})
    assert dqd.cdm_version(CheckContext(warehouse)) is None
    assert not [r for r in run_checks(warehouse, ["dqd_table_cdmtable_*", "person_primary_key"]).results
                if r.id.startswith("dqd_")]


# ------------------------------------------------------------------ DQD's results JSON

# The fields DQD writes per check, read in OHDSI/DataQualityDashboard: R/recordResult.R (data.frame of
# .recordResult), R/evaluateThresholds.R (failed, passed, isError, notApplicable, notApplicableReason,
# thresholdValue, notesValue) — the JSON is written from that frame (R/writeJsonResultsTo.R).
DQD_CHECK_FIELDS = {
    "numViolatedRows", "pctViolatedRows", "numDenominatorRows", "executionTime", "queryText", "checkName",
    "checkLevel", "checkDescription", "cdmTableName", "cdmFieldName", "conceptId", "unitConceptId", "sqlFile",
    "category", "subcategory", "context", "warning", "error", "checkId", "failed", "passed", "isError",
    "notApplicable", "notApplicableReason", "thresholdValue", "notesValue",
}
# R/executeDqChecks.R (allResults) and R/summarizeResults.R
DQD_TOP_FIELDS = {"startTimestamp", "endTimestamp", "executionTime", "executionTimeSeconds", "CheckResults",
                  "Metadata", "Overview"}


def test_dqd_json_has_dqds_fields(dqd_run):
    payload = json.loads(json.dumps(dqd.dqd_json(dqd_run, "5.4")))
    assert set(payload) == DQD_TOP_FIELDS
    records = {r["checkId"]: r for r in payload["CheckResults"]}
    assert len(records) == len(dqd_run.results)
    assert all(set(record) == DQD_CHECK_FIELDS for record in records.values())
    within = records["field_withinvisitdates_condition_occurrence_condition_start_date"]
    assert (within["numViolatedRows"], within["numDenominatorRows"], within["pctViolatedRows"]) == (1, 5, 0.2)
    assert (within["checkName"], within["checkLevel"], within["cdmTableName"], within["cdmFieldName"]) == (
        "withinVisitDates", "FIELD", "CONDITION_OCCURRENCE", "CONDITION_START_DATE")
    assert (within["failed"], within["passed"], within["isError"], within["notApplicable"]) == (1, 0, 0, 0)
    assert within["thresholdValue"] == 5.0 and within["category"] == "Plausibility"
    required = records["field_isrequired_condition_occurrence_condition_start_date"]["checkDescription"]
    assert "@" not in required and "CONDITION_START_DATE" in required and "CONDITION_OCCURRENCE" in required
    empty = records["field_isrequired_visit_detail_visit_detail_id"]
    assert (empty["notApplicable"], empty["failed"], empty["passed"]) == (1, 0, 0) and empty["notApplicableReason"]
    gender = records["concept_plausiblegender_condition_occurrence_condition_concept_id_26662"]
    assert gender["conceptId"] == "26662" and gender["checkLevel"] == "CONCEPT"
    overview = payload["Overview"]
    assert overview["countTotal"] == len(records)
    assert overview["countOverallFailed"] == sum(r["failed"] for r in records.values())


def test_cli_dqd_json_and_coverage(cdm54, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from workbench.cli import app

    monkeypatch.setenv("WORKBENCH_STATE", str(tmp_path / "state"))
    runner = CliRunner()
    base = ["--catalog", str(cdm54.catalog_path), "quality"]
    done = runner.invoke(app, base + ["run", "--checks", "dqd_table_*", "--format", "dqd"])
    assert done.exit_code == 0, done.output
    payload = json.loads(done.stdout)
    assert {r["checkLevel"] for r in payload["CheckResults"]} == {"TABLE"}
    assert payload["Metadata"][0]["cdmVersion"] == "5.4"
    shown = runner.invoke(app, base + ["dqd-coverage", "--format", "json"])
    assert shown.exit_code == 0, shown.output
    types = {row["check"]: row for row in json.loads(shown.stdout)["check_types"]}
    assert len(types) == 27
    # the stored run above (table checks only) gives the statuses of its types, over the 7 tables present
    assert (types["cdmTable"]["passed"], types["cdmTable"]["failed"], types["cdmTable"]["error"]) == (7, 0, 0)
    assert (types["measureObservationPeriodOverlap"]["failed"], types["cdmTable"]["ours"]) == (1, 7)
    assert types["isRequired"]["passed"] == 0  # not in that run


def test_cli_dqd_json_refused_on_an_aphp_source(make_warehouse, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from workbench.cli import app

    monkeypatch.setenv("WORKBENCH_STATE", str(tmp_path / "state"))
    warehouse = make_warehouse({"person": []})
    done = CliRunner().invoke(app, ["--catalog", str(warehouse.catalog_path), "quality", "run", "--format", "dqd"])
    from workbench.errors import UserError

    assert done.exit_code != 0 and isinstance(done.exception, UserError) and "aphp" in str(done.exception)


# ------------------------------------------------------------------ real exports

def test_within_stay_checks_on_visits_typed_as_dates(tmp_path):
    """A source whose visit bounds are dates (a standard export): `end + 30 days` must still be computed."""
    from conftest import write_duckdb

    from workbench.catalog import write_catalog
    from workbench.warehouse import open as open_warehouse

    write_duckdb(tmp_path / "eds.duckdb", {
        "person": [{"person_id": 1}],
        "visit_occurrence": [{"visit_occurrence_id": 1, "person_id": 1, "visit_start_datetime": dt.datetime(2024, 1, 1),
                              "visit_end_datetime": dt.datetime(2024, 1, 10)}],
        "note": [  # 26 days after discharge (within the month allowed), then 51 days after (violates)
            {"note_id": 1, "person_id": 1, "visit_occurrence_id": 1, "note_datetime": dt.datetime(2024, 2, 5)},
            {"note_id": 2, "person_id": 1, "visit_occurrence_id": 1, "note_datetime": dt.datetime(2024, 3, 1)},
        ],
    })
    with duckdb.connect(str(tmp_path / "eds.duckdb")) as con:
        for column in ("visit_start_datetime", "visit_end_datetime"):
            con.execute(f"ALTER TABLE visit_occurrence ALTER {column} TYPE DATE")
    write_catalog(tmp_path / "eds.duckdb", "aphp", tmp_path / "dates.yaml")
    (note,) = run_checks(open_warehouse(tmp_path / "dates.yaml"), ["note_within_stay"]).results
    assert (note.status.value, note.num_violated_rows, note.num_denominator_rows) == ("failed", 1, 2)


SYNTHEA = Path(__file__).resolve().parents[1] / "fixtures" / "omop-synthea27nj" / "Synthea27Nj_5.4.zip"


def test_the_dqd_set_on_the_public_synthea_export_has_no_error(tmp_path):
    """The real CDM 5.4 export (zip, upper-case names, empty tables): every DQD check ends passed, failed or n/a."""
    from workbench.catalog import write_catalog
    from workbench.warehouse import open as open_warehouse

    write_catalog(SYNTHEA, "omop", tmp_path / "catalog.yaml")
    warehouse = open_warehouse(tmp_path / "catalog.yaml")
    run = run_checks(warehouse, ["dqd_*"])
    assert len(run.results) == len(dqd.by_id("5.4")) == 2374
    assert [r.id for r in run.results if r.status.value == "error"] == []
    by_id = run.by_id()
    # 28 persons in PERSON.csv, each with exactly one observation period (independently: 28 data lines)
    overlap = by_id["dqd_table_measureobservationperiodoverlap_observation_period"]
    assert (overlap.status.value, overlap.num_violated_rows, overlap.num_denominator_rows) == ("passed", 0, 28)
    assert by_id["dqd_field_isrequired_note_note_id"].status.value == "not_applicable"  # NOTE.csv: header only


def test_a_full_run_covers_the_applicable_checks(cdm54, make_warehouse):
    """The quality page reuses a stored run when it covers every applicable check: DQD's of this version only."""
    from workbench.quality import all_checks
    from workbench.quality.dqd import applicable_ids

    checks = all_checks()
    omop = applicable_ids(cdm54, checks)
    assert {i for i in omop if i.startswith("dqd_")} == set(dqd.by_id("5.4"))
    aphp = applicable_ids(make_warehouse({"person": []}), checks)
    assert aphp == {c.id for c in checks if not c.id.startswith("dqd_")}
    assert aphp <= {r.id for r in run_checks(make_warehouse({"person": []})).results}


def test_a_cdm53_export_gets_the_53_set(tmp_path):
    """The CDM 5.3 CSV fixture of the semantic tests (upper-case names, dates only): 5.3's checks, none in error."""
    from semantic.fixtures import catalog_for_omop

    from workbench.warehouse import open as open_warehouse

    warehouse = open_warehouse(catalog_for_omop(tmp_path, "5.3"))
    run = run_checks(warehouse, ["dqd_*"])
    assert {r.id for r in run.results} == set(dqd.by_id("5.3"))
    assert [r.id for r in run.results if r.status.value == "error"] == []
    # its person table: ids -1, 2, 3, distinct; 5.3 names the discharge field discharge_to_concept_id
    assert counts(run, "field_isprimarykey_person_person_id") == ("passed", 0, 3)
    assert "dqd_field_cdmfield_visit_occurrence_discharge_to_concept_id" in run.by_id()
