"""Loading the 10-patient Synthea sample: counts, codes, incremental changes, idempotence, a killed load, bad input.

Expected counts come from reading the NDJSON with `json` in the test
(`conftest.resources`), never from the loader; the modified copy of the
incremental test is built here, line by line, so its expected changes are the
ones written.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from workbench.paths import PROJECT_ROOT
from workbench.snapshot import content_snapshot_id

from fhir_fixtures import BULK, resources, workbench


def query(folder: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(folder / "eds.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def count(folder: Path, table: str, where: str = "true") -> int:
    return query(folder, f"SELECT count(*) FROM {table} WHERE {where}")[0][0]


def test_counts_per_table_match_the_ndjson(loaded_bulk: Path) -> None:
    organizations, locations = resources(BULK, "Organization"), resources(BULK, "Location")
    org_identifiers = {i["value"] for o in organizations for i in o.get("identifier", [])}
    managed = [loc for loc in locations if (loc.get("managingOrganization") or {}).get("identifier", {}).get("value") in org_identifiers]
    encounters = resources(BULK, "Encounter")
    expected = {
        "person": len(resources(BULK, "Patient")),
        "person_identity": len(resources(BULK, "Patient")),
        "care_site": len(organizations) + len(locations),
        "fact_relationship": len(managed),
        "visit_occurrence": len(encounters),
        "visit_detail": sum(len(e.get("location", [])) for e in encounters),
        "condition_occurrence": len(resources(BULK, "Condition")),
        "procedure_occurrence": len(resources(BULK, "Procedure")),
        "drug_exposure_prescription": len(resources(BULK, "MedicationRequest")),
        "note": len(resources(BULK, "DocumentReference")),
        "measurement": 0, "drug_exposure_administration": 0, "formulaire": 0, "cost": 0,
    }
    assert {table: count(loaded_bulk, table) for table in expected} == expected
    assert count(loaded_bulk, "_quarantine") == 0
    ignored = sum(len(resources(BULK, kind)) for kind in ("AllergyIntolerance", "Device", "Immunization", "Practitioner", "PractitionerRole"))
    ((received, inserted, ignored_loaded, quarantined),) = query(loaded_bulk, "SELECT received, inserted, ignored, quarantined FROM _loads")
    assert (received, inserted, ignored_loaded, quarantined) == (sum(len(resources(BULK, p.name.split(".")[0])) for p in BULK.glob("*.ndjson")),
                                                                 received - ignored, ignored, 0)


def test_us_codes_keep_their_system_and_never_fill_french_columns(loaded_bulk: Path) -> None:
    def systems(kind: str, field: str) -> Counter:
        return Counter(r[field]["coding"][0]["system"] for r in resources(BULK, kind))

    for table, kind, field, french in (("condition_occurrence", "Condition", "code", "condition_source_value"),
                                       ("procedure_occurrence", "Procedure", "code", "procedure_source_value"),
                                       ("drug_exposure_prescription", "MedicationRequest", "medicationCodeableConcept",
                                        "drug_ucd_source_value")):
        stored = Counter(dict(query(loaded_bulk, f"SELECT source_code_system, count(*) FROM {table} GROUP BY 1")))
        assert stored == systems(kind, field)
        assert count(loaded_bulk, table, f"{french} IS NOT NULL") == 0
    first = resources(BULK, "Condition")[0]
    assert query(loaded_bulk, f"SELECT source_code FROM condition_occurrence WHERE fhir_id = '{first['id']}'") == \
        [(first["code"]["coding"][0]["code"],)]
    assert count(loaded_bulk, "drug_exposure_prescription", "drug_class_source_value IS NOT NULL") == 0


def test_every_row_carries_its_provenance(loaded_bulk: Path) -> None:
    encounter = resources(BULK, "Encounter")[4]
    rows = query(loaded_bulk, "SELECT fhir_resource_type, fhir_source_file, fhir_source_line, fhir_load_id, length(fhir_content_hash) "
                              f"FROM visit_occurrence WHERE fhir_id = '{encounter['id']}'")
    assert rows == [("Encounter", "Encounter.000.ndjson", 5, 1, 32)]
    assert count(loaded_bulk, "condition_occurrence", "fhir_id IS NULL OR fhir_source_line IS NULL") == 0


def _modified_copy(folder: Path) -> tuple[Path, Path, dict]:
    """The sample with 3 updated Conditions, 1 Encounter deleted, 2 new Patients (gzipped file), 2 broken lines."""
    shutil.copytree(BULK, folder)
    conditions = (folder / "Condition.000.ndjson").read_text(encoding="utf-8").splitlines()
    updated = []
    for index in range(3):
        resource = json.loads(conditions[index])
        resource["onsetDateTime"] = "2024-01-0%dT10:00:00+01:00" % (index + 1)
        conditions[index] = json.dumps(resource)
        updated.append(resource["id"])
    referenced = {json.loads(line)["encounter"]["reference"].split("/")[1] for line in conditions[:3]}
    missing_subject = json.loads(conditions[10])
    missing_subject["id"] = "condition-sans-sujet"
    del missing_subject["subject"]
    conditions.append(json.dumps(missing_subject))
    (folder / "Condition.000.ndjson").write_text("\n".join(conditions) + "\n", encoding="utf-8")
    encounters = (folder / "Encounter.000.ndjson").read_text(encoding="utf-8").splitlines()
    victim = next(i for i, line in enumerate(encounters) if json.loads(line)["id"] not in referenced)
    deleted_id = json.loads(encounters.pop(victim))["id"]
    (folder / "Encounter.000.ndjson").write_text("\n".join(encounters) + "\n", encoding="utf-8")
    patients = (folder / "Patient.000.ndjson").read_text(encoding="utf-8").splitlines()
    for new_id in ("nouveau-patient-1", "nouveau-patient-2"):
        patient = json.loads(patients[0])
        patient["id"] = new_id
        patients.append(json.dumps(patient))
    (folder / "Patient.000.ndjson").unlink()
    with gzip.open(folder / "Patient.000.ndjson.gz", "wt", encoding="utf-8") as handle:
        handle.write("\n".join(patients) + "\n")
    with (folder / "Procedure.000.ndjson").open("a", encoding="utf-8") as handle:
        handle.write('{"resourceType": "Procedure", "id": "tronquée", "status": \n')
    deleted = folder.parent / "deleted.ndjson"
    bundle = {"resourceType": "Bundle", "type": "transaction",
              "entry": [{"request": {"method": "DELETE", "url": f"Encounter/{deleted_id}"}}]}
    deleted.write_text(json.dumps(bundle) + "\n", encoding="utf-8")
    return folder, deleted, {"updated": updated, "deleted": deleted_id, "procedure_lines": len(resources(BULK, "Procedure")) + 1}


def test_incremental_load_applies_exactly_the_changes_then_nothing(warehouse_copy: Path, tmp_path: Path) -> None:
    from workbench import open as open_warehouse

    source, deleted, changes = _modified_copy(tmp_path / "export-2")
    before = query(warehouse_copy, "SELECT snapshot_id FROM _metadata")[0][0]
    served = open_warehouse(warehouse_copy / "catalog.yaml")  # as a running app holds it
    assert served.snapshot_id == before
    ids_before = dict(query(warehouse_copy, "SELECT fhir_id, condition_occurrence_id FROM condition_occurrence"))
    run = workbench("ingest", "fhir", str(source), "--into", str(warehouse_copy), "--deleted", str(deleted), "--format", "json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    received = 7160 - 1 + 2 + 2 + 1  # the sample, less the deleted Encounter, 2 patients, 2 broken lines, 1 deletion
    assert {k: report[k] for k in ("received", "inserted", "updated", "deleted", "quarantined", "ignored", "unchanged", "invariant")} == {
        "received": received, "inserted": 2, "updated": 3, "deleted": 1, "quarantined": 2, "ignored": 274,
        "unchanged": received - 2 - 3 - 1 - 2 - 274, "invariant": True}
    assert report["quarantine_by_reason"] == {"JSON illisible": 1, "sujet manquant": 1}
    quarantined = query(warehouse_copy, "SELECT source_file, source_line, reason FROM _quarantine ORDER BY 1")
    assert quarantined == [("Condition.000.ndjson", 556, "sujet manquant"),
                           ("Procedure.000.ndjson", changes["procedure_lines"], "JSON illisible")]
    updated = ", ".join(f"'{i}'" for i in changes["updated"])
    assert sorted(query(warehouse_copy, f"SELECT strftime(condition_start_datetime, '%Y-%m-%d') FROM condition_occurrence "
                                        f"WHERE fhir_id IN ({updated})")) == [("2024-01-01",), ("2024-01-02",), ("2024-01-03",)]
    assert dict(query(warehouse_copy, "SELECT fhir_id, condition_occurrence_id FROM condition_occurrence")) == ids_before
    assert count(warehouse_copy, "condition_occurrence") == 555
    assert count(warehouse_copy, "person") == 15
    assert query(warehouse_copy, f"SELECT row_status_source_value, delete_datetime IS NOT NULL FROM visit_occurrence "
                                 f"WHERE fhir_id = '{changes['deleted']}'") == [("supprimé", True)]
    assert count(warehouse_copy, "visit_detail", f"fhir_id = '{changes['deleted']}' AND row_status_source_value = 'supprimé'") == 1
    warehouse = open_warehouse(warehouse_copy / "catalog.yaml")
    assert len(warehouse.execute(warehouse.view("stays"))) == 1214
    assert len(warehouse.execute(warehouse.view("patients"))) == 15
    second = query(warehouse_copy, "SELECT snapshot_id FROM _metadata")[0][0]
    assert second != before == served.snapshot_id
    assert warehouse.snapshot_id == second  # the replaced file is a new snapshot for whoever opens it next
    again = workbench("ingest", "fhir", str(source), "--into", str(warehouse_copy), "--deleted", str(deleted), "--format", "json")
    assert again.returncode == 0, again.stderr
    third = json.loads(again.stdout)
    assert (third["inserted"], third["updated"], third["deleted"], third["quarantined"], third["invariant"]) == (0, 0, 0, 2, True)
    assert third["snapshot_after"] == second == query(warehouse_copy, "SELECT snapshot_id FROM _metadata")[0][0]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_killed_load_leaves_the_previous_warehouse_unchanged(warehouse_copy: Path, tmp_path: Path) -> None:
    source, deleted, _ = _modified_copy(tmp_path / "export-2")
    database = warehouse_copy / "eds.duckdb"
    digest, snapshot = _digest(database), query(warehouse_copy, "SELECT snapshot_id FROM _metadata")[0][0]
    process = subprocess.Popen([sys.executable, "-m", "workbench.cli", "ingest", "fhir", str(source), "--into", str(warehouse_copy),
                                "--deleted", str(deleted), "--format", "json"], cwd=PROJECT_ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not list(warehouse_copy.glob(".eds.duckdb.load-*")) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    # inside the load: the working copy exists (being copied or written into); parsing and validation are yet to come
    assert process.poll() is None, "the load ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert _digest(database) == digest
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("SELECT snapshot_id FROM _metadata").fetchone()[0] == snapshot == content_snapshot_id(con)
        assert con.execute("SELECT count(*) FROM _loads").fetchone()[0] == 1


def _one_line_error(run: subprocess.CompletedProcess[str], *words: str) -> None:
    assert run.returncode == 1, (run.stdout, run.stderr)
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize("case", ["no-ndjson", "wrong-type", "corrupt-gzip"])
def test_bad_sources_are_one_clear_line_and_nothing_is_written(case: str, warehouse_copy: Path, tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    if case == "no-ndjson":
        (source / "notes.txt").write_text("pas de NDJSON ici\n", encoding="utf-8")
        words = ["aucun fichier NDJSON", str(source)]
    elif case == "wrong-type":
        shutil.copy(BULK / "Patient.000.ndjson", source / "Patient.000.ndjson")
        line = (BULK / "Condition.000.ndjson").read_text(encoding="utf-8").splitlines()[0]
        (source / "Encounter.000.ndjson").write_text(line + "\n", encoding="utf-8")
        words = ["Encounter.000.ndjson, ligne 1", "« Condition »", "« Encounter »"]
    else:
        shutil.copy(BULK / "Organization.000.ndjson", source / "Organization.000.ndjson")
        data = gzip.compress((BULK / "Patient.000.ndjson").read_bytes())
        (source / "Patient.000.ndjson.gz").write_bytes(data[: len(data) // 2])
        words = ["Patient.000.ndjson.gz", "gzip corrompu"]
    digest = _digest(warehouse_copy / "eds.duckdb")
    before = sorted(p.name for p in warehouse_copy.iterdir())
    _one_line_error(workbench("ingest", "fhir", str(source), "--into", str(warehouse_copy)), *words)
    assert _digest(warehouse_copy / "eds.duckdb") == digest
    assert sorted(p.name for p in warehouse_copy.iterdir()) == before
    fresh = tmp_path / "nouveau"
    _one_line_error(workbench("ingest", "fhir", str(source), "--into", str(fresh)), *words)
    assert not (fresh / "eds.duckdb").exists() and not list(fresh.glob("*"))


def test_an_output_that_cannot_be_written_is_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "un-fichier"
    blocker.write_text("x", encoding="utf-8")
    _one_line_error(workbench("ingest", "fhir", str(BULK), "--into", str(blocker / "entrepot")), "--into", "non inscriptible")
    _one_line_error(workbench("ingest", "fhir", str(BULK), "--into", str(blocker)), "--into", "pas un dossier")
