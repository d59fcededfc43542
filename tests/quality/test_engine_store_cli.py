"""The engine's statuses, the results store, the run-over-run comparison, the CLI and the HTML report."""

from __future__ import annotations

import json

import pytest
from conftest import ts

from workbench.errors import UserError
from workbench.quality import all_checks, run_checks, select_checks
from workbench.quality.model import Category, Context, Level
from workbench.quality.store import ResultStore, compare

PERSONS = [
    {"person_id": 1, "gender_source_value": "m", "birth_datetime": ts("1950-01-01")},
    {"person_id": 2, "gender_source_value": "X", "birth_datetime": ts("1960-01-01")},
]


def test_registry_declares_more_than_forty_checks_in_every_kahn_category():
    checks = all_checks()
    assert len(checks) >= 40
    assert {c.category for c in checks} == set(Category)
    assert {c.context for c in checks} == set(Context)
    assert {c.level for c in checks} == set(Level)
    assert len({c.id for c in checks}) == len(checks)
    assert all(c.description and 0 <= c.threshold <= 100 for c in checks)


def test_selection_by_id_and_prefix_and_unknown_id():
    assert [c.id for c in select_checks(["person_primary_key"])] == ["person_primary_key"]
    assert {c.id for c in select_checks(["visit_occurrence_feed_*"])} == {
        "visit_occurrence_feed_start", "visit_occurrence_feed_stop"}
    with pytest.raises(UserError, match="inconnu"):
        select_checks(["no_such_check"])


def test_missing_column_is_not_applicable_and_others_still_run(make_warehouse):
    warehouse = make_warehouse({"person": PERSONS}, drop={"person": ["gender_source_value"]})
    run = run_checks(warehouse, ["person_gender_source_value_values", "person_birth_datetime_required"])
    sex, birth = run.results
    assert sex.status.value == "not_applicable" and "gender_source_value" in sex.reason
    assert birth.status.value == "passed" and birth.num_denominator_rows == 2


def test_aphp_conventions_are_not_judged_on_a_standard_omop_source(make_warehouse):
    warehouse = make_warehouse({"person": PERSONS}, flavour="omop")
    sex, key = run_checks(warehouse, ["person_gender_source_value_values", "person_primary_key"]).results
    assert sex.status.value == "not_applicable" and "omop" in sex.reason
    assert key.status.value == "passed"


def test_a_check_that_breaks_is_an_error_with_its_reason(make_warehouse, tmp_path):
    # visit_start_datetime stored as text: date arithmetic on it cannot even be expressed.
    import duckdb

    warehouse = make_warehouse({"person": PERSONS, "visit_occurrence": [
        {"visit_occurrence_id": 1, "person_id": 1, "visit_start_datetime": ts("2024-01-01")}]})
    (path,) = set(warehouse.catalog.locations.values())
    copy = tmp_path / "broken.duckdb"
    with duckdb.connect(str(copy)) as con:
        con.execute(f"ATTACH '{path}' AS src (READ_ONLY)")
        for name in ("person", "_metadata"):
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM src."{name}"')
        con.execute('CREATE TABLE visit_occurrence AS SELECT visit_occurrence_id, person_id, '
                    'CAST(visit_start_datetime AS VARCHAR) AS visit_start_datetime FROM src.visit_occurrence')
    from workbench.catalog import write_catalog
    from workbench.warehouse import open as open_warehouse

    write_catalog(copy, "aphp", tmp_path / "broken.yaml")
    broken = open_warehouse(tmp_path / "broken.yaml")
    before_death, sex = run_checks(broken, ["visit_occurrence_before_death", "person_gender_source_value_values"]).results
    assert before_death.status.value == "error" and before_death.reason
    assert sex.status.value == "failed" and sex.sample_ids == [2]


def test_result_fields_and_threshold(make_warehouse):
    warehouse = make_warehouse({"person": PERSONS})
    run = run_checks(warehouse, ["person_gender_source_value_values", "person_primary_key"])
    payload = run.to_json()
    assert payload["snapshot_id"] == warehouse.snapshot_id
    sex = payload["checks"][0]
    assert set(sex) == {"id", "category", "context", "level", "table", "field", "status", "threshold",
                        "num_violated_rows", "num_denominator_rows", "pct_violated_rows", "execution_time_s",
                        "sql", "sample_ids", "reason"}
    assert (sex["status"], sex["num_violated_rows"], sex["num_denominator_rows"], sex["pct_violated_rows"]) == (
        "failed", 1, 2, 50.0)
    assert "SELECT" in sex["sql"].upper() and sex["sample_ids"] == [2]
    assert payload["checks"][1]["status"] == "passed"


