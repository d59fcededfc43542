"""`workbench.open()`: the one data-access object of notebooks, dashboards and the CLI.

Connections (read-only shared DuckDB file, in-memory DuckDB over Parquet/CSV,
Spark session) come from `workbench.connections`; application state never goes
in the warehouse: writers (the demo generator, loaders) build elsewhere and
move the file into place.

Every query goes through :meth:`Warehouse.execute`, the seam where row filters,
small-count masking and the audit trail attach (the `UserContext` says who asks).
"""

from __future__ import annotations

import hashlib
import os
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from workbench import materialize, paths
from workbench.access.context import UserContext
from workbench.catalog import Catalog, load_catalog
from workbench.connections import first_line, lost_server, shared_duckdb, shared_postgres, shared_spark, spark_tables
from workbench.errors import UserError
from workbench.semantic import mapping_for
from workbench.semantic.views import VIEWS, Built, conform, spec

BACKENDS = ("duckdb", "pyspark", "postgres")


def _check_spark_tables(catalog: Catalog, con: Any) -> None:
    """What `load_catalog` checks on files, checked against the metastore once Spark is up."""
    (database,) = set(catalog.locations.values())
    present = set(spark_tables(con, database))
    for name, info in catalog.tables.items():
        if info.table not in present:
            raise UserError(
                f"{catalog.path.name} : entrée « {name} », clé « kwargs.table » : "
                f"table « {info.table} » absente de la base Spark « {database} »"
            )
        columns = {c.lower() for c in con.table(info.table, database=database).columns}
        for column in info.columns:
            if column.lower() not in columns:
                raise UserError(
                    f"{catalog.path.name} : entrée « {name} », clé « metadata.columns.{column} » : "
                    f"la table « {info.table} » n'a pas cette colonne"
                )


def _connect(catalog: Catalog, backend: str) -> tuple[Any, bool]:
    """The backend connection for a catalogue, and whether the `Warehouse` owns (closes) it."""
    if (backend == "postgres") != (catalog.source_kind == "postgres"):
        raise UserError(f"{catalog.path.name} : le moteur postgres lit une source PostgreSQL et elle seule "
                        f"(source : {catalog.source_kind}, moteur demandé : {backend})")
    if backend == "postgres":
        (location,) = set(catalog.locations.values())
        return shared_postgres(location), False
    if backend == "pyspark":
        con = shared_spark()
        if catalog.source_kind == "spark":
            _check_spark_tables(catalog, con)
        return con, False
    if catalog.source_kind == "spark":
        raise UserError(f"{catalog.path.name} : source Spark/Hive, ouvrez-la avec backend='pyspark'")
    if catalog.source_kind == "duckdb":
        (location,) = set(catalog.locations.values())
        return shared_duckdb(location), False
    return ibis.duckdb.connect(), True


# ------------------------------------------------------------------ warehouse


