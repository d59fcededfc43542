"""`workbench cohort prescreen` as users run it (subprocess), on the four hand-written reports of conftest.py.

Expected by hand from conftest.NOTES and the semantic fixture's stays (extraction date 2020-12-31):
the entry event "métastase" or "métastases" (affirmed) holds for patient 1 (note 1) and patient 3 (note 3);
patient 2 has only a hypothetical and a family mention. The rule T>=3 holds for patient 1 (pT3N1M1), not for
patient 3 (pT2N0M0). Over 365 days both were seen (stays of January and February 2020); over 30 days only
patient 1 (stay 105, still open). Hospital 028 holds patient 3's stay 103 and note 3.
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

PASSWORD = "prescreen-cli"
TRIAL = """\
nom: essai-meta
entree: {type: texte, termes: [métastase, métastases]}
inclusion:
  - nom: T3 ou plus
    criteres: [{type: tnm, stade: ["T>=3"]}]
"""


@pytest.fixture()
def trial(tmp_path: Path) -> Path:
    path = tmp_path / "essai.yaml"
    path.write_text(TRIAL, encoding="utf-8")
    return path


@pytest.fixture()
def access(tmp_path: Path) -> Path:
    path = tmp_path / "access.yaml"
    entry = lambda role, perimeter, nominative: UserEntry(role=role, perimeter=perimeter, nominative=nominative,  # noqa: E731
                                                         password_hash=hash_password(PASSWORD))
    save_access(AccessFile(path, Policy(min_count=10), {
        "onco.028": entry("clinicien", ("028",), True),
        "cardio": entry("clinicien", ("014",), False),
        "dim.014": entry("analyste_dim", ("014",), False),
    }))
    return path


def run(catalog: Path, *args: str, user: str | None = None, access: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("WORKBENCH_USER", "WORKBENCH_PASSWORD")}
    argv = [sys.executable, "-m", "workbench.cli", "--catalog", str(catalog)]
    if user is not None:
        env = {**deployment_env(env, access=access, catalog=catalog), "WORKBENCH_PASSWORD": PASSWORD}
        argv += ["--access", str(access), "--utilisateur", user]
    return subprocess.run([*argv, "cohort", "prescreen", *args], cwd=PROJECT_ROOT, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=600, check=False)


def screened(done: subprocess.CompletedProcess) -> dict:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_ranked_candidates_with_their_evidence(catalog: Path, trial: Path):
    result = screened(run(catalog, str(trial), "--days", "365", "--format", "json"))
    assert (result["metadata"]["depuis"], result["metadata"]["jusqu_au"]) == ("2020-01-01", "2020-12-31")
    assert [(p["rank"], p["person_id"], p["criteria_met"], p["criteria_total"], p["eligible"]) for p in result["patients"]] == [
        (1, 1, 2, 2, True), (2, 3, 1, 2, False)]
    evidence = {(e["person_id"], e["type"], e["matched"], e["detail"]) for e in result["preuves"]}
    assert evidence == {
        (1, "texte", "Métastase", "Métastase pulmonaire confirmée."),
        (1, "tnm", "pT3N1M1", "Stade pT3N1M1."),
        (3, "texte", "Métastases", "Métastases hépatiques multiples."),
    }


def test_the_window_counts_back_from_the_extraction_date(catalog: Path, trial: Path):
    result = screened(run(catalog, str(trial), "--days", "30", "--format", "json"))
    assert [p["person_id"] for p in result["patients"]] == [1]
    assert result["metadata"]["depuis"] == "2020-12-01"


def test_a_clinician_sees_his_care_team_only(catalog: Path, trial: Path, access: Path, state: Path):
    result = screened(run(catalog, str(trial), "--days", "365", "--format", "json", user="onco.028", access=access))
    assert [(p["person_id"], p["criteria_met"]) for p in result["patients"]] == [(3, 1)]
    assert {e["person_id"] for e in result["preuves"]} == {3}
    assert [e["patients"] for e in audit.read(state / "audit.jsonl") if e["event"] == "prescreen"] == [1]


@pytest.mark.parametrize("user, words", [
    ("cardio", "exige le droit nominatif"),
    ("dim.014", "le rôle analyste_dim ne peut pas préscreener une cohorte"),
])
def test_refused_without_the_role_or_the_nominative_right(catalog: Path, trial: Path, access: Path, state: Path, user: str, words: str):
    done = run(catalog, str(trial), "--days", "30", user=user, access=access)
    assert done.returncode == 1 and done.stdout == ""
    assert words in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    refusals = [e for e in audit.read(state / "audit.jsonl") if e["event"] == "refused"]
    assert len(refusals) == 1 and refusals[0]["user"] == user and refusals[0]["action"] == "cohort.prescreen"


def test_a_window_below_one_day_is_one_clear_error(catalog: Path, trial: Path):
    done = run(catalog, str(trial), "--days", "0")
    assert done.returncode == 1 and "--days 0 : le nombre de jours doit être au moins 1" in done.stderr


def test_the_table_shows_rank_criteria_and_evidence_in_words(catalog: Path, trial: Path):
    done = run(catalog, str(trial), "--days", "365")
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())  # the table wraps long cells
    assert "Préscreening « essai-meta » : patients vus du 01/01/2020 au 31/12/2020" in text
    assert "2/2" in text and "1/2" in text and "oui" in text and "non" in text
    assert all(word in text for word in ("texte", "«", "Métastase", "tnm", "pT3N1M1", "15/01/2020"))
