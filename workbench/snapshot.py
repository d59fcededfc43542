"""Content fingerprints of warehouse tables and of a whole warehouse.

A figure is only reproducible if we can say which data it was computed on, so
the generator and the loaders stamp every warehouse with a snapshot id, and
indicator results carry it. The hash is of the *content*: it does not depend on
row order (a multiset hash: count, wrapping sum and xor of per-row hashes), which
is what hashing the rows sorted by their primary key would give, without paying
for a sort of the largest tables.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

import duckdb

_QUOTE = '"'


def _quoted(name: str) -> str:
    """Quote an identifier that comes from the schema file, never from user input."""
    return _QUOTE + name.replace(_QUOTE, _QUOTE * 2) + _QUOTE


def table_hash(con: duckdb.DuckDBPyConnection, table: str, exclude: Iterable[str] = ()) -> str:
    """Hex digest of a table's content, independent of row order.

    ``exclude`` names columns left out (e.g. a build timestamp that must not
    change the identity of otherwise identical data).
    """
    skipped = set(exclude)
    columns = [row[0] for row in con.execute(f"DESCRIBE {_quoted(table)}").fetchall() if row[0] not in skipped]
    struct = ", ".join(f"{_quoted(column)} := {_quoted(column)}" for column in columns)
    count, total, xor = con.execute(
        f"SELECT count(*), coalesce(sum(h::HUGEINT) % 18446744073709551616, 0), coalesce(bit_xor(h), 0) "
        f"FROM (SELECT hash(struct_pack({struct})) AS h FROM {_quoted(table)})"
    ).fetchone()
    digest = hashlib.sha256(f"{','.join(columns)}|{count}|{total}|{xor}".encode())
    return digest.hexdigest()


def snapshot_id(table_hashes: Mapping[str, str]) -> str:
    """One id for a whole warehouse from its per-table hashes (short, for display)."""
    digest = hashlib.sha256()
    for table in sorted(table_hashes):
        digest.update(f"{table}={table_hashes[table]};".encode())
    return digest.hexdigest()[:16]


def warehouse_hashes(
    con: duckdb.DuckDBPyConnection, tables: Iterable[str], exclude: Mapping[str, Iterable[str]] | None = None
) -> dict[str, str]:
    """Per-table content hashes of ``tables``; ``exclude`` maps a table to the columns to ignore."""
    exclude = exclude or {}
    return {table: table_hash(con, table, exclude.get(table, ())) for table in tables}


#: Load bookkeeping a loader keeps in the warehouse (loads, quarantine, versions, id map): not clinical content.
BOOKKEEPING_TABLES = frozenset({"_metadata", "_loads", "_quarantine", "_resources", "_id_map", "_identifiers"})
#: Provenance columns a loader adds to every row it writes (which resource, version, file, line, load).
PROVENANCE_COLUMNS = ("fhir_resource_type", "fhir_id", "fhir_version_id", "fhir_last_updated", "fhir_content_hash",
                      "fhir_source_file", "fhir_source_line", "fhir_load_id")


def content_snapshot_id(con: duckdb.DuckDBPyConnection) -> str:
    """The snapshot id of a warehouse's clinical content: bookkeeping tables and provenance columns left out,
    so that a load that changed nothing (or only re-stamped provenance) keeps the same id."""
    tables = [row[0] for row in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
                                            "AND schema_name = 'main'").fetchall() if row[0] not in BOOKKEEPING_TABLES]
    return snapshot_id(warehouse_hashes(con, tables, {table: PROVENANCE_COLUMNS for table in tables}))