class Warehouse:
    """Raw tables, canonical views, snapshot and user of one catalogue on one engine."""

    def __init__(self, catalog: Catalog, backend: str, user: UserContext):
        self.catalog = catalog
        self.catalog_path: Path = catalog.path
        self.flavour: str = catalog.flavour
        self.backend_name = backend
        self.user = user
        self.con, self._owns_con = _connect(catalog, backend)
        self._mapping = mapping_for(catalog.flavour)
        self._tables: dict[str, ir.Table] = {}
        self._built: dict[str, Built] = {}
        self._rows: Any = None  # the perimeter's RowFilter, built on first use

    # access control: views are built from the raw tables unrestricted, then filtered (see workbench.access)
    def _raw_table(self, name: str) -> ir.Table:
        if name not in self.catalog.tables:
            raise UserError(
                f"table « {name} » absente du catalogue {self.catalog_path.name} (tables : {', '.join(self.tables)})"
            )
        if name not in self._tables:
            self._tables[name] = self.catalog.read(name, con=self.con, backend=self.backend_name)
        return self._tables[name]

    def _raw_view(self, name: str) -> ir.Table:
        # registered so that execute() reads the view's table, built once per snapshot (workbench.materialize)
        return materialize.register(self.con, name, conform(name, self._build(name)))

    def _row_filter(self) -> Any:
        """The perimeter's row filter, or None when the user reads every row."""
        from workbench import access
        from workbench.access.perimeter import RowFilter, resolve

        if access.row_access(self.user) != access.PERIMETER_ROWS:
            return None
        if self._rows is None:
            coverage = resolve(_run_query(self.con, self._raw_view("care_sites")), self.user.perimeter)
            self._rows = RowFilter(self._raw_view, coverage)
        return self._rows

    def perimeter_codes(self) -> frozenset[str] | None:
        """The care-site codes (every level) the user's perimeter covers, None when the user reads every row.

        The disclosure policy asks it to decide whether a care-site filter keeps a request inside the rows
        the user may read."""
        rows = self._row_filter()
        return None if rows is None else rows.coverage.codes

    def _is_reference(self, name: str) -> bool:
        from workbench.access.perimeter import PERSON_COLUMN, STAY_COLUMN

        columns = set(self._raw_table(name).columns)
        return not columns & {PERSON_COLUMN, STAY_COLUMN}

    def unrestricted(self) -> "Unrestricted":
        """Every row, for the disclosure policy only: aggregates leave it through the policy, never rows."""
        return Unrestricted(self)

    def __repr__(self) -> str:
        return f"Warehouse({self.catalog_path}, flavour={self.flavour}, backend={self.backend_name})"

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    # raw tables
    @property
    def tables(self) -> list[str]:
        return list(self.catalog.tables)

    def table(self, name: str) -> ir.Table:
        """The raw table `name` (lazy) restricted to the user's perimeter, or a `UserError` (unknown, refused)."""
        from workbench import access

        table = self._raw_table(name)
        access.check_table(self.user, name, self._is_reference(name))
        rows = self._row_filter()
        return rows.table(table) if rows is not None else table

    def readable(self, name: str) -> bool:
        """Whether the user may read the raw table or view `name` (asked without an audit line, for listings
        that mark what is refused instead of failing on it)."""
        from workbench import access

        if name in self.catalog.tables:
            return access.table_refusal(self.user, name, self._is_reference(name)) is None
        return access.view_refusal(self.user, name) is None

    # canonical views
    @property
    def views(self) -> list[str]:
        """The canonical views this catalogue can build (a view needing an absent table is left out)."""
        return [name for name in VIEWS if not self._mapping.missing_tables(name, set(self.tables))]

    def _build(self, name: str) -> Built:
        spec(name)
        missing = self._mapping.missing_tables(name, set(self.tables))
        if missing:
            raise UserError(
                f"vue « {name} » indisponible pour {self.catalog_path.name} : table(s) absente(s) : {', '.join(missing)}"
            )
        if name not in self._built:
            # each mapping module names its builders after the views (`spec` checked the name)
            self._built[name] = getattr(self._mapping, name)(_RawSources(self))
        return self._built[name]

    def view(self, name: str) -> ir.Table:
        """The canonical view `name`, shaped exactly as the contract in `semantic/views.py`, within the perimeter."""
        from workbench import access

        spec(name)
        access.check_view(self.user, name)
        table = self._raw_view(name)
        rows = self._row_filter()
        return rows.view(name, table) if rows is not None else table

    def unavailable(self, view: str) -> set[str]:
        """Columns of `view` whose fact this flavour lacks (null in the view, never zeros)."""
        return set(self._build(view).unavailable)

    def view_reads(self, view: str) -> tuple[str, ...]:
        """The raw tables `view` reads (for lineage)."""
        return self._build(view).reads

    # queries
    def execute(self, expr: ir.Expr) -> pd.DataFrame | Any:
        """Run an ibis expression: the single point every query of the workbench goes through.

        A table expression gives a DataFrame, a column a Series, a scalar a value.
        Each execution is written to the audit log (who, which tables, how many rows, which snapshot).
        """
        result = _run_query(self.con, expr)
        _audit_execute(self.user, expr, result, snapshot=self.snapshot_id)
        return result

    def to_sql(self, expr: ir.Expr, dialect: str | None = None) -> str:
        """The SQL of `expr` for this backend, or for `dialect` ("duckdb", "spark"…)."""
        if dialect in ("spark", "pyspark") or (dialect is None and self.backend_name == "pyspark"):
            import importlib

            importlib.import_module("ibis.backends.pyspark")  # registers the dialect
            dialect = "pyspark"
        if dialect is None and self.backend_name == "postgres":
            dialect = "postgres"
        return materialize.to_sql(self.con, expr, dialect or "duckdb")

    # provenance
    def _metadata_row(self) -> dict[str, Any]:
        if "_metadata" not in self.catalog.tables:
            return {}
        frame = _run_query(self.con, self._raw_table("_metadata").limit(1))
        return {} if frame.empty else frame.iloc[0].to_dict()

    @cached_property
    def snapshot_id(self) -> str:
        """`_metadata.snapshot_id` when the loader stamped one, else a hash of names, columns and row counts."""
        stamped = self._metadata_row().get("snapshot_id")
        if isinstance(stamped, str) and stamped:
            return stamped
        digest = hashlib.sha256()
        for name in sorted(self.tables):
            table = self._raw_table(name)
            rows = int(_run_query(self.con, table.count()))
            digest.update(f"{name}|{','.join(table.columns)}|{rows};".encode())
        return digest.hexdigest()[:16]

    @cached_property
    def extraction_date(self) -> date:
        """The warehouse's "now": `_metadata.extraction_date`, else the last visit date."""
        stamped = self._metadata_row().get("extraction_date")
        if stamped is not None and not pd.isna(stamped):
            return pd.Timestamp(stamped).date()
        if "stays" not in self.views:
            raise UserError(f"{self.catalog_path.name} : ni _metadata ni visites : date d'extraction inconnue")
        stays = self._raw_view("stays")
        last = _run_query(self.con, ibis.greatest(stays.start_date.max(), stays.end_date.max()))
        if last is None or pd.isna(last):
            raise UserError(f"{self.catalog_path.name} : aucune visite datée : date d'extraction inconnue")
        return pd.Timestamp(last).date()

    def close(self) -> None:
        """Release a connection this warehouse owns (shared ones stay open for the process)."""
        if self._owns_con:
            materialize.forget(self.con)
            self.con.disconnect()
            self._owns_con = False


