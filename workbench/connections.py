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
from typing import Any, Callable

import ibis
import ibis.expr.types as ir

from workbench import materialize
from workbench.errors import UserError
from workbench.schema import cdm

_LOCK = threading.RLock()
_DUCKDB_FILES: dict[tuple[str, int, int], Any] = {}
_SPARK_EXPORTS: dict[tuple[str, int, int, str], str] = {}
_SPARK_VIEWS: dict[tuple[int, str], str] = {}
_SPARK_CONNECTIONS: dict[int, Any] = {}
_ZIP_MEMBERS: dict[tuple[str, int, int, str], str] = {}


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


def local_spark_session() -> Any:
    """The active SparkSession, or a small local one (two cores, UTC, no web UI, no console progress bars)."""
    from pyspark.sql import SparkSession  # optional heavy dependency: imported only when Spark is used

    return SparkSession.getActiveSession() or (
        SparkSession.builder.master("local[2]")
        .appName("workbench")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .getOrCreate()
    )


def shared_spark() -> Any:
    """The process's ibis PySpark connection over the active SparkSession (or a small local one)."""
    session = local_spark_session()
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
    return con.read_csv(local_file(location), table_name=table_name, header=True)


# ------------------------------------------------------------------ zip archives of CSV files

ZIP_SCHEME = "zip://"


def zip_location(member: str, archive: str) -> str:
    """fsspec's chained URL of a member of a zip archive: ``zip://PERSON.csv::/data/export.zip``."""
    return f"{ZIP_SCHEME}{member}::{archive}"


def split_zip(location: str) -> tuple[str, str] | None:
    """(member, archive) of a `zip_location`, None for a plain path."""
    if not location.startswith(ZIP_SCHEME):
        return None
    member, _, archive = location[len(ZIP_SCHEME) :].partition("::")
    return member, archive


def zip_csv_members(archive: str | Path) -> dict[str, str]:
    """Table name (lower case) → member, for the CSV files of a zip (macOS ``__MACOSX/`` and hidden files left out)."""
    import zipfile

    try:
        with zipfile.ZipFile(archive) as opened:
            names = opened.namelist()
    except (zipfile.BadZipFile, OSError) as error:
        raise UserError(f"archive {archive} illisible : {first_line(error)}") from None
    found: dict[str, str] = {}
    for name in sorted(names):
        path = Path(name)
        if "__MACOSX" in path.parts or path.name.startswith(".") or path.suffix.lower() != ".csv":
            continue
        found.setdefault(path.stem.lower(), name)
    return found


def local_file(location: str) -> str:
    """A path DuckDB can read: the location itself, or a zip member extracted once per process to a
    private temporary folder (DuckDB cannot read inside a zip; the archive stays the source of truth)."""
    parts = split_zip(location)
    if parts is None:
        return location
    member, archive = parts

    def extract(folder: Path) -> str:
        import zipfile

        try:
            with zipfile.ZipFile(archive) as opened:
                return opened.extract(member, folder)
        except (zipfile.BadZipFile, KeyError, OSError) as error:
            raise UserError(f"archive {archive} : fichier « {member} » illisible ({first_line(error)})") from None

    return _process_copy(_ZIP_MEMBERS, (*_identity(archive), member), "workbench-zip-", extract)


def _process_copy(cache: dict, key: tuple, prefix: str, make: Callable[[Path], str]) -> str:
    """The file `make` writes into a private temporary folder, once per process and `key` (the folder is
    removed at exit): a zip member DuckDB can read, a DuckDB table Spark can read."""
    with _LOCK:
        path = cache.get(key)
        if path is None:
            folder = Path(tempfile.mkdtemp(prefix=prefix))
            atexit.register(shutil.rmtree, folder, True)
            path = cache[key] = make(folder)
    return path


def _typed(table: ir.Table, columns: dict[str, str]) -> ir.Table:
    """Lower-case column names (OMOP exports use any case) and cast to the catalogue's types; a value that
    cannot be cast is null, never a failed query (`workbench.schema.cdm.cast_to` lists those values)."""
    return cdm.cast_to(table, columns)[0]


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

    def export(folder: Path) -> str:
        path = str(folder / f"{table}.parquet")
        shared_duckdb(location).table(table).to_parquet(path)
        return path

    return _process_copy(_SPARK_EXPORTS, (*_identity(location), table), "workbench-spark-", export)


def read_table(
    kind: str, location: str, table: str, columns: dict[str, str], con: Any = None, backend: str = "duckdb"
) -> ir.Table:
    """The lazy ibis table `table` of a source, on `con` (default: the shared connection)."""
    if kind == "postgres":
        con = con or shared_postgres(location)
        with materialize.connection_lock(con):
            return _typed(postgres_table(con, location, table), columns)
    if backend == "pyspark":
        con = con or shared_spark()
        if kind == "spark":
            return _typed(con.table(table, database=location), columns)
        if kind == "duckdb":
            return _typed(_spark_view(con, "parquet", _export_for_spark(location, table), table), columns)
        return _typed(_spark_view(con, kind, local_file(location), table), columns)
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
            # parsed once into a temporary table: a view would parse the file again at every query
            con.create_table(table, con.read_csv(local_file(location), all_varchar=True, header=True), temp=True)
    return _typed(con.table(table), columns)


