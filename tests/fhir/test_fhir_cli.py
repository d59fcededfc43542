"""`workbench ingest status|quarantine` and who may ingest or export FHIR, through real CLI runs.

A logged-in user (`--utilisateur`, password from the environment, accounts and
catalogue from a deployment file: tests/deployment_support.py) who is neither
équipe entrepôt nor admin is refused both commands, with one line and an
audited refusal; the équipe entrepôt may load.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import duckdb

from deployment_support import deployment_env
from fhir_fixtures import BULK, HANDWRITTEN, resources, workbench
from workbench.access.model import AccessFile, Policy, UserEntry, hash_password, save_access

PASSWORD = "fhir-mot-de-passe"


def test_status_and_quarantine_list_what_the_bookkeeping_holds(warehouse_copy: Path, tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    lines = (HANDWRITTEN / "Condition.ndjson").read_text(encoding="utf-8").splitlines()
    (source / "Condition.ndjson").write_text(lines[0].replace('"cond-1"', '"cond-orpheline"').replace("Patient/pat-1", "Patient/inconnu")
                                             + "\n{pas du json\n", encoding="utf-8")
    run = workbench("ingest", "fhir", str(source), "--into", str(warehouse_copy), "--format", "json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["quarantine_by_reason"] == {"JSON illisible": 1, "référence non résolue": 1}
    status = workbench("ingest", "status", "--into", str(warehouse_copy), "--format", "json")
    assert status.returncode == 0, status.stderr
    rows = json.loads(status.stdout)["rows"]
    assert [(r["load_id"], r["received"], r["quarantined"]) for r in rows] == [(2, 2, 2), (1, 7160, 0)]
    listed = workbench("ingest", "quarantine", "--into", str(warehouse_copy), "--reason", "JSON illisible", "--format", "csv")
    assert listed.returncode == 0, listed.stderr
    table = list(csv.DictReader(line for line in io.StringIO(listed.stdout) if not line.startswith("#")))
    assert [(r["source_file"], r["source_line"], r["raw"]) for r in table] == [("Condition.ndjson", "2", "{pas du json")]
    with duckdb.connect(str(warehouse_copy / "eds.duckdb"), read_only=True) as con:
        assert con.execute("SELECT detail FROM _quarantine WHERE reason = 'référence non résolue'").fetchone()[0] == \
            "« subject » : Patient/inconnu"


def _accounts(folder: Path) -> Path:
    hospital = resources(BULK, "Organization")[0]["identifier"][0]["value"]  # a care-site code of the loaded sample
    users = {"clinicien.fhir": UserEntry(role="clinicien", perimeter=(hospital,), password_hash=hash_password(PASSWORD)),
             "entrepot.fhir": UserEntry(role="equipe_entrepot", perimeter=(), password_hash=hash_password(PASSWORD))}
    path = folder / "access.yaml"
    save_access(AccessFile(path, Policy(min_count=10), users))
    return path


def test_only_the_warehouse_team_and_admin_ingest_or_export(loaded_bulk: Path, tmp_path: Path) -> None:
    from workbench import audit

    state = tmp_path / "state"
    env = deployment_env({**os.environ, "WORKBENCH_STATE": str(state), "WORKBENCH_PASSWORD": PASSWORD},
                         access=_accounts(tmp_path), catalog=loaded_bulk / "catalog.yaml")
    into = tmp_path / "entrepot"
    for command in (["ingest", "fhir", str(BULK), "--into", str(into)], ["export", "fhir", "--out", "export"]):
        refused = workbench("--utilisateur", "clinicien.fhir", *command, env=env)
        assert refused.returncode == 1, refused.stdout
        assert refused.stderr.count("\n") == 1 and "accès refusé" in refused.stderr and "clinicien" in refused.stderr
    assert not into.exists()
    os.environ["WORKBENCH_STATE"], previous = str(state), os.environ["WORKBENCH_STATE"]
    try:
        refusals = [e for e in audit.read() if e["event"] == "refused"]
    finally:
        os.environ["WORKBENCH_STATE"] = previous
    assert [e.get("action") for e in refusals] == ["ingest", "export.fhir"]
    allowed = workbench("--utilisateur", "entrepot.fhir", "ingest", "fhir", str(HANDWRITTEN), "--into", str(into), "--format", "json", env=env)
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["inserted"] == 14
    with duckdb.connect(str(into / "eds.duckdb"), read_only=True) as con:
        assert con.execute("SELECT user_name FROM _loads").fetchall() == [("entrepot.fhir",)]


def test_export_to_a_place_that_cannot_be_written_is_one_clear_line(loaded_bulk: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "un-fichier"
    blocker.write_text("x", encoding="utf-8")
    occupied = tmp_path / "occupé"
    occupied.mkdir()
    (occupied / "notes.txt").write_text("à garder", encoding="utf-8")
    for out, words in ((blocker / "export", "non inscriptible"), (occupied, "ne contient pas que des fichiers NDJSON")):
        run = workbench("--catalog", str(loaded_bulk / "catalog.yaml"), "export", "fhir", "--out", str(out))
        assert run.returncode == 1, run.stdout
        assert run.stderr.count("\n") == 1 and words in run.stderr and "--out" in run.stderr
    assert [p.name for p in occupied.iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["occupé", "un-fichier"]
