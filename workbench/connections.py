"""Backend connections and file reading: the engines under `workbench.open()` (see `workbench.warehouse`).

Connection policy (see docs/architecture.md): a warehouse file is opened
**read-only**, through one connection shared by the whole process (DuckDB
refuses two connections to one file with different settings, and a read-write
connection would lock out other processes). Parquet/CSV sources get a private
in-memory DuckDB connection per `Warehouse` holding views over the files. Spark
uses the active SparkSession (or a local one). A replaced file is reopened
because the shared connection is keyed by the file's identity (inode and
modification time). Kept apart from the warehouse so that the catalogue (which
reads and sniffs files) and the warehouse (which reads the catalogue) do not
import each other.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir

from workbench import materialize
from workbench.errors import UserError

_LOCK = threading.RLock()
_DUCKDB_FILES: dict[tuple[str, int, int], Any] = {}
_SPARK_EXPORTS: dict[tuple[str, int, int, str], str] = {}
_SPARK_VIEWS: dict[tuple[int, str], str] = {}
_SPARK_CONNECTIONS: dict[int, Any] = {}


def _identity(path: str) -> tuple[str, int, int]:
    stat = os.stat(path)
    return (os.path.realpath(path), stat.st_ino, stat.st_mtime_ns)


def shared_duckdb(path: str | Path) -> Any:
    """The process's read-only ibis connection to a DuckDB file (reopened if the file was replaced)."""
    key = _identity(str(path))
    with _LOCK:
        con = _DUCKDB_FILES.get(key)
        if con is None:
            for stale in [k for k in _DUCKDB_FILES if k[0] == key[0]]:
                # not disconnected: a query still running on the old snapshot finishes on it ("Connection
                # already closed!" otherwise); the connection closes when its last handle is dropped
                materialize.forget(_DUCKDB_FILES.pop(stale))
            con = _DUCKDB_FILES[key] = _open_duckdb(key[0])
        return con


def scratch_duckdb(path: str | Path) -> Any:
    """A read-only connection the caller closes (for one-off inspection such as `catalog init`)."""
    return _open_duckdb(os.path.realpath(path))


def _open_duckdb(path: str) -> Any:
    """A read-only ibis connection to a DuckDB file whose catalogue could be read; a truncated, random or
    foreign file is the user's to fix (a `UserError` naming it), not an internal error."""
    import duckdb

    try:
        con = _attach_read_only(path)
    except duckdb.Error as error:
        raise UserError(f"fichier de l'entrepôt illisible : {path} n'est pas une base DuckDB valide "
                        f"(fichier tronqué, corrompu ou d'un autre format ?) — {first_line(error)}") from None
    try:
        con.list_tables()
    except duckdb.Error as error:
        con.disconnect()
        raise UserError(f"fichier de l'entrepôt illisible : {path} est endommagé (tables illisibles) — "
                        f"{first_line(error)}") from None
    return con


def _attach_read_only(path: str) -> Any:
    """An in-memory DuckDB whose default database is the file, attached read-only.

    DuckDB keeps one database instance per file path in a process: connecting
    again to a replaced file would hand back the old snapshot while any handle
    still holds it. Attached, each snapshot gets its own connection, and the
    old one keeps serving the queries already running on it.
    """
    con = ibis.duckdb.connect()
    con.raw_sql("ATTACH '" + path.replace("'", "''") + "' AS eds (READ_ONLY)")
    con.raw_sql("USE eds")
    return con


def first_line(error: Exception) -> str:
    """The first line of a driver error, for a one-line `UserError`."""
    return (str(error).splitlines() or [type(error).__name__])[0]


def shared_spark() -> Any:
    """The process's ibis PySpark connection over the active SparkSession (or a small local one)."""
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is None:
        session = (
            SparkSession.builder.master("local[2]")
            .appName("workbench")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.ui.enabled", "false")
            .config("spark.sql.shuffle.partitions", "2")
            .getOrCreate()
        )
    with _LOCK:
        con = _SPARK_CONNECTIONS.get(id(session))
        if con is None or con._session is not session:
            con = _SPARK_CONNECTIONS[id(session)] = ibis.pyspark.connect(session)
        return con


