"""Small SQL helpers of the generator tests."""

from __future__ import annotations

import duckdb


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    """The single value of a query."""
    return con.execute(sql, params or []).fetchone()[0]


def ids_where(con: duckdb.DuckDBPyConnection, sql: str) -> set[int]:
    return {row[0] for row in con.execute(sql).fetchall()}
