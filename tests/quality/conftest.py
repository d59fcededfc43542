"""Small hand-written warehouses for the quality checks, opened through the real `workbench.open`.

`make_warehouse` writes a DuckDB file holding every raw table of the AP-HP
schema (typed from `workbench/schema/aphp_tables.yaml`; the rows a test gives,
other tables empty), writes its catalogue with `write_catalog`, and opens it.
Tests state their rows inline, so every expected count can be checked by eye.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any, Callable

import duckdb
import pytest
import yaml

SCHEMA = yaml.safe_load((Path(__file__).resolve().parents[2] / "workbench" / "schema" / "aphp_tables.yaml").read_text())
SQL_TYPES = {"int64": "BIGINT", "string": "VARCHAR", "timestamp": "TIMESTAMP", "date": "DATE", "float64": "DOUBLE"}
EXTRACTION = dt.date(2024, 6, 30)
_counter = itertools.count()


def write_duckdb(path: Path, tables: dict[str, list[dict[str, Any]]], extraction: dt.date = EXTRACTION,
                 drop: dict[str, list[str]] | None = None) -> None:
    """A DuckDB file with every schema table; `drop` removes columns (to mimic another flavour)."""
    unknown = set(tables) - set(SCHEMA)
    assert not unknown, f"tables inconnues du schéma : {unknown}"
    tables = {"_metadata": [{"extraction_date": extraction, "snapshot_id": f"fixture-{path.stem}"}], **tables}
    with duckdb.connect(str(path)) as con:
        for name, spec in SCHEMA.items():
            columns = [c for c in spec["columns"] if c not in (drop or {}).get(name, [])]
            ddl = ", ".join(f'"{c}" {SQL_TYPES[spec["columns"][c]["type"]]}' for c in columns)
            con.execute(f'CREATE TABLE "{name}" ({ddl})')
            rows = tables.get(name, [])
            for row in rows:
                assert set(row) <= set(spec["columns"]), f"{name} : colonnes inconnues {set(row) - set(spec['columns'])}"
            if rows:
                marks = ", ".join("?" for _ in columns)
                con.executemany(f'INSERT INTO "{name}" VALUES ({marks})', [[r.get(c) for c in columns] for r in rows])


@pytest.fixture
def make_warehouse(tmp_path: Path) -> Callable[..., Any]:
    from workbench.catalog import write_catalog
    from workbench.warehouse import open as open_warehouse

    def make(tables: dict[str, list[dict[str, Any]]], flavour: str = "aphp", **options: Any) -> Any:
        folder = tmp_path / f"wh{next(_counter)}"
        folder.mkdir()
        write_duckdb(folder / "eds.duckdb", tables, **options)
        write_catalog(folder / "eds.duckdb", flavour, folder / "catalog.yaml")
        return open_warehouse(folder / "catalog.yaml")

    return make


def ts(text: str) -> dt.datetime:
    """A timestamp from 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM'."""
    return dt.datetime.fromisoformat(text)
