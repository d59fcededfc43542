"""Fixtures of the notebook tests: the demo catalogue and independent SQL on its DuckDB file."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import duckdb_file


@pytest.fixture(scope="session")
def demo_catalog(demo_dir: Path) -> Path:
    return Path(demo_dir) / "catalog.yaml"


@pytest.fixture(scope="session")
def sql(demo_dir: Path):
    """A read-only DuckDB connection on the demo file: `sql(query, *params)` → list of tuples."""
    import duckdb

    con = duckdb.connect(str(duckdb_file(demo_dir)), read_only=True)

    def run(query: str, *params: object) -> list[tuple]:
        return con.execute(query, list(params)).fetchall()

    yield run
    con.close()
