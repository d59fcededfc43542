"""Prescreening on the 2,000-patient demo, measured against the generator's truth, and its access rules.

The truth is computed without the workbench: which patients were seen in the
window comes from SQL on the raw `visit_occurrence` (current rows, a stay
overlapping [extraction − N days, extraction], an open stay lasting until the
extraction), their cancer codes from SQL on `condition_occurrence`, their
findings and TNM stages from `notes_truth.json` (what the generator wrote).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

import workbench
from workbench.access.context import UserContext
from workbench.cohorts.definition import parse_definition
from workbench.cohorts.prescreen import prescreen
from workbench.errors import UserError

DAYS = 365
#: Two trials: a cancer with an affirmed liver metastasis and a stage T3 or more; an affirmed dyspnoea.
TRIALS = {
    "meta-hep": {"nom": "meta-hep", "unite": "patients", "entree": {"type": "diagnostic", "codes": ["C"]},
                 "inclusion": [{"nom": "métastase hépatique", "criteres": [{"type": "texte", "termes": ["métastase hépatique"]}]},
                               {"nom": "T3+", "criteres": [{"type": "tnm", "stade": ["T>=3"]}]}]},
    "dyspnee": {"nom": "dyspnee", "unite": "patients", "entree": {"type": "texte", "termes": ["dyspnée"]}},
}


@pytest.fixture(scope="module", autouse=True)
def state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One state folder for the module: the demo's note cache is built once."""
    folder = tmp_path_factory.mktemp("prescreen-state")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WORKBENCH_STATE", str(folder))
        yield folder


def _persons(con: duckdb.DuckDBPyConnection, sql: str, *parameters: object) -> set[int]:
    return {row[0] for row in con.execute(sql, list(parameters)).fetchall()}


@pytest.fixture(scope="module")
def truth(demo_dir: Path) -> dict[str, set[int]]:
    """Eligible patients of each trial, from SQL on the raw tables and the generator's notes truth."""
    notes = json.loads((demo_dir / "notes_truth.json").read_text("utf-8"))
    mentions = notes["mentions"]
    affirmed = {term: {p for p, t, s in zip(mentions["person_id"], mentions["term"], mentions["status"]) if t == term and s == "affirmé"}
                for term in notes["termes"]}
    stages = notes["stades"]
    t3 = {p for p, t in zip(stages["person_id"], stages["t"]) if t >= 3}
    with duckdb.connect(str(demo_dir / "eds.duckdb"), read_only=True) as con:
        extraction = con.execute("SELECT extraction_date FROM _metadata").fetchone()[0]
        seen = _persons(con, """SELECT DISTINCT person_id FROM visit_occurrence
            WHERE row_status_source_value = 'courant' AND visit_start_datetime::DATE <= ?
              AND coalesce(visit_end_datetime::DATE, ?) >= ? - INTERVAL (?) DAY""", extraction, extraction, extraction, DAYS)
        cancer = _persons(con, """SELECT DISTINCT person_id FROM condition_occurrence
            WHERE row_status_source_value = 'courant' AND condition_source_value LIKE 'C%'""")
    return {"meta-hep": seen & cancer & affirmed["métastase hépatique"] & t3, "dyspnee": seen & affirmed["dyspnée"]}


@pytest.fixture(scope="module")
def screened(demo_dir: Path) -> dict[str, set[int]]:
    with workbench.open(demo_dir / "catalog.yaml") as w:
        results = {name: prescreen(w, parse_definition(trial), DAYS) for name, trial in TRIALS.items()}
    return {name: set(result.patients.loc[result.patients["eligible"], "person_id"]) for name, result in results.items()}


def test_recall_and_precision_against_the_generator_truth(truth, screened):
    true_positive = sum(len(truth[n] & screened[n]) for n in TRIALS)
    recall = true_positive / sum(len(truth[n]) for n in TRIALS)
    precision = true_positive / sum(len(screened[n]) for n in TRIALS)
    print(f"\nprescreening on the demo ({DAYS} days): eligible {[len(truth[n]) for n in TRIALS]}, "
          f"found {[len(screened[n]) for n in TRIALS]}, recall {recall:.3f}, precision {precision:.3f}")
    assert all(len(truth[n]) >= 10 for n in TRIALS), truth  # enough patients for the measure to mean something
    assert recall >= 0.95 and precision >= 0.90