# ------------------------------------------------------------------ PostgreSQL

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
_POSTGRES: dict[str, Any] = {}
_CONNECT_TIMEOUT_S = 10


def is_postgres_url(text: str) -> bool:
    """Whether a `--source` (or a catalogue's location) names a PostgreSQL database."""
    return text.startswith(POSTGRES_SCHEMES)


def parse_postgres_url(text: str, where: str | None = None) -> dict[str, Any]:
    """host, port, user, database, schema and password_file of ``postgresql://user@host:port/db?schema=cdm``.

    A password in the URL is refused: the URL is written to `catalog.yaml`,
    which people without the database's rights read. libpq finds the password
    in ``$PGPASSWORD`` or ``~/.pgpass``; ``?password_file=PATH`` names a file
    holding only the password (readable by its owner only), for services.
    """
    from urllib.parse import parse_qs, unquote, urlsplit

    where = where or f"--source {text}"
    try:
        parts = urlsplit(text)
        port = parts.port or 5432
    except ValueError as error:
        raise UserError(f"{where} : URL PostgreSQL invalide ({error})") from None
    if parts.password is not None:
        raise UserError(f"{where} : le mot de passe ne doit pas figurer dans l'URL (elle est écrite dans "
                        f"catalog.yaml) : utilisez $PGPASSWORD, ~/.pgpass ou ?password_file=CHEMIN")
    database = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not database or "/" in database:
        raise UserError(f"{where} : URL PostgreSQL invalide "
                        f"(attendu : postgresql://UTILISATEUR@HÔTE:PORT/BASE?schema=SCHÉMA)")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"schema", "password_file"})
    if unknown:
        raise UserError(f"{where} : paramètre(s) inconnu(s) {', '.join(unknown)} (attendu : schema, password_file)")
    return {
        "host": parts.hostname,
        "port": port,
        "user": unquote(parts.username) if parts.username else None,
        "database": database,
        "schema": (query.get("schema") or ["public"])[0] or "public",
        "password_file": (query.get("password_file") or [None])[0] or None,
    }


def postgres_url(params: dict[str, Any]) -> str:
    """The canonical URL of `parse_postgres_url`'s parameters (no password: it is what the catalogue keeps)."""
    from urllib.parse import quote, urlencode

    user = f"{quote(params['user'], safe='')}@" if params.get("user") else ""
    host = f"[{params['host']}]" if ":" in params["host"] else params["host"]
    query = {"schema": params["schema"]}
    if params.get("password_file"):
        query["password_file"] = params["password_file"]
    return f"postgresql://{user}{host}:{params['port']}/{quote(params['database'], safe='')}?{urlencode(query)}"


def postgres_password(params: dict[str, Any]) -> str | None:
    """The password read from the catalogue's `password_file`, or None (libpq then reads $PGPASSWORD, ~/.pgpass)."""
    name = params.get("password_file")
    if not name:
        return None
    path = Path(name).expanduser()
    if not path.is_file():
        raise UserError(f"password_file {path} : fichier introuvable (serveur PostgreSQL {params['host']})")
    if path.stat().st_mode & 0o077:
        raise UserError(f"password_file {path} : lisible par d'autres que son propriétaire (chmod 600 {path})")
    return path.read_text(encoding="utf-8").strip()


_DAY = r"\d{4}-(0?[1-9]|1[0-2])-(0?[1-9]|[12]\d|3[01])"
_TEXT_PATTERNS = {
    "integer": r"^\s*[-+]?\d{1,18}\s*$",
    "floating": r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$",
    "date": rf"^\s*{_DAY}\s*$",
    "timestamp": rf"^\s*{_DAY}([ T]([01]?\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?)?\s*$",
}


def _text_pattern(to: Any) -> str | None:
    """The shape of text PostgreSQL can cast to `to` (integer, float, date, timestamp), else None."""
    for kind in _TEXT_PATTERNS:
        if getattr(to, f"is_{kind}")():
            return _TEXT_PATTERNS[kind]
    return None


