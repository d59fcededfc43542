"""The demo's notes_truth.json says what the reports hold (checked on the text with SQL, without the NLP)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import duckdb
import pytest


@pytest.fixture(scope="module")
def truth(demo_dir: Path) -> dict:
    return json.loads((demo_dir / "notes_truth.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def texts(demo_dir: Path) -> dict[int, tuple[int, str]]:
    with duckdb.connect(str(demo_dir / "eds.duckdb"), read_only=True) as con:
        return {note: (person, text) for note, person, text in con.execute("SELECT note_id, person_id, note_text FROM note").fetchall()}


def test_every_finding_is_written_in_its_report_with_its_status(truth, texts):
    mentions = truth["mentions"]
    assert set(mentions["status"]) == {"affirmé", "nié", "hypothétique", "familial"}
    cues = {"nié": ("Pas ", "Absence ", "Aucun argument", "ne retrouve pas"), "hypothétique": ("Suspicion", "Possible", "Hypothèse"),
            "familial": ("familial", "mère", "Père"), "affirmé": ("Présence", "On retient", "Le bilan confirme", "constatée")}
    for note, person, term, status in zip(mentions["note_id"], mentions["person_id"], mentions["term"], mentions["status"]):
        owner, text = texts[note]
        assert owner == person
        sentence = next(s for s in text.split(". ") if term in s.lower())
        assert any(cue in sentence for cue in cues[status]), (status, sentence)


def test_findings_are_spread_over_the_reports(truth, texts):
    per_note = Counter(truth["mentions"]["note_id"])
    assert set(per_note.values()) == {1, 2}
    share = len(per_note) / len(texts)
    assert 0.4 < share < 0.6  # half the reports have no finding


def test_every_stage_is_written_and_every_written_stage_is_in_the_truth(truth, texts):
    stages = truth["stades"]
    written = {note for note, (_, text) in texts.items() if "Stade TNM" in text}
    assert set(stages["note_id"]) == written
    for note, t, n, m in zip(stages["note_id"], stages["t"], stages["n"], stages["m"]):
        assert f"Stade TNM : pT{t}N{n}M{m}." in texts[note][1]
