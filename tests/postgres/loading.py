"""Copy a workbench warehouse (any catalogue DuckDB can read) into a schema of the test cluster.

Each table is created with the catalogue's column types and filled with
``COPY … FROM STDIN`` from a CSV DuckDB writes (DuckDB writes an empty string
as ``""`` and a null as nothing, which PostgreSQL's CSV format reads back as
such). The role `reader` then gets USAGE on the schema and SELECT on its
tables, nothing more.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
import ibis

from postgres.conftest import DATABASE, READER, Server
from workbench.catalog import load_catalog


def load_into(server: Server, catalog: Path, schema: str) -> None:
    """Every table of `catalog`, typed as the catalogue says, into `schema` (created, replaced if present)."""
    source = load_catalog(catalog)
    target = ibis.postgres.connect(host=server.host, port=server.port, user="postgres", database=DATABASE)
    local = ibis.duckdb.connect()
    try:
        target.raw_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; CREATE SCHEMA "{schema}"')
        with tempfile.TemporaryDirectory() as folder:
            for name, info in source.tables.items():
                table = source.read(name, con=local if source.source_kind != "duckdb" else None)
                csv = Path(folder) / f"{name}.csv"
                duckdb.from_arrow(table.to_pyarrow()).write_csv(str(csv), header=False)
                target.create_table(info.table, schema=table.schema(), database=schema)
                with target.con.cursor() as cursor, cursor.copy(
                    f'COPY "{schema}"."{info.table}" FROM STDIN (FORMAT csv)'
                ) as copy, csv.open("rb") as stream:
                    while chunk := stream.read(1 << 20):
                        copy.write(chunk)
        target.raw_sql(f'GRANT USAGE ON SCHEMA "{schema}" TO {READER}; '
                       f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO {READER}')
    finally:
        target.disconnect()
        local.disconnect()
