"""The NLP on PostgreSQL (real throwaway cluster, tests/postgres/conftest.py): the same answers as on DuckDB.

PostgreSQL has no SHA-256 for ibis to compile, so the notes' keys are hashed in
Python there; they must equal the engine's (DuckDB) so that a note analysed
from one backend is found again from the other.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import workbench
from postgres.conftest import Server, postgres_server, reader_password_file  # noqa: F401  (session fixtures)
from postgres.loading import load_into
from workbench.catalog import write_catalog
from workbench.nlp import find_mentions, tnm_mentions
from workbench.nlp.mentions import cached_notes


def _plain(frame: pd.DataFrame) -> list[tuple]:
    return sorted(tuple(str(v) for v in row) for row in frame.itertuples(index=False))


def test_postgres_gives_the_duckdb_answers_from_the_same_cache(catalog: Path, postgres_server: Server,  # noqa: F811
                                                               reader_password_file: Path, tmp_path: Path):  # noqa: F811
    load_into(postgres_server, catalog, "nlp")
    pg = tmp_path / "postgres-nlp.yaml"
    write_catalog(postgres_server.url("nlp", password_file=str(reader_password_file)), "aphp", pg)
    with workbench.open(catalog) as duck:
        keys, cache = cached_notes(duck, progress=False)
        expected = (find_mentions(duck, ["métastase"], qualified=True, progress=False), tnm_mentions(duck, progress=False))
    with workbench.open(pg) as postgres:
        seen = postgres.execute(postgres.view("notes").select("note_id", "text"))
        assert len(seen) == 3
        assert cache.missing(keys).empty
        got = (find_mentions(postgres, ["métastase"], qualified=True, progress=False), tnm_mentions(postgres, progress=False))
        pg_keys, _ = cached_notes(postgres, progress=False)
    assert _plain(pg_keys[["note_id", "hash"]]) == _plain(keys[["note_id", "hash"]])
    for mine, theirs in zip(got, expected):
        assert _plain(mine.drop(columns="datetime")) == _plain(theirs.drop(columns="datetime")) and len(mine) > 0
