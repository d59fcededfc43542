"""NLP accuracy on about fifty hand-written, hand-labelled French sentences (tests/fixtures/nlp_sentences.yaml).

Each sentence is a report of its own in a small warehouse, read through the
public path (notes view, cache, find_mentions / tnm_mentions). The accuracy
of each qualifier is the share of sentences whose flag equals the label; a
term not found counts as wrong for every qualifier. The floors are the figures
measured with edsnlp 0.23.0 (printed with ``-s``), rounded down.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import yaml

import workbench
from workbench.nlp import find_mentions, tnm_mentions

from nlp.conftest import notes_catalog

SENTENCES = yaml.safe_load((Path(__file__).parents[1] / "fixtures" / "nlp_sentences.yaml").read_text("utf-8"))
FLOORS = {"nie": 0.95, "hypothese": 0.85, "familial": 0.95, "tnm": 0.95}


def _note(note_id: int, text: str) -> dict:
    return {"note_id": note_id, "person_id": 1, "visit_occurrence_id": 101, "note_class_source_value": "CRH",
            "note_datetime": datetime(2020, 1, 15), "note_text": text}


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    mentions, stages = SENTENCES["mentions"], SENTENCES["tnm"]
    notes = [_note(i, entry["texte"]) for i, entry in enumerate(mentions + stages, start=1)]
    catalog = notes_catalog(tmp_path_factory.mktemp("sentences"), notes)
    with workbench.open(catalog) as w:
        found = find_mentions(w, sorted({entry["terme"] for entry in mentions}), qualified=True, progress=False)
        read = tnm_mentions(w, progress=False)
    right = {"nie": 0, "hypothese": 0, "familial": 0}
    for note_id, entry in enumerate(mentions, start=1):
        hit = found[(found["note_id"] == note_id) & (found["term"] == entry["terme"])]
        if hit.empty:
            continue
        flags = {"nie": bool(hit["negated"].iloc[0]), "hypothese": bool(hit["hypothetical"].iloc[0]), "familial": bool(hit["family"].iloc[0])}
        for key in right:
            right[key] += flags[key] == entry.get(key, False)
    exact = 0
    for note_id, entry in enumerate(stages, start=len(mentions) + 1):
        rows = read[read["note_id"] == note_id]
        exact += any((r.t, r.n, r.m) == (entry["t"], entry["n"], entry["m"]) for r in rows.itertuples())
    accuracy = {key: value / len(mentions) for key, value in right.items()} | {"tnm": exact / len(stages)}
    print("\nNLP accuracy on the hand-labelled sentences:", {k: round(v, 3) for k, v in accuracy.items()})
    return accuracy


def test_the_fixture_holds_about_fifty_labelled_sentences():
    assert 45 <= len(SENTENCES["mentions"]) + len(SENTENCES["tnm"]) <= 60
    assert all(set(entry) <= {"texte", "terme", "nie", "hypothese", "familial"} for entry in SENTENCES["mentions"])
    # every qualifier has positive and negative examples, so that a constant answer cannot pass the floors
    for key in ("nie", "hypothese", "familial"):
        positives = sum(entry.get(key, False) for entry in SENTENCES["mentions"])
        assert 5 <= positives <= len(SENTENCES["mentions"]) - 5, key


@pytest.mark.parametrize("qualifier", ["nie", "hypothese", "familial", "tnm"])
def test_accuracy_is_at_least_the_measured_floor(measured: dict[str, float], qualifier: str):
    assert measured[qualifier] >= FLOORS[qualifier], measured
