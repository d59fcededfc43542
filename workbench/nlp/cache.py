"""The per-note cache in the state folder: what a note yields whatever the query (SQLite, WAL).

Keyed by note id and content hash (:func:`workbench.nlp.pipeline.content_hash`,
which includes the pipeline version): a corrected report, or a new pipeline,
is analysed again; an unchanged one never is. The cache holds report text, so
it lives in the state folder (server-side, never handed out); who may *see*
sentences is decided where they are displayed (prescreening).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from typing import Any, ClassVar

import pandas as pd

from workbench.nlp.pipeline import Analysis, analyse
from workbench.state import SqliteStore

#: Notes analysed and written per transaction: an interrupted build keeps what it finished.
BATCH = 2_000


class NoteCache(SqliteStore):
    """Sentences, qualifier scopes and TNM stages of every note analysed so far."""

    filename: ClassVar[str] = "nlp_notes.sqlite"
    schema: ClassVar[str] = """
        CREATE TABLE IF NOT EXISTS notes (note_id INTEGER NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (note_id, hash));
        CREATE TABLE IF NOT EXISTS sentences (
            note_id INTEGER NOT NULL, hash TEXT NOT NULL, idx INTEGER NOT NULL,
            text TEXT NOT NULL, norms TEXT NOT NULL, spans TEXT NOT NULL, flags TEXT NOT NULL,
            PRIMARY KEY (note_id, hash, idx));
        CREATE TABLE IF NOT EXISTS stages (
            note_id INTEGER NOT NULL, hash TEXT NOT NULL, idx INTEGER NOT NULL,
            tnm TEXT NOT NULL, t TEXT, n TEXT, m TEXT);
        CREATE INDEX IF NOT EXISTS stages_note ON stages (note_id, hash);
    """

    def missing(self, keys: pd.DataFrame) -> pd.DataFrame:
        """The rows of `keys` (note_id, hash, …) not analysed yet."""
        if keys.empty:
            return keys
        with closing(self._connect()) as con:
            done = pd.read_sql_query("SELECT note_id, hash FROM notes", con)
        merged = keys.merge(done, on=["note_id", "hash"], how="left", indicator=True)
        return keys[(merged["_merge"] == "left_only").to_numpy()]

    def add(self, keys: pd.DataFrame, analyses: Iterable[Analysis]) -> None:
        """Store the analyses of `keys` (note_id, hash), in the same order, in one transaction."""
        sentences, stages = [], []
        for note_id, digest, analysis in zip(keys["note_id"].tolist(), keys["hash"].tolist(), analyses):
            sentences += [(note_id, digest, s.index, s.text, s.norms, s.spans, s.flags) for s in analysis.sentences]
            stages += [(note_id, digest, s.sentence, s.tnm, s.t, s.n, s.m) for s in analysis.stages]
        with closing(self._connect()) as con, con:
            con.executemany("INSERT OR REPLACE INTO sentences VALUES (?, ?, ?, ?, ?, ?, ?)", sentences)
            con.executemany("DELETE FROM stages WHERE note_id = ? AND hash = ?", zip(keys["note_id"].tolist(), keys["hash"].tolist()))
            con.executemany("INSERT INTO stages VALUES (?, ?, ?, ?, ?, ?, ?)", stages)
            con.executemany("INSERT OR IGNORE INTO notes VALUES (?, ?)", zip(keys["note_id"].tolist(), keys["hash"].tolist()))

    def build(self, notes: pd.DataFrame, progress: bool | None = None) -> int:
        """Analyse the notes (note_id, text, hash) not cached yet, with a progress bar; returns how many were analysed."""
        todo = self.missing(notes)
        if todo.empty:
            return 0
        with _bar(len(todo), sys.stderr.isatty() if progress is None else progress) as advance:
            for start in range(0, len(todo), BATCH):
                part = todo.iloc[start:start + BATCH]
                self.add(part, analyse(part["text"].tolist()))
                advance(len(part))
        return len(todo)

    def read(self, table: str, keys: pd.DataFrame, norms_containing: list[str] | None = None) -> pd.DataFrame:
        """Rows of `table` ("sentences" or "stages") for the notes of `keys` (note_id, hash), as cached.

        `norms_containing`: only sentences whose normalised tokens contain one of
        these strings (a pre-filter in SQLite, so a query for words fetches the few
        sentences that can match rather than every sentence).
        """
        assert table in ("sentences", "stages")
        where, parameters = "", []
        if norms_containing:
            where = "WHERE " + " OR ".join("instr(c.norms, ?) > 0" for _ in norms_containing)
            parameters = list(norms_containing)
        with closing(self._connect()) as con, con:
            con.execute("CREATE TEMP TABLE wanted (note_id INTEGER, hash TEXT, PRIMARY KEY (note_id, hash))")
            con.executemany("INSERT OR IGNORE INTO wanted VALUES (?, ?)", zip(keys["note_id"].tolist(), keys["hash"].tolist()))
            frame = pd.read_sql_query(f"SELECT c.* FROM {table} c JOIN wanted USING (note_id, hash) {where} ORDER BY note_id, idx",
                                      con, params=parameters)
        return frame


@contextmanager
def _bar(total: int, enabled: bool) -> Iterator[Any]:
    """A rich progress bar over the notes analysed (or a no-op)."""
    if not enabled:
        yield lambda _n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("Analyse des comptes rendus"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=True) as bar:
        task = bar.add_task("nlp", total=total)
        yield lambda n: bar.advance(task, n)
