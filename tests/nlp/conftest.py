"""A hand-written warehouse whose reports the NLP tests read (the semantic fixture with other notes)."""

from __future__ import annotations

from datetime import datetime as D
from pathlib import Path

import pytest

from semantic.fixtures import APHP_ROWS, write_aphp

#: Patient 1 (stay 101, hospital 014): a negated and an affirmed metastasis, a stage T3 N1 M1.
#: Patient 2 (stay 102, hospital 014): a hypothetical and a family-history metastasis only.
#: Patient 3 (stay 103, hospital 028): "Métastases" (plural) affirmed, a stage T2 N0 M0.
#: Note 4 is soft-deleted: never read.
NOTES = [
    {"note_id": 1, "person_id": 1, "visit_occurrence_id": 101, "note_class_source_value": "CRH", "note_datetime": D(2020, 1, 15),
     "note_text": "Patient de 70 ans. Pas de métastase hépatique. Métastase pulmonaire confirmée. Stade pT3N1M1."},
    {"note_id": 2, "person_id": 2, "visit_occurrence_id": 102, "note_class_source_value": "CRH", "note_datetime": D(2020, 3, 5),
     "note_text": "Suspicion de métastase osseuse. Sa mère a eu une métastase cérébrale."},
    {"note_id": 3, "person_id": 3, "visit_occurrence_id": 103, "note_class_source_value": "CR-ANAPATH", "note_datetime": D(2020, 2, 1),
     "note_text": "Métastases hépatiques multiples. Classification pT2N0M0."},
    {"note_id": 4, "person_id": 1, "visit_occurrence_id": 101, "note_class_source_value": "CRH", "note_datetime": D(2020, 1, 16),
     "note_text": "Métastase hépatique.", "row_status_source_value": "supprimé"},
]


def notes_catalog(folder: Path, notes: list[dict] | None = None) -> Path:
    """The semantic fixture's warehouse with `notes` (default NOTES) as its reports, and its catalogue."""
    from workbench.catalog import write_catalog

    folder.mkdir(parents=True, exist_ok=True)
    write_aphp(folder / "eds.duckdb", {**APHP_ROWS, "note": NOTES if notes is None else notes})
    write_catalog(folder / "eds.duckdb", "aphp", folder / "catalog.yaml")
    return folder / "catalog.yaml"


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test has its own state folder: its own note cache and audit log."""
    folder = tmp_path / "state"
    monkeypatch.setenv("WORKBENCH_STATE", str(folder))
    return folder


@pytest.fixture(scope="session")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return notes_catalog(tmp_path_factory.mktemp("nlp"))