def _postgres_compiler_fixes() -> None:
    """Three gaps of ibis 12's PostgreSQL compiler, filled once on its class (so the SQL shown to users,
    ``ibis.to_sql(..., dialect="postgres")``, runs too):

    - ``boolean.cast("int64")`` (how views, checks and indicators count flags)
      compiles to ``CAST(x AS BIGINT)``, which PostgreSQL refuses: it only
      casts boolean to integer, so the cast goes through ``INT``;
    - ``try_cast`` is a plain ``CAST`` there, which stops the query at the
      first unreadable value: text is cast only when it has the shape of an
      integer, a number, a date or a timestamp (`_TEXT_PATTERNS`), else null —
      the CDM typing's promise (`workbench.schema.cdm`). A well-shaped
      impossible date (30 February) still fails the query: PostgreSQL 15 has
      no ``pg_input_is_valid``;
    - ``first()`` (behind ``distinct(on=..., keep="first")``) compiles to a
      ``first`` aggregate PostgreSQL does not have (ibis's own test database
      creates it): it becomes ``(array_agg(x ORDER BY …) FILTER (WHERE x IS
      NOT NULL))[1]``, the same value.
    """
    from ibis.backends.sql.compilers.postgres import PostgresCompiler
    import ibis.expr.datatypes as dt
    import sqlglot.expressions as sge

    original_cast, original_first = PostgresCompiler.visit_Cast, PostgresCompiler.visit_First
    if getattr(original_cast, "workbench_fix", False):
        return

    def visit_Cast(self: Any, op: Any, *, arg: Any, to: Any) -> Any:
        if op.arg.dtype.is_boolean() and to.is_integer() and not to.is_int32():
            arg = self.cast(arg, dt.int32)
        return original_cast(self, op, arg=arg, to=to)

    def visit_First(self: Any, op: Any, *, arg: Any, where: Any, order_by: Any, include_null: bool) -> Any:
        if include_null:
            return original_first(self, op, arg=arg, where=where, order_by=order_by, include_null=include_null)
        present = sge.Not(this=sge.Is(this=arg, expression=sge.Null()))
        where = present if where is None else sge.And(this=present, expression=where)
        values = self.agg.array_agg(arg, where=where, order_by=order_by)
        return sge.Bracket(this=sge.paren(values, copy=False), expressions=[sge.convert(1)], offset=1)

    def visit_TryCast(self: Any, op: Any, *, arg: Any, to: Any) -> Any:
        pattern = _text_pattern(to) if op.arg.dtype.is_string() else None
        if pattern is None:
            return visit_Cast(self, op, arg=arg, to=to)
        readable = sge.RegexpLike(this=arg, expression=sge.convert(pattern))
        return self.if_(readable, self.cast(arg, to), sge.Null())

    visit_Cast.workbench_fix = True  # type: ignore[attr-defined]
    PostgresCompiler.visit_Cast = visit_Cast
    PostgresCompiler.visit_TryCast = visit_TryCast
    PostgresCompiler.visit_First = visit_First


def connect_postgres(location: str) -> Any:
    """A new ibis connection to the database and schema of `location`; a bad URL, an unreachable
    server, a refused login, an unknown database or schema is one `UserError` naming the host."""
    import psycopg

    params = parse_postgres_url(location)
    server = f"{params['host']}:{params['port']}"
    _postgres_compiler_fixes()
    try:
        con = ibis.postgres.connect(
            host=params["host"], port=params["port"], user=params["user"], database=params["database"],
            password=postgres_password(params), schema=params["schema"],
            connect_timeout=_CONNECT_TIMEOUT_S, application_name="workbench",
        )
    except psycopg.Error as error:
        raise UserError(f"serveur PostgreSQL {server} (base « {params['database']} ») injoignable ou connexion "
                        f"refusée — {first_line(error)}") from None
    if params["schema"] not in con.list_databases():
        con.disconnect()
        raise UserError(f"serveur PostgreSQL {server} : schéma « {params['schema']} » absent de la base "
                        f"« {params['database']} »")
    return con


def shared_postgres(location: str) -> Any:
    """The process's connection to a PostgreSQL source (reopened when the server closed it).

    One per process, like a DuckDB file's: the canonical views are materialised
    as temporary tables of its session (see `workbench.materialize`).
    """
    with _LOCK:
        con = _POSTGRES.get(location)
        if con is None or con.con.closed or con.con.broken:
            if con is not None:
                materialize.forget(con)
            con = _POSTGRES[location] = connect_postgres(location)
        return con


def lost_server(con: Any, error: Exception) -> UserError | None:
    """The `UserError` naming the host when a query on a PostgreSQL connection failed because the
    server went away (restarted, network cut, session killed); None for any other failure. The next
    `shared_postgres` call reconnects."""
    if type(error).__module__.split(".")[0] != "psycopg" or not (con.con.closed or con.con.broken):
        return None
    with _LOCK:
        location = next((key for key, opened in _POSTGRES.items() if opened is con), None)
    if location is None:
        return None
    params = parse_postgres_url(location)
    return UserError(f"serveur PostgreSQL {params['host']}:{params['port']} : connexion perdue pendant la requête "
                     f"(serveur arrêté ou session interrompue ?) — {first_line(error)}")


def close_postgres() -> None:
    """Close the process's PostgreSQL connections, their views' temporary tables dropped first (a server
    stopped before the process exits would otherwise leave ibis failing to drop them at exit)."""
    with _LOCK:
        opened = list(_POSTGRES.values())
        _POSTGRES.clear()
    for con in opened:
        if not con.con.closed:
            materialize.release(con)
            con.disconnect()


def postgres_tables(con: Any, location: str) -> list[str]:
    """Tables and views of the source's schema."""
    return sorted(con.list_tables(database=parse_postgres_url(location)["schema"]))


def postgres_table(con: Any, location: str, table: str) -> ir.Table:
    """The raw table `table` of the source's schema."""
    return con.table(table, database=parse_postgres_url(location)["schema"])
