"""Same seed, same warehouse; another seed, another one (300 patients, built twice)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from workbench.demo import build_demo
from workbench.demo.writer import schema
from workbench.snapshot import table_hash


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory, vocab_dir: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("determinism")
    out = {}
    for name, seed in (("first", 7), ("again", 7), ("other", 8)):
        out[name] = build_demo(root / name, patients=300, seed=seed, vocab=vocab_dir, progress=False)
    return out


def _differences(a: Path, b: Path, table: str) -> int:
    """Rows of a table present in one build and not the other (multiset difference, both ways)."""
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{a}' AS a (READ_ONLY)")
        con.execute(f"ATTACH '{b}' AS b (READ_ONLY)")
        columns = ", ".join(f'"{c}"' for c in schema()[table]["columns"] if c != "created_at")
        one = con.execute(f'SELECT count(*) FROM (SELECT {columns} FROM a."{table}" EXCEPT ALL SELECT {columns} FROM b."{table}")').fetchone()[0]
        two = con.execute(f'SELECT count(*) FROM (SELECT {columns} FROM b."{table}" EXCEPT ALL SELECT {columns} FROM a."{table}")').fetchone()[0]
    return one + two


def _hashes(path: Path) -> dict[str, str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {table: table_hash(con, table, exclude=["created_at"]) for table in schema()}


def test_same_seed_gives_identical_tables(builds):
    for table in schema():
        assert _differences(builds["first"], builds["again"], table) == 0, table
    assert _hashes(builds["first"]) == _hashes(builds["again"])
    snapshot = [duckdb.connect(str(builds[k]), read_only=True).execute("SELECT snapshot_id FROM _metadata").fetchone()[0] for k in ("first", "again")]
    assert snapshot[0] == snapshot[1]
    assert (builds["first"].parent / "flaws.json").read_text() == (builds["again"].parent / "flaws.json").read_text()
    assert (builds["first"].parent / "notes_truth.json").read_text() == (builds["again"].parent / "notes_truth.json").read_text()


def test_another_seed_gives_other_content(builds):
    changed = {table for table in ("person", "visit_occurrence", "measurement", "condition_occurrence") if _differences(builds["first"], builds["other"], table)}
    assert changed == {"person", "visit_occurrence", "measurement", "condition_occurrence"}
    first, other = _hashes(builds["first"]), _hashes(builds["other"])
    assert first["visit_occurrence"] != other["visit_occurrence"]
    assert first["care_site"] == other["care_site"]  # the tree does not depend on the seed


def test_table_hash_ignores_row_order_but_not_content(tmp_path):
    with duckdb.connect(str(tmp_path / "t.duckdb")) as con:
        con.execute("CREATE TABLE a AS SELECT * FROM (VALUES (1, 'x'), (2, 'y'), (3, NULL)) t(k, v)")
        con.execute("CREATE TABLE b AS SELECT * FROM (VALUES (3, NULL), (1, 'x'), (2, 'y')) t(k, v)")
        con.execute("CREATE TABLE c AS SELECT * FROM (VALUES (1, 'x'), (2, 'z'), (3, NULL)) t(k, v)")
        con.execute("CREATE TABLE d AS SELECT * FROM (VALUES (1, 'x'), (1, 'x'), (2, 'y'), (3, NULL)) t(k, v)")
        hashes = {name: table_hash(con, name) for name in "abcd"}
    assert hashes["a"] == hashes["b"]
    assert hashes["a"] != hashes["c"] and hashes["a"] != hashes["d"]