def test_store_keeps_runs_and_compares_them(make_warehouse, tmp_path):
    store = ResultStore(tmp_path / "state")
    first = run_checks(make_warehouse({"person": PERSONS}), ["person_gender_source_value_values", "person_primary_key"])
    worse_persons = PERSONS + [{"person_id": 3, "gender_source_value": "", "birth_datetime": ts("1970-01-01")},
                               {"person_id": 3, "gender_source_value": "f", "birth_datetime": ts("1970-01-01")}]
    second = run_checks(make_warehouse({"person": worse_persons}),
                        ["person_gender_source_value_values", "person_primary_key", "person_birth_datetime_required"])
    store.save(first)
    store.save(second)
    assert [r["run_id"] for r in store.runs()] == [second.run_id, first.run_id]
    assert store.load().run_id == second.run_id
    loaded = store.load(first.run_id)
    assert loaded.by_id()["person_gender_source_value_values"].sample_ids == [2]
    assert store.previous(second.run_id).run_id == first.run_id
    verdicts = {c.id: c.verdict for c in compare(store.previous(second.run_id), store.load())}
    # sex: 1/2 = 50 % -> 2/4 = 50 %, same status and share; key: passed -> failed; birth: new check.
    assert verdicts == {"person_gender_source_value_values": "stable", "person_primary_key": "dégradé",
                        "person_birth_datetime_required": "nouveau"}
    assert (tmp_path / "state" / "quality.sqlite").exists()
    import sqlite3

    with sqlite3.connect(tmp_path / "state" / "quality.sqlite") as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_cli_run_json_fail_on_report_and_compare(make_warehouse, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from workbench.cli import app

    warehouse = make_warehouse({"person": PERSONS})
    monkeypatch.setenv("WORKBENCH_STATE", str(tmp_path / "state"))
    runner = CliRunner()
    base = ["--catalog", str(warehouse.catalog_path), "quality"]
    done = runner.invoke(app, base + ["run", "--checks", "person_gender_source_value_values,person_primary_key",
                                      "--format", "json"])
    assert done.exit_code == 0, done.output
    payload = json.loads(done.stdout)
    assert [c["status"] for c in payload["checks"]] == ["failed", "passed"]
    assert payload["snapshot_id"] == warehouse.snapshot_id
    gate = runner.invoke(app, base + ["run", "--checks", "person_gender_source_value_values", "--fail-on", "failed"])
    assert gate.exit_code == 1
    clean = runner.invoke(app, base + ["run", "--checks", "person_primary_key", "--fail-on", "failed"])
    assert clean.exit_code == 0
    diff = runner.invoke(app, base + ["compare", "--format", "json", "--all"])
    assert diff.exit_code == 0, diff.output
    changes = {c["id"]: c["verdict"] for c in json.loads(diff.stdout)["changes"]}
    # the last run (primary key only) against the one before it (the gate: sex values only)
    assert changes == {"person_primary_key": "nouveau", "person_gender_source_value_values": "retiré"}
    report = tmp_path / "rapport.html"
    made = runner.invoke(app, base + ["report", "--html", str(report), "--run", payload["run_id"]])
    assert made.exit_code == 0, made.output
    html = report.read_text(encoding="utf-8")
    assert "<svg" in html and "person_gender_source_value_values" in html and "échoué" in html
    ids = runner.invoke(app, base + ["violations", "person_gender_source_value_values"])
    assert json.loads(ids.stdout)["ids"] == [2]


def test_previous_run_is_taken_on_the_same_catalogue(tmp_path):
    from workbench.quality.model import RunResult

    store = ResultStore(tmp_path / "state")
    runs = [RunResult(f"run{i}", f"snap{i}", f"2026-01-0{i + 1}T00:00:00", 1.0, [], catalog=catalog)
            for i, catalog in enumerate(["a.yaml", "b.yaml", "a.yaml"])]
    for run in runs:
        store.save(run)
    assert store.previous("run2").run_id == "run0"
    assert store.previous("run1") is None
    assert store.previous("run0") is None
