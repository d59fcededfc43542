"""`workbench cohort …` run as a user runs it: a subprocess, JSON read back, exit codes 0 / 1.

Expected figures are those of `fixtures.py` (see test_evaluate.py for the derivation).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deployment_support import deployment_env
from workbench import audit
from workbench.access.model import AccessFile, Policy, UserEntry, hash_password, save_access
from workbench.paths import PROJECT_ROOT

from cohorts.fixtures import IMA_YAML, SERVICE

PASSWORD = "cohortes-cli"
@pytest.fixture()
def definition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The fixture's IMA_YAML in a file; the test's own state folder (saved cohorts, audit log) in `tmp_path/state`."""
    monkeypatch.setenv("WORKBENCH_STATE", str(tmp_path / "state"))
    path = tmp_path / "ima.yaml"
    path.write_text(IMA_YAML, encoding="utf-8")
    return path


def run(catalog: Path, *args: str, user: str | None = None, access: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("WORKBENCH_USER", "WORKBENCH_PASSWORD")}
    argv = [sys.executable, "-m", "workbench.cli", "--catalog", str(catalog)]
    if user is not None:
        assert access is not None
        env = {**deployment_env(env, access=access, catalog=catalog), "WORKBENCH_PASSWORD": PASSWORD}
        argv += ["--access", str(access), "--utilisateur", user]
    return subprocess.run([*argv, "cohort", *args], cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=600, check=False)


def ok_json(done: subprocess.CompletedProcess) -> object:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_new_list_show_and_versions(cohort_catalog: Path, definition: Path) -> None:
    saved = ok_json(run(cohort_catalog, "new", "ima", "--definition", str(definition), "--format", "json"))
    assert (saved["name"], saved["version"], saved["rules"]) == ("ima", 1, 2)
    again = ok_json(run(cohort_catalog, "new", "ima", "--definition", str(definition), "--format", "json"))
    assert again["version"] == 1  # same criteria: same version
    definition.write_text(IMA_YAML.replace("min: 18", "min: 40"), encoding="utf-8")
    assert ok_json(run(cohort_catalog, "new", "ima", "--definition", str(definition), "--format", "json"))["version"] == 2
    listed = ok_json(run(cohort_catalog, "list", "--format", "json"))
    assert [(c["name"], c["version"]) for c in listed] == [("ima", 2)]
    shown = ok_json(run(cohort_catalog, "show", "ima@1", "--format", "json"))
    assert shown["version"] == 1 and shown["definition"]["inclusion"][1]["criteres"][0]["min"] == 18
    assert [e["version"] for e in audit.read(definition.parent / "state" / "audit.jsonl") if e["event"] == "cohort.save"] == [1, 1, 2]


def test_count_gives_the_attrition(cohort_catalog: Path, definition: Path) -> None:
    payload = ok_json(run(cohort_catalog, "count", str(definition), "--format", "json"))
    assert [(r["patients"], r["stays"], r["patients_alone"]) for r in payload["rows"]] == [(4, 4, 4), (2, 2, 2), (2, 2, 4)]
    assert payload["metadata"]["snapshot"] == "cohorts-fixture"


def test_feasibility_and_sample(cohort_catalog: Path, definition: Path) -> None:
    rows = ok_json(run(cohort_catalog, "feasibility", str(definition), "--format", "json"))["rows"]
    assert [(r["hospital"], r["year"], r["perimeter"], r["outside"], r["protection"]) for r in rows] == [
        ("014", 2024, 1, 0, "exact"), ("028", 2023, 1, 0, "exact"), ("028", 2024, 0, 0, "exact")]  # persons 1 and 4;
    # (028, 2024) has stays but no member: listed all the same
    first = ok_json(run(cohort_catalog, "sample", str(definition), "--n", "1", "--seed", "3", "--format", "json"))
    second = ok_json(run(cohort_catalog, "sample", str(definition), "--n", "1", "--seed", "3", "--format", "json"))
    assert first["rows"] == second["rows"] and first["rows"][0]["person_id"] in (1, 4)


@pytest.mark.parametrize(("args", "message"), [
    (["count", "absente.yaml"], "définition de cohorte introuvable : absente.yaml"),
    (["show", "inconnue"], "cohorte « inconnue » introuvable pour l'utilisateur local"),
    (["sample", "{definition}", "--n", "0", "--seed", "1"], "taille d'échantillon 0 invalide"),
])
def test_bad_input_is_one_line_and_exit_1(cohort_catalog: Path, definition: Path, args: list[str],
                                          message: str) -> None:
    done = run(cohort_catalog, *[a.format(definition=definition) for a in args])
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.strip().count("\n") == 0 and message in done.stderr


def test_an_empty_cohort_cannot_be_sampled(cohort_catalog: Path, definition: Path) -> None:
    empty = definition.parent / "vide.yaml"
    empty.write_text("nom: vide\nentree: {type: diagnostic, codes: [A00]}\n", encoding="utf-8")
    done = run(cohort_catalog, "sample", str(empty), "--n", "5", "--seed", "1")
    assert done.returncode == 1 and "cohorte « vide » vide : aucun événement d'entrée" in done.stderr


def test_a_referent_is_refused_samples_and_counts_protected(cohort_catalog: Path, definition: Path) -> None:
    access = definition.parent / "access.yaml"
    digest = hash_password(PASSWORD)
    save_access(AccessFile(access, Policy(min_count=10), {
        "pilote": UserEntry(role="referent_pilotage", password_hash=digest),
        "cardio": UserEntry(role="clinicien", perimeter=(SERVICE,), password_hash=digest)}))
    refused = run(cohort_catalog, "sample", str(definition), "--n", "1", "--seed", "1", user="pilote", access=access)
    assert refused.returncode == 1
    assert "accès refusé : le rôle referent_pilotage ne peut pas échantillonner une cohorte" in refused.stderr
    lines = [e for e in audit.read(definition.parent / "state" / "audit.jsonl") if e["event"] == "refused"]
    assert [(e["user"], e["action"], e["surface"]) for e in lines] == [("pilote", "cohort.sample", "cli")]
    counted = ok_json(run(cohort_catalog, "count", str(definition), "--format", "json", user="pilote", access=access))
    assert {r["patients"] for r in counted["rows"]} == {"< 10"}
    mine = ok_json(run(cohort_catalog, "count", str(definition), "--format", "json", user="cardio", access=access))
    # the clinician's service sees persons 1 and 2 (stays 101, 103): troponin in the index stay for 1 only
    assert [r["patients"] for r in mine["rows"]] == [2, 1, 1]