def spark_tables(con: Any, database: str) -> list[str]:
    """Tables of a metastore database (Spark also lists the session's temporary views: left out)."""
    return sorted(t.name for t in con._session.catalog.listTables(database) if not t.isTemporary)


def _parquet_glob(location: str) -> str:
    return str(Path(location) / "*.parquet") if Path(location).is_dir() else location


def sniff_file(con: Any, kind: str, location: str, table_name: str | None = None) -> ir.Table:
    """A file (or folder of parts) read with the engine's own type detection, for `catalog init`."""
    if kind == "parquet":
        return con.read_parquet(_parquet_glob(location), table_name=table_name)
    return con.read_csv(location, table_name=table_name)


def _typed(table: ir.Table, columns: dict[str, str]) -> ir.Table:
    """Lower-case column names (OMOP exports use any case) and cast to the catalogue's types."""
    renames = {c.lower(): c for c in table.columns if c != c.lower()}
    if renames:
        table = table.rename(renames)
    casts = {}
    for column, type_ in columns.items():
        wanted = ibis.dtype(type_)
        if column in table.columns and table[column].type().copy(nullable=True) != wanted.copy(nullable=True):
            casts[column] = table[column].cast(wanted)
    return table.mutate(**casts) if casts else table


def _spark_view(con: Any, kind: str, location: str, table: str) -> ir.Table:
    """Register a file as a uniquely named temp view (Spark temp views are session-wide)."""
    key = (id(con), f"{kind}:{location}")
    name = _SPARK_VIEWS.get(key)
    if name is None:
        digest = hashlib.sha1(key[1].encode()).hexdigest()[:10]
        name = f"wb_{table}_{digest}"
        if kind == "parquet":
            con.read_parquet(_parquet_glob(location) if Path(location).is_dir() else location, table_name=name)
        else:
            con.read_csv(location, table_name=name, header=True)
        _SPARK_VIEWS[key] = name
    return con.table(name)


def _export_for_spark(location: str, table: str) -> str:
    """Spark cannot read a DuckDB file: copy the table once to Parquet in a process temp folder."""
    key = (*_identity(location), table)
    with _LOCK:
        path = _SPARK_EXPORTS.get(key)
        if path is None:
            folder = Path(tempfile.mkdtemp(prefix="workbench-spark-"))
            atexit.register(shutil.rmtree, folder, True)
            path = str(folder / f"{table}.parquet")
            shared_duckdb(location).table(table).to_parquet(path)
            _SPARK_EXPORTS[key] = path
    return path


def read_table(
    kind: str, location: str, table: str, columns: dict[str, str], con: Any = None, backend: str = "duckdb"
) -> ir.Table:
    """The lazy ibis table `table` of a source, on `con` (default: the shared connection)."""
    if backend == "pyspark":
        con = con or shared_spark()
        if kind == "spark":
            return _typed(con.table(table, database=location), columns)
        if kind == "duckdb":
            return _typed(_spark_view(con, "parquet", _export_for_spark(location, table), table), columns)
        return _typed(_spark_view(con, kind, location, table), columns)
    if kind == "spark":
        raise UserError("une source Spark se lit avec --backend pyspark")
    if kind == "duckdb":
        con = con or shared_duckdb(location)
        with materialize.connection_lock(con):
            return _typed(con.table(table), columns)
    if con is None:
        con = ibis.duckdb.connect()
    if table not in con.list_tables():
        if kind == "parquet":
            con.read_parquet(_parquet_glob(location), table_name=table)
        else:
            con.read_csv(location, table_name=table, all_varchar=True, header=True)
    return _typed(con.table(table), columns)
