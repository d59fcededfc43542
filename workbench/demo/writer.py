"""Writing generated tables into DuckDB with exactly the types of the schema contract.

Tables are created from ``workbench/schema/aphp_tables.yaml`` (ibis types mapped
to DuckDB types) and chunks are appended *by name*, so a chunk may omit a
nullable column and DuckDB casts every value to the declared type.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import duckdb
import pyarrow as pa
import yaml

from workbench.demo.common import Table, to_arrow

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema" / "aphp_tables.yaml"
DUCKDB_TYPES = {"int64": "BIGINT", "string": "VARCHAR", "timestamp": "TIMESTAMP", "date": "DATE", "float64": "DOUBLE"}


@lru_cache(maxsize=1)
def schema() -> dict:
    """The raw tables contract: table -> {columns: {name: {type, description}}, primary_key, ...}."""
    with SCHEMA_FILE.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def primary_key(table: str) -> list[str]:
    key = schema()[table].get("primary_key", [])
    return [key] if isinstance(key, str) else list(key)


class Warehouse:
    """A DuckDB file being built: create every table, append chunks, export."""

    def __init__(self, path: Path, memory_limit: str = "2GB") -> None:
        self.con = duckdb.connect(str(path))
        self.con.execute(f"SET memory_limit = '{memory_limit}'")
        self.con.execute("SET threads = 2")
        self.con.execute("SET preserve_insertion_order = true")
        for table, spec in schema().items():
            columns = ", ".join(f"{_quoted(name)} {DUCKDB_TYPES[column['type']]}" for name, column in spec["columns"].items())
            self.con.execute(f"CREATE TABLE {_quoted(table)} ({columns})")

    def append(self, table: str, rows: Table) -> None:
        """Append a chunk; unknown column names are a bug in the generator, so DuckDB's error is kept."""
        arrow = pa.table({name: to_arrow(values) for name, values in rows.items()})
        self.con.register("_chunk", arrow)
        try:
            self.con.execute(f"INSERT INTO {_quoted(table)} BY NAME SELECT * FROM _chunk")
        finally:
            self.con.unregister("_chunk")

    def count(self, table: str) -> int:
        return int(self.con.execute(f"SELECT count(*) FROM {_quoted(table)}").fetchone()[0])

    def export_parquet(self, folder: Path, table: str) -> None:
        """Copy a table to ``folder/<table>.parquet`` (same content, insertion order)."""
        folder.mkdir(parents=True, exist_ok=True)
        target = str(folder / f"{table}.parquet").replace("'", "''")
        self.con.execute(f"COPY {_quoted(table)} TO '{target}' (FORMAT PARQUET, COMPRESSION ZSTD)")

    def close(self) -> None:
        self.con.execute("CHECKPOINT")
        self.con.close()
