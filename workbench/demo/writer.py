"""Writing generated tables with exactly the types of the schema contract, to Parquet then DuckDB.

Chunks are cast to the contract's types (``workbench/schema/aphp_tables.yaml``)
and appended as row groups to ``parquet/<table>.parquet``; once every chunk is
written, each DuckDB table is bulk-loaded from its Parquet file in one
statement. Appending chunk by chunk straight into DuckDB was three times
slower (many small appends), and this way the Parquet export comes for free.
Tables computed in SQL at the end (capacities, reference lengths, metadata) are
exported to Parquet once filled.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from workbench.demo.common import Table, to_arrow

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema" / "aphp_tables.yaml"
DUCKDB_TYPES = {"int64": "BIGINT", "string": "VARCHAR", "timestamp": "TIMESTAMP", "date": "DATE", "float64": "DOUBLE"}
ARROW_TYPES = {"int64": pa.int64(), "string": pa.string(), "timestamp": pa.timestamp("us"), "date": pa.date32(), "float64": pa.float64()}


@lru_cache(maxsize=1)
def schema() -> dict:
    """The raw tables contract: table -> {columns: {name: {type, description}}, primary_key, ...}."""
    with SCHEMA_FILE.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def arrow_schema(table: str) -> pa.Schema:
    return pa.schema([(name, ARROW_TYPES[column["type"]]) for name, column in schema()[table]["columns"].items()])


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def conform(table: str, rows: Table) -> pa.Table:
    """An Arrow table with every contract column in order and type (absent columns are null)."""
    target = arrow_schema(table)
    unknown = set(rows) - set(target.names)
    if unknown:
        raise ValueError(f"{table}: columns outside the schema contract {sorted(unknown)}")
    length = len(next(iter(rows.values())))
    columns = [
        to_arrow(rows[field.name]).cast(field.type) if field.name in rows else pa.nulls(length, field.type)
        for field in target
    ]
    return pa.Table.from_arrays(columns, schema=target)


class Warehouse:
    """A warehouse being built in ``folder``: Parquet files per table, then ``eds.duckdb``."""

    def __init__(self, folder: Path, memory_limit: str = "2GB") -> None:
        self.parquet = folder / "parquet"
        self.parquet.mkdir(parents=True, exist_ok=True)
        self._writers: dict[str, pq.ParquetWriter] = {}
        self.con = duckdb.connect(str(folder / "eds.duckdb"))
        self.con.execute(f"SET memory_limit = '{memory_limit}'")
        self.con.execute("SET preserve_insertion_order = true")
        for table, spec in schema().items():
            columns = ", ".join(f"{_quoted(name)} {DUCKDB_TYPES[column['type']]}" for name, column in spec["columns"].items())
            self.con.execute(f"CREATE TABLE {_quoted(table)} ({columns})")

    def path(self, table: str) -> Path:
        return self.parquet / f"{table}.parquet"

    def append(self, table: str, rows: Table) -> None:
        """Append a chunk of rows (a row group of the table's Parquet file)."""
        if table not in self._writers:
            self._writers[table] = pq.ParquetWriter(self.path(table), arrow_schema(table), compression="zstd", compression_level=1)
        self._writers[table].write_table(conform(table, rows))

    def load(self) -> None:
        """Close the Parquet files and bulk-load each one into its DuckDB table."""
        for table, writer in self._writers.items():
            writer.close()
            self.con.execute(f"INSERT INTO {_quoted(table)} SELECT * FROM read_parquet({_literal(self.path(table))})")
        self._writers.clear()

    def export(self, table: str) -> None:
        """Write a table filled in SQL to its Parquet file."""
        self.con.execute(f"COPY {_quoted(table)} TO {_literal(self.path(table))} (FORMAT PARQUET, COMPRESSION ZSTD)")

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()
        self.con.execute("CHECKPOINT")
        self.con.close()
