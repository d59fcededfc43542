"""The per-note cache in the state folder: what a note yields whatever the query (SQLite, WAL).

Keyed by note id and content hash (:func:`workbench.nlp.pipeline.content_hash`,
which includes the pipeline version): a corrected report, or a new pipeline,
is analysed again; an unchanged one never is. Sentences are indexed by an FTS5
table on their normalised tokens, so a query for words reads the few sentences
that hold them, not every sentence of the warehouse. Once every note of a set
is known to be analysed, the set's digest is recorded (``complete``): the next
query on the same notes skips even the per-note check. The cache holds report
text, so it lives in the state folder (server-side, never handed out); who may
*see* sentences is decided where they are displayed (prescreening).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from typing import Any, ClassVar

import pandas as pd

from workbench.errors import UserError
from workbench.nlp.pipeline import Analysis, analyse
from workbench.state import SqliteStore

#: Notes analysed and written per transaction: an interrupted build keeps what it finished.
BATCH = 2_000
SENTENCE_COLUMNS = ["note_id", "hash", "idx", "text", "norms", "spans", "flags"]
STAGE_COLUMNS = ["note_id", "hash", "idx", "sentence", "tnm", "t", "n", "m"]


class NoteCache(SqliteStore):
    """Sentences, qualifier scopes and TNM stages of every note analysed so far."""

    filename: ClassVar[str] = "nlp_notes.sqlite"
    schema: ClassVar[str] = """
        CREATE TABLE IF NOT EXISTS notes (note_id INTEGER NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (note_id, hash));
        CREATE TABLE IF NOT EXISTS sentences (
            id INTEGER PRIMARY KEY, note_id INTEGER NOT NULL, hash TEXT NOT NULL, idx INTEGER NOT NULL,
            text TEXT NOT NULL, norms TEXT NOT NULL, spans TEXT NOT NULL, flags TEXT NOT NULL,
            UNIQUE (note_id, hash, idx));
        CREATE VIRTUAL TABLE IF NOT EXISTS sentences_fts USING fts5(norms, content='sentences', content_rowid='id');
        CREATE TABLE IF NOT EXISTS stages (
            note_id INTEGER NOT NULL, hash TEXT NOT NULL, idx INTEGER NOT NULL, sentence TEXT NOT NULL,
            tnm TEXT NOT NULL, t TEXT, n TEXT, m TEXT);
        CREATE TABLE IF NOT EXISTS complete (digest TEXT PRIMARY KEY);
    """

    def is_complete(self, digest: str) -> bool:
        """Whether every note of the set whose digest is `digest` is known to be analysed."""
        with closing(self._connect()) as con:
            return con.execute("SELECT 1 FROM complete WHERE digest = ?", [digest]).fetchone() is not None

    def mark_complete(self, digest: str) -> None:
        with closing(self._connect()) as con, con:
            con.execute("INSERT OR IGNORE INTO complete VALUES (?)", [digest])

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
        pairs = list(zip(keys["note_id"].tolist(), keys["hash"].tolist()))
        for (note_id, digest), analysis in zip(pairs, analyses):
            sentences += [(note_id, digest, s.index, s.text, s.norms, s.spans, s.flags) for s in analysis.sentences]
            stages += [(note_id, digest, s.sentence, s.text, s.tnm, s.t, s.n, s.m) for s in analysis.stages]
        with closing(self._connect()) as con:
            con.isolation_level = None  # explicit transaction
            con.execute("BEGIN IMMEDIATE")  # one writer at a time: the FTS rows below are this batch's
            try:
                last = con.execute("SELECT coalesce(max(id), 0) FROM sentences").fetchone()[0]
                con.executemany("INSERT OR IGNORE INTO sentences (note_id, hash, idx, text, norms, spans, flags) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?)", sentences)
                con.execute("INSERT INTO sentences_fts (rowid, norms) SELECT id, norms FROM sentences WHERE id > ?", [last])
                con.executemany("DELETE FROM stages WHERE note_id = ? AND hash = ?", pairs)
                con.executemany("INSERT INTO stages VALUES (?, ?, ?, ?, ?, ?, ?, ?)", stages)
                con.executemany("INSERT OR IGNORE INTO notes VALUES (?, ?)", pairs)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def build(self, notes: pd.DataFrame, progress: bool | None = None) -> int:
        """Analyse the notes (note_id, hash, text) given, with a progress bar; returns how many were analysed.

        ``$WORKBENCH_NLP_WORKERS`` processes share the work (default 1: the
        server's other users keep their cores); batches are written as they end.
        """
        if notes.empty:
            return 0
        workers = _workers()
        with _bar(len(notes), sys.stderr.isatty() if progress is None else progress) as advance:
            for start in range(0, len(notes), BATCH * workers):
                part = notes.iloc[start:start + BATCH * workers]
                self.add(part, analyse(part["text"].tolist(), workers=workers))
                advance(len(part))
        return len(notes)

    def sentences(self, norms_containing: list[str] | None = None) -> pd.DataFrame:
        """Cached sentences (SENTENCE_COLUMNS) of every note; with `norms_containing`, only those whose
        normalised tokens may hold one of these strings (FTS5 phrase search, to be confirmed by the caller)."""
        columns = ", ".join(f"s.{c}" for c in SENTENCE_COLUMNS)
        with closing(self._connect()) as con:
            if norms_containing is None:
                return pd.read_sql_query(f"SELECT {columns} FROM sentences s", con)
            phrases = [_phrase(norms) for norms in norms_containing]
            if any(phrase is None for phrase in phrases):  # a term without letters or digits: scan
                where = " OR ".join("instr(s.norms, ?) > 0" for _ in norms_containing)
                return pd.read_sql_query(f"SELECT {columns} FROM sentences s WHERE {where}", con, params=norms_containing)
            query = " OR ".join(phrases)
            return pd.read_sql_query(f"SELECT {columns} FROM sentences_fts f JOIN sentences s ON s.id = f.rowid "
                                     "WHERE sentences_fts MATCH ?", con, params=[query])

    def stages(self) -> pd.DataFrame:
        """Cached TNM stages (STAGE_COLUMNS) of every note."""
        with closing(self._connect()) as con:
            return pd.read_sql_query(f"SELECT {', '.join(STAGE_COLUMNS)} FROM stages", con)


def _workers() -> int:
    """Processes analysing notes: ``$WORKBENCH_NLP_WORKERS`` (a positive integer), default 1."""
    value = os.environ.get("WORKBENCH_NLP_WORKERS", "1").strip()
    if not value.isdigit() or int(value) < 1:
        raise UserError(f"WORKBENCH_NLP_WORKERS={value!r} : nombre de processus d'analyse invalide (entier ≥ 1 attendu)")
    return int(value)


def _phrase(norms: str) -> str | None:
    """The FTS5 phrase query of normalised tokens (their letters and digits), or None when there are none."""
    words = re.findall(r"\w+", norms)
    return '"' + " ".join(words) + '"' if words else None


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
