"""find_mentions / tnm_mentions on four hand-written reports (tests/nlp/conftest.py shows them)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest

import workbench
from workbench.access.context import UserContext
from workbench.errors import UserError
from workbench.cohorts.evaluate import tnm_matches
from workbench.nlp import find_mentions, tnm_mentions
from workbench.nlp.cache import NoteCache
from workbench.nlp.mentions import cached_notes
from workbench.nlp.pipeline import content_hash

from nlp.conftest import NOTES, notes_catalog


def rows(frame: pd.DataFrame, *columns: str) -> list[tuple]:
    return sorted(tuple(row) for row in frame[list(columns)].itertuples(index=False))


def test_affirmed_mentions_only_by_default(catalog: Path):
    with workbench.open(catalog) as w:
        found = find_mentions(w, ["métastase"], progress=False)
    # "Pas de métastase" is negated, note 2's are hypothetical and family; "Métastases" is another token; note 4 deleted.
    assert rows(found, "note_id", "person_id", "stay_id", "matched") == [(1, 1, 101, "Métastase")]
    assert found.loc[0, "sentence"] == "Métastase pulmonaire confirmée."
    assert found.loc[0, "datetime"] == pd.Timestamp("2020-01-15")


def test_qualified_mentions_carry_their_flags(catalog: Path):
    with workbench.open(catalog) as w:
        found = find_mentions(w, ["Metastase"], qualified=True, progress=False)
    assert rows(found, "note_id", "sentence", "negated", "hypothetical", "family") == [
        (1, "Métastase pulmonaire confirmée.", False, False, False),
        (1, "Pas de métastase hépatique.", True, False, False),
        (2, "Sa mère a eu une métastase cérébrale.", False, False, True),
        (2, "Suspicion de métastase osseuse.", False, True, False),
    ]


def test_multi_word_terms_and_regular_expressions(catalog: Path):
    with workbench.open(catalog) as w:
        words = find_mentions(w, ["métastases hépatiques", "metastase pulmonaire"], progress=False)
        pattern = find_mentions(w, [r"m[ée]tastases?\s+h[ée]patiques?"], regex=True, qualified=True, progress=False)
    assert rows(words, "note_id", "matched", "term") == [(1, "Métastase pulmonaire", "metastase pulmonaire"),
                                                         (3, "Métastases hépatiques", "métastases hépatiques")]
    assert rows(pattern, "note_id", "matched", "negated") == [(1, "métastase hépatique", True), (3, "Métastases hépatiques", False)]


def test_the_perimeter_applies(catalog: Path):
    clinician = UserContext(name="onco.028", role="clinicien", perimeter=frozenset({"028"}), nominative=True)
    with workbench.open(catalog, user=clinician) as w:
        found = find_mentions(w, ["métastases"], progress=False)
        stages = tnm_mentions(w, progress=False)
    assert rows(found, "note_id") == [(3,)]
    assert rows(stages, "note_id", "tnm") == [(3, "pT2N0M0")]


def test_tnm_stages_and_conditions(catalog: Path):
    with workbench.open(catalog) as w:
        stages = tnm_mentions(w, progress=False)
    assert rows(stages, "note_id", "person_id", "tnm", "t", "n", "m", "sentence") == [
        (1, 1, "pT3N1M1", "3", "1", "1", "Stade pT3N1M1."),
        (3, 3, "pT2N0M0", "2", "0", "0", "Classification pT2N0M0."),
    ]
    assert rows(stages[tnm_matches(stages, ["T>=3"])], "note_id") == [(1,)]
    assert rows(stages[tnm_matches(stages, ["M0"])], "note_id") == [(3,)]
    assert rows(stages[tnm_matches(stages, ["T>1", "N<=1"])], "note_id") == [(1,), (3,)]
    assert not tnm_matches(stages, ["T>=4"]).any()


def test_the_cache_is_keyed_by_note_and_content(tmp_path: Path, state: Path):
    first = notes_catalog(tmp_path / "v1")
    with workbench.open(first) as w:
        notes, cache = cached_notes(w, progress=False)
    assert sorted(notes["note_id"]) == [1, 2, 3]
    assert cache.missing(notes).empty
    # the engine's hash (SQL) is the pipeline's (Python): a note is found again whichever computed its key
    assert notes.set_index("note_id").loc[1, "hash"] == content_hash(NOTES[0]["note_text"])
    # The same note ids with note 2 corrected: only note 2 is analysed again, and the answer follows the new text.
    edited = [dict(note) for note in NOTES]
    edited[1]["note_text"] = "Métastase osseuse confirmée."
    second = notes_catalog(tmp_path / "v2", edited)
    with workbench.open(second) as w:
        found = find_mentions(w, ["métastase"], progress=False)
    assert rows(found, "note_id", "sentence") == [(1, "Métastase pulmonaire confirmée."), (2, "Métastase osseuse confirmée.")]
    with closing(sqlite3.connect(NoteCache(state).path)) as con:
        assert con.execute("SELECT count(*) FROM notes WHERE note_id = 2").fetchone()[0] == 2  # both versions kept
        assert con.execute("SELECT count(*) FROM notes").fetchone()[0] == 4


@pytest.mark.parametrize("terms, regex, message", [
    ([], False, "liste non vide"),
    ("métastase", False, "liste non vide"),
    (["  "], False, "terme vide"),
    (["m[ée"], True, "expression régulière invalide « m\\[ée »"),
])
def test_bad_terms_are_one_clear_error(catalog: Path, terms, regex, message):
    with workbench.open(catalog) as w, pytest.raises(UserError, match=message):
        find_mentions(w, terms, regex=regex, progress=False)


def test_worker_processes_give_the_same_analysis(catalog: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WORKBENCH_NLP_WORKERS", "2")
    with workbench.open(catalog) as w:
        found = find_mentions(w, ["Metastase"], qualified=True, progress=False)
        stages = tnm_mentions(w, progress=False)
    assert rows(found, "note_id", "negated", "hypothetical", "family") == [
        (1, False, False, False), (1, True, False, False), (2, False, False, True), (2, False, True, False)]
    assert rows(stages, "note_id", "tnm") == [(1, "pT3N1M1"), (3, "pT2N0M0")]


def test_a_bad_worker_count_is_one_clear_error(catalog: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("WORKBENCH_NLP_WORKERS", "deux")
    with workbench.open(catalog) as w, pytest.raises(UserError, match="WORKBENCH_NLP_WORKERS='deux'"):
        find_mentions(w, ["métastase"], progress=False)