class _RawSources:
    """What the semantic builders read: the warehouse's tables and views before any row filter.

    Views are derived from whole tables (a stay's unit comes from its movements,
    wherever they are) and only their result is restricted to the perimeter.
    """

    def __init__(self, warehouse: Warehouse):
        self._warehouse = warehouse
        self.tables = warehouse.tables

    def table(self, name: str) -> ir.Table:
        return self._warehouse._raw_table(name)

    def view(self, name: str) -> ir.Table:
        return self._warehouse._raw_view(name)


class Unrestricted:
    """The warehouse seen by the disclosure policy: every row, queries audited under the real user.

    The indicator engine computes on it for users without patient-level rights
    and passes what it returns through `workbench.access.disclosure`; nothing
    else in the workbench hands it out.
    """

    def __init__(self, warehouse: Warehouse):
        self._warehouse = warehouse
        self.user = UserContext()  # no row filter, no nested policy: the policy is applied by the caller
        for name in ("catalog", "catalog_path", "flavour", "backend_name", "con"):
            setattr(self, name, getattr(warehouse, name))

    @property
    def tables(self) -> list[str]:
        return self._warehouse.tables

    @property
    def views(self) -> list[str]:
        return self._warehouse.views

    def table(self, name: str) -> ir.Table:
        return self._warehouse._raw_table(name)

    def view(self, name: str) -> ir.Table:
        return self._warehouse._raw_view(name)

    def unavailable(self, view: str) -> set[str]:
        return self._warehouse.unavailable(view)

    def view_reads(self, view: str) -> tuple[str, ...]:
        return self._warehouse.view_reads(view)

    def execute(self, expr: ir.Expr) -> Any:
        result = _run_query(self.con, expr)
        _audit_execute(self._warehouse.user, expr, result, through="politique de diffusion",
                       snapshot=self._warehouse.snapshot_id)
        return result

    def to_sql(self, expr: ir.Expr, dialect: str | None = None) -> str:
        return self._warehouse.to_sql(expr, dialect)

    @property
    def snapshot_id(self) -> str:
        return self._warehouse.snapshot_id

    @property
    def extraction_date(self) -> date:
        return self._warehouse.extraction_date


def _run_query(con: Any, expr: ir.Expr) -> Any:
    """One query at a time per connection: threaded server sessions (Panel's `nthreads`) and
    notebook threads share it, and a DuckDB connection driven from two threads at once fails
    ("pending query result")."""
    import duckdb

    with materialize.connection_lock(con):
        try:
            return con.execute(materialize.swap(con, expr))
        except duckdb.IOException as error:  # a file damaged past its catalogue (truncated data blocks)
            raise UserError(f"fichier de l'entrepôt illisible en cours de lecture (tronqué ou corrompu ?) — "
                            f"{first_line(error)}") from None
        except Exception as error:
            lost = lost_server(con, error)
            if lost is None:
                raise
            raise lost from None


def _tables_read(expr: ir.Expr) -> list[str]:
    """Names of the physical tables an expression reads (for the audit log)."""
    import ibis.expr.operations as ops

    return sorted({node.name for node in expr.op().find(ops.DatabaseTable)})


def _audit_execute(user: UserContext, expr: ir.Expr, result: Any, **fields: Any) -> None:
    from workbench import audit

    rows = len(result) if isinstance(result, (pd.DataFrame, pd.Series)) else 1
    audit.write("execute", user, tables=_tables_read(expr), rows=rows, **fields)


def open(  # noqa: A001 - the public name the notebooks use: workbench.open()
    catalog: str | Path | None = None,
    backend: str | None = None,
    user: UserContext | None = None,
) -> Warehouse:
    """Open the warehouse described by `catalog` (default: `paths.catalog_path()`).

    `backend` is "duckdb", "pyspark" or "postgres" (default: `$WORKBENCH_BACKEND`, else the
    catalogue's own default: pyspark for a Spark database, postgres for a PostgreSQL one, duckdb otherwise).
    `user` (from `workbench.access.authenticate`) restricts every view and raw
    table to its perimeter; the default is the local administrator.
    """
    loaded = load_catalog(paths.catalog_path(Path(catalog) if catalog is not None else None))
    chosen = backend or os.environ.get("WORKBENCH_BACKEND") or loaded.default_backend
    if chosen == "spark":
        chosen = "pyspark"
    if chosen not in BACKENDS:
        raise UserError(f"moteur « {chosen} » inconnu (attendu : {', '.join(BACKENDS)})")
    return Warehouse(loaded, chosen, user or UserContext())
